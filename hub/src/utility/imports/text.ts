/**
 * Reading an uploaded CSV file as text, fast and in bounded memory: its bytes decoded as the
 * service-data imports decode theirs (the Content-Type's charset, else UTF-8 or Excel's
 * Windows-1252), its lines handed over in batches of positions (no copy per line), a line's
 * fields split where they are (quotes as RFC 4180 has them, within one line), and the numbers
 * and header names utilities write.
 */
import { decodeUploadText } from '../../http/upload-text.js';
import { UtilityImportError } from './errors.js';

/** How an import reads its upload. */
export interface ImportOptions {
  /** The city's time zone (IANA, such as `Europe/Paris`): utilities write local days and times. */
  timezone: string;
  /** The upload's Content-Type, for its charset; without one, UTF-8 or Windows-1252 is recognised from the bytes. */
  contentType?: string;
  /** Most bytes read before the import fails with IMPORT_FILE_TOO_LARGE; default: no limit (memory stays bounded whatever the size). */
  maxBytes?: number;
}

/**
 * The text of an upload, decoded as it arrives (http/upload-text.ts, as the service-data imports read theirs).
 * @throws UtilityImportError IMPORT_FILE_TOO_LARGE past `maxBytes`, IMPORT_FILE_REFUSED for a file
 *   that starts as UTF-8 and is not UTF-8 further on
 */
export function decodeUpload(bytes: AsyncIterable<Uint8Array | string>, options: ImportOptions): AsyncGenerator<string> {
  return decodeUploadText(bytes, {
    contentType: options.contentType,
    maxBytes: options.maxBytes,
    tooLarge: (max) => new UtilityImportError('IMPORT_FILE_TOO_LARGE', `the file is larger than ${thousands(max)} bytes, the most this hub takes: split it`),
    notUtf8: (near, cause) =>
      new UtilityImportError(
        'IMPORT_FILE_REFUSED',
        `the file is not UTF-8 throughout (its start is, its bytes near ${near} are not): save it in UTF-8 or in Windows-1252 throughout`,
        { cause },
      ),
  });
}

/** Longest line read, in characters; a longer one is reported as a row error and its text dropped as it is read. */
export const MAX_LINE_CHARS = 64 * 1024;
/** Lines in one batch, at most: a whole file given as one string is still handed over in pieces. */
const BATCH_LINES = 8192;

/**
 * Lines of text, by their positions in `text`: line `firstLine + i` is `text.slice(starts[i],
 * ends[i])`, without its line break; `ends[i]` is −1 for a line longer than MAX_LINE_CHARS.
 */
export interface LineBatch {
  text: string;
  starts: number[];
  ends: number[];
  firstLine: number;
}

/**
 * The lines of a text given in pieces, in batches. Line breaks are LF, CRLF or a lone CR (Excel
 * for Mac); a byte-order mark at the start is dropped; line numbers count from 1. Memory: a
 * batch and one partial line, at most MAX_LINE_CHARS, whatever the text.
 */
export async function* readLines(texts: AsyncIterable<string>, maxLineChars = MAX_LINE_CHARS): AsyncGenerator<LineBatch> {
  // The start of the current line, in pieces: joined once its end arrives, so that text arriving
  // in tiny pieces costs its length, not its length squared.
  let carry: string[] = [];
  let carried = 0;
  let dropping = false; // the current line is too long: its text is not kept
  let skipLF = false; // the previous piece ended with CR: an LF starting this one ends nothing
  let line = 1;
  let first = true;
  for await (let piece of texts) {
    if (first && piece.length) {
      first = false;
      if (piece.charCodeAt(0) === 0xfeff) piece = piece.slice(1);
    }
    if (skipLF && piece.length) {
      skipLF = false;
      if (piece.charCodeAt(0) === 10) piece = piece.slice(1);
    }
    if (!piece.length) continue;
    if (piece.indexOf('\n') === -1 && piece.indexOf('\r') === -1) {
      if (dropping) continue;
      carry.push(piece);
      carried += piece.length;
      if (carried > maxLineChars) {
        dropping = true;
        carry = [];
        carried = 0;
      }
      continue;
    }
    let text = carried ? carry.join('') + piece : piece;
    carry = [];
    carried = 0;
    let pos = 0;
    let starts: number[] = [];
    let ends: number[] = [];
    let firstLine = line;
    let nl = -2;
    let cr = -2;
    for (;;) {
      if (nl !== -1 && nl < pos) nl = text.indexOf('\n', pos);
      if (cr !== -1 && cr < pos) cr = text.indexOf('\r', pos);
      const end = nl === -1 ? cr : cr === -1 ? nl : nl < cr ? nl : cr;
      if (end === -1) {
        if (dropping || text.length - pos > maxLineChars) dropping = true;
        else if (pos < text.length) {
          carry.push(text.slice(pos));
          carried = text.length - pos;
        }
        break;
      }
      let next = end + 1;
      if (end === cr) {
        if (next < text.length) {
          if (text.charCodeAt(next) === 10) next++;
        } else skipLF = true;
      }
      starts.push(pos);
      ends.push(dropping || end - pos > maxLineChars ? -1 : end);
      dropping = false;
      line++;
      pos = next;
      if (starts.length >= BATCH_LINES) {
        yield { text, starts, ends, firstLine };
        starts = [];
        ends = [];
        firstLine = line;
      }
    }
    if (starts.length) yield { text, starts, ends, firstLine };
    text = '';
  }
  if (dropping) yield { text: '', starts: [0], ends: [-1], firstLine: line };
  else if (carried) {
    const text = carry.join('');
    yield { text, starts: [0], ends: [text.length], firstLine: line };
  }
}

/** Most fields a line may have. */
export const MAX_FIELDS = 512;

/**
 * Splits one line into fields where they are: `starts[i]`/`ends[i]` bound field `i` in the text,
 * spaces around it left out. A field in double quotes may hold the delimiter and `""` for a
 * quote; it cannot run over several lines.
 */
export class FieldSplitter {
  readonly starts = new Int32Array(MAX_FIELDS);
  readonly ends = new Int32Array(MAX_FIELDS);
  /** 1 for a quoted field whose text holds `""` to unescape. */
  private readonly escaped = new Uint8Array(MAX_FIELDS);
  count = 0;
  private text = '';
  private readonly delimiterText: string;
  // The next delimiter at or after `scanFrom` in `scanText` (−1: none): the lines of a batch are
  // split in order, so each character is searched once whatever the lines' lengths.
  private scanText = '';
  private scanFrom = 0;
  private nextDelimiter = -1;

  constructor(readonly delimiter: number) {
    this.delimiterText = String.fromCharCode(delimiter);
  }

  /** The first delimiter at or after `pos` in `text`, −1 when there is none. */
  private delimiterAt(text: string, pos: number): number {
    if (text !== this.scanText || pos < this.scanFrom) {
      this.scanText = text;
      this.scanFrom = pos;
      this.nextDelimiter = text.indexOf(this.delimiterText, pos);
    } else if (this.nextDelimiter !== -1 && this.nextDelimiter < pos) {
      this.scanFrom = pos;
      this.nextDelimiter = text.indexOf(this.delimiterText, pos);
    }
    return this.nextDelimiter;
  }

  /**
   * Splits `text[start, end)`, up to `wanted` fields (the rest of the line is not read); a problem
   * (quote left open, too many fields) as a sentence, else undefined.
   */
  split(text: string, start: number, end: number, wanted = MAX_FIELDS): string | undefined {
    this.text = text;
    const d = this.delimiter;
    const starts = this.starts;
    const ends = this.ends;
    let count = 0;
    let pos = start;
    for (;;) {
      if (count >= wanted) break;
      if (count >= MAX_FIELDS) return `more than ${MAX_FIELDS} fields`;
      while (pos < end && text.charCodeAt(pos) === 32) pos++;
      this.escaped[count] = 0;
      if (pos < end && text.charCodeAt(pos) === 34) {
        const fieldStart = ++pos;
        let fieldEnd: number;
        for (;;) {
          const q = text.indexOf('"', pos);
          if (q === -1 || q >= end) return 'a quote opened in this line is not closed in it';
          if (q + 1 < end && text.charCodeAt(q + 1) === 34) {
            this.escaped[count] = 1;
            pos = q + 2;
            continue;
          }
          fieldEnd = q;
          pos = q + 1;
          break;
        }
        while (pos < end && text.charCodeAt(pos) === 32) pos++;
        if (pos < end && text.charCodeAt(pos) !== d) return 'text after a closing quote, before the next delimiter';
        starts[count] = fieldStart;
        ends[count] = fieldEnd;
      } else {
        const fieldStart = pos;
        const next = this.delimiterAt(text, pos);
        pos = next === -1 || next > end ? end : next;
        let fieldEnd = pos;
        while (fieldEnd > fieldStart && text.charCodeAt(fieldEnd - 1) === 32) fieldEnd--;
        starts[count] = fieldStart;
        ends[count] = fieldEnd;
      }
      count++;
      if (pos >= end) break;
      pos++; // the delimiter
      if (pos === end && count < wanted) {
        // a delimiter ending the line: one more, empty field
        starts[count] = end;
        ends[count] = end;
        this.escaped[count] = 0;
        count++;
        break;
      }
    }
    this.count = count;
    return undefined;
  }

  /** Field `i`'s text ('' past the last field). */
  field(i: number): string {
    if (i >= this.count) return '';
    const text = this.text.slice(this.starts[i]!, this.ends[i]!);
    return this.escaped[i] ? text.replaceAll('""', '"') : text;
  }

  /** Whether field `i` is exactly `value`. */
  is(i: number, value: string): boolean {
    return i < this.count && this.ends[i]! - this.starts[i]! === value.length && !this.escaped[i] && this.text.startsWith(value, this.starts[i]!);
  }

  /** Whether field `i` is missing or empty. */
  empty(i: number): boolean {
    return i >= this.count || this.starts[i] === this.ends[i];
  }
}

/**
 * The delimiter a header line uses: the most frequent of `;`, `,` and tab outside quotes (`;` on
 * a tie, as French spreadsheets write it); `;` when there is none.
 */
export function detectDelimiter(line: string): number {
  let semicolons = 0;
  let commas = 0;
  let tabs = 0;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 34) quoted = !quoted;
    else if (quoted) continue;
    else if (c === 59) semicolons++;
    else if (c === 44) commas++;
    else if (c === 9) tabs++;
  }
  if (tabs > semicolons && tabs > commas) return 9;
  return commas > semicolons ? 44 : 59;
}

/** A header name as compared: lower case, without accents, units in parentheses, punctuation or extra spaces (`Unité (W)` → `unite`). */
export function headerKey(name: string): string {
  return name
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/\([^)]*\)/g, ' ')
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}

/**
 * A decimal number as spreadsheets write it: `12.5` or `12,5`, an optional sign, spaces between
 * thousands (`1 234,5`); NaN otherwise.
 */
export function parseDecimal(text: string): number {
  if (!text.length || text.length > 40) return NaN;
  const compact = /[ \u00a0\u202f]/.test(text) ? text.replace(/(?<=\d)[ \u00a0\u202f](?=\d{3}(?:\D|$))/g, '') : text;
  if (!/^[+-]?(?:\d+(?:[.,]\d+)?|[.,]\d+)$/.test(compact)) return NaN;
  return Number(compact.replace(',', '.'));
}

/** A whole number written with digits only (an optional sign) in `text[start, end)`, NaN otherwise; at most 15 digits. */
export function parseWhole(text: string, start: number, end: number): number {
  let pos = start;
  let negative = false;
  const first = text.charCodeAt(pos);
  if (first === 45 || first === 43) {
    negative = first === 45;
    pos++;
  }
  if (pos >= end || end - pos > 15) return NaN;
  let value = 0;
  for (; pos < end; pos++) {
    const digit = text.charCodeAt(pos) - 48;
    if (digit < 0 || digit > 9) return NaN;
    value = value * 10 + digit;
  }
  return negative ? -value : value;
}

/** `n` for a message, its thousands marked: `100,000,000`. */
export function thousands(n: number): string {
  return n.toLocaleString('en-US');
}
