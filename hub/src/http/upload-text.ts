import { isAscii } from 'node:buffer';

/** What an upload's reader says when it must stop, in its caller's own errors. */
export interface UploadTextOptions {
  /** The upload's Content-Type, for its charset; without one (or UTF-8, which is checked), recognised from the bytes. */
  contentType?: string;
  /** Most bytes read; past it `tooLarge` is thrown. Default: no limit (the text is handed over as it comes). */
  maxBytes?: number;
  tooLarge: (maxBytes: number) => Error;
  /** A file that starts as UTF-8 and is not further on; `near` is how many bytes had come. */
  notUtf8: (near: number, cause: unknown) => Error;
}

/**
 * The text of an upload (a CSV file), decoded as it arrives, never whole in memory: in the
 * charset its Content-Type names, else UTF-8 when its first non-ASCII bytes are UTF-8, else
 * Windows-1252 (what Excel saves in France). The service-data and the utility imports read
 * their files through it. A file ASCII throughout (a load curve) is checked a piece at a time
 * natively (`isAscii`), not byte by byte.
 */
export async function* decodeUploadText(bytes: AsyncIterable<Uint8Array | string>, options: UploadTextOptions): AsyncGenerator<string> {
  const maxBytes = options.maxBytes ?? Infinity;
  let decoder = charsetDecoder(options.contentType);
  let held: Uint8Array = new Uint8Array(0);
  let total = 0;
  const decode = (chunk: Uint8Array, stream: boolean) => {
    try {
      return decoder!.decode(chunk, { stream });
    } catch (error) {
      throw options.notUtf8(total, error);
    }
  };
  for await (const piece of bytes) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
    total += chunk.length;
    if (total > maxBytes) throw options.tooLarge(maxBytes);
    if (decoder) {
      yield decode(chunk, true);
      continue;
    }
    // ASCII reads the same in both encodings: the first non-ASCII bytes decide.
    const all = held.length ? Buffer.concat([held, chunk]) : chunk;
    if (isAscii(all)) {
      held = new Uint8Array(0);
      yield Buffer.from(all.buffer, all.byteOffset, all.byteLength).toString('latin1');
      continue;
    }
    let first = 0;
    while (all[first]! < 0x80) first++;
    if (all.length - first < 4) {
      held = all.slice(first);
      if (first > 0) yield Buffer.from(all.buffer, all.byteOffset, first).toString('latin1');
      continue;
    }
    held = new Uint8Array(0);
    decoder = looksUtf8(all.subarray(first, first + 4)) ? new TextDecoder('utf-8', { fatal: true }) : new TextDecoder('windows-1252');
    yield decode(all, true);
  }
  if (!decoder && held.length) decoder = looksUtf8(held) ? new TextDecoder('utf-8', { fatal: true }) : new TextDecoder('windows-1252');
  if (decoder) yield decode(held, false);
}

interface Decoder {
  decode(input: Uint8Array, options?: { stream?: boolean }): string;
}

/** Whether bytes that start with a non-ASCII one start with a UTF-8 character (4 bytes or all there are). */
function looksUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * The decoder of the charset a Content-Type names, unless it is UTF-8 (then recognised from the
 * bytes, as spreadsheets label Windows-1252 files UTF-8 too) or unknown to the runtime.
 */
function charsetDecoder(contentType: string | undefined): Decoder | undefined {
  const charset = /charset=("?)([^";]+)\1/i
    .exec(contentType ?? '')?.[2]
    ?.trim()
    .toLowerCase();
  if (!charset || charset === 'utf-8' || charset === 'utf8') return undefined;
  try {
    return new TextDecoder(charset);
  } catch {
    return undefined; // an unknown charset: read the bytes as if none was given
  }
}
