/**
 * The opening of an uploaded CSV file, shared by the service data's imports (csv.ts) and the cost
 * of services' (costs/csv.ts): its delimiter detected on its header line, its header (the first
 * record that is not blank) and the records after it, read as they are asked for so that memory
 * stays flat in the size of the file. What the columns mean is the caller's.
 */
import { Readable, pipeline } from 'node:stream';
import { CsvError, parse } from 'csv-parse';

/** Text read before the header line is complete, at most: a header longer than this is cut there for the delimiter's detection. */
const HEADER_SNIFF_CHARS = 64 * 1024;

export type CsvDelimiter = ';' | ',' | '\t';

/** A CSV file opened up to its header. */
export interface CsvRecords {
  delimiter: CsvDelimiter;
  header: string[];
  /** The records after the header, with their index (0 for the file's first record, the header's included). */
  records: AsyncGenerator<{ record: string[]; index: number }>;
  /** Stops reading the file (a header the caller refuses). */
  close(): void;
}

/**
 * Opens `text` as CSV (a BOM dropped, `delimiter` or the one its header line uses).
 * @param refuse the caller's error for a file that cannot be used: empty, or not readable as CSV
 *   (thrown here, or by `records` further on)
 */
export async function openCsvRecords(text: AsyncIterable<string>, refuse: (message: string) => Error, delimiter?: CsvDelimiter): Promise<CsvRecords> {
  const chunks = text[Symbol.asyncIterator]();
  // Enough of the file to see its header line, for its delimiter.
  let start = '';
  let ended = false;
  while (!/[\r\n]/.test(start) && start.length < HEADER_SNIFF_CHARS) {
    const next = await chunks.next();
    if (next.done) {
      ended = true;
      break;
    }
    start += next.value;
  }
  start = start.replace(/^\uFEFF/, '');
  const used = delimiter ?? detectDelimiter(start);
  const parser = parse({ delimiter: used, trim: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: false });
  const source = Readable.from(
    (async function* () {
      if (start) yield start;
      if (ended) return;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
    })(),
    { objectMode: false },
  );
  pipeline(source, parser, () => undefined); // an error of either side reaches the records' reader
  const records = readRecords(parser[Symbol.asyncIterator]() as AsyncIterator<string[]>, refuse);
  for (let next = await records.next(); !next.done; next = await records.next()) {
    if (!next.value.record.every((field) => field === '')) return { delimiter: used, header: next.value.record, records, close: () => parser.destroy() };
  }
  throw refuse('the file is empty');
}

/** The records of a csv-parse stream with their index (0 for the file's first), its errors as the caller's. */
async function* readRecords(records: AsyncIterator<string[]>, refuse: (message: string) => Error): AsyncGenerator<{ record: string[]; index: number }> {
  let index = 0;
  for (;;) {
    let next: IteratorResult<string[]>;
    try {
      next = await records.next();
    } catch (error) {
      if (error instanceof CsvError) throw refuse(`the file cannot be read as CSV: ${error.message}`);
      throw error;
    }
    if (next.done) return;
    yield { record: next.value, index: index++ };
  }
}

/**
 * The separator the header line uses: the most frequent of `;`, `,` and tab outside quotes
 * (`;` on a tie, as French spreadsheets write it); `,` when there is none (one column).
 */
export function detectDelimiter(text: string): CsvDelimiter {
  const counts = { ';': 0, ',': 0, '\t': 0 };
  let quoted = false;
  for (const c of text) {
    if (c === '"') quoted = !quoted;
    else if (!quoted && (c === '\n' || c === '\r')) break;
    else if (!quoted && c in counts) counts[c as keyof typeof counts]++;
  }
  const best = (['\t', ',', ';'] as const).reduce((a, b) => (counts[b] >= counts[a] ? b : a));
  return counts[best] === 0 ? ',' : best;
}
