/**
 * The request machinery CityPilot's clients of the utilities' APIs (Enedis Data Connect, GRDF's
 * ADICT) share: the application's token (OAuth 2.0 client credentials), fetched when first
 * needed and renewed on a 401; requests paced, time-limited and tried again with backoff, jitter
 * and Retry-After; answers read within a bound; what a server wrote cleaned before a message
 * quotes it. Each client keeps what is its utility's: paths, windows, answer shapes, error
 * codes and the words that name a meter.
 */
import { CityPilotError, formatPath, validate } from '@citypilot/sdk';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { addDays } from '../local-time.js';

/** A window of days, `to` excluded, as a utility's API asks it. */
export interface DayWindow {
  from: string;
  to: string;
}

/** The days from `fromDay` to `toDay` (excluded) cut into windows of at most `maxDays` days, in order. */
export function planDayWindows(fromDay: string, toDay: string, maxDays: number): DayWindow[] {
  const windows: DayWindow[] = [];
  for (let from = fromDay; from < toDay;) {
    const end = addDays(from, maxDays);
    const to = end < toDay ? end : toDay;
    windows.push({ from, to });
    from = to;
  }
  return windows;
}

/** The codes the shared machinery ends a call with; each utility's error adds its own. */
export type ApiFailureCode = 'BAD_REQUEST' | 'RATE_LIMITED' | 'UNAVAILABLE' | 'BAD_ANSWER' | 'AUTH_FAILED';

/** What an error of a utility's API client says beside its message. */
export interface ApiErrorDetails {
  window?: DayWindow;
  status?: number;
  retryAfterMs?: number;
  cause?: unknown;
}

/** An error of a utility's API client: its code, and the window, status and Retry-After it is about. */
export class ApiCallError<Code extends string = string> extends CityPilotError {
  declare readonly code: Code;
  /** The window whose request failed. */
  readonly window: DayWindow | undefined;
  /** The last HTTP status the utility answered, when it answered. */
  readonly status: number | undefined;
  /** With RATE_LIMITED: how long the utility asked to wait (Retry-After), when it said so. */
  readonly retryAfterMs: number | undefined;

  constructor(code: Code, message: string, details: ApiErrorDetails = {}) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.window = details.window;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** The settings every utility's client takes for its requests (each client documents its own defaults). */
export interface ApiHttpSettings {
  /** Default: the runtime's fetch. */
  fetch?: typeof fetch;
  /** Attempts per request, the first included, before UNAVAILABLE or RATE_LIMITED. Default 5. */
  maxAttempts?: number;
  /** First wait before a new attempt, doubled at each one, with jitter (a wait is 50 to 100 % of it). Default 1000 ms. */
  baseDelayMs?: number;
  /** The longest wait between attempts that backoff gives. Default 60,000 ms. */
  maxDelayMs?: number;
  /**
   * The longest Retry-After the client waits itself. A longer one ends the call at once with
   * RATE_LIMITED and its `retryAfterMs`, for the caller to schedule. Default 60,000 ms.
   */
  maxRetryAfterMs?: number;
  /** Waits `ms` milliseconds. Default: a timer. */
  sleep?: (ms: number) => Promise<void>;
  /** Time limit of one request, its answer's body included. Default 30,000 ms. */
  timeoutMs?: number;
  /** The largest answer body read. Default 4 MiB. */
  maxBodyBytes?: number;
  /** The least time between the starts of two requests of this client; 0 for none. */
  minIntervalMs?: number;
  /** The clock, in epoch milliseconds, for the token's expiry and Retry-After dates. Default Date.now. */
  now?: () => number;
  /** Jitter's source, in [0, 1). Default Math.random. */
  random?: () => number;
}

/**
 * What an OAuth 2.0 token endpoint answers (RFC 6749 §5.1), as far as a client reads it:
 * `expires_in` in seconds (some gateways write it as a string). GRDF's tokens last 4 hours, Enedis's 3 h 30.
 */
export const OAuthTokenAnswer = Type.Object({
  access_token: Type.String({ minLength: 1, maxLength: 8192 }),
  token_type: Type.String({ maxLength: 64 }),
  expires_in: Type.Union([Type.Integer({ minimum: 1, maximum: 31_536_000 }), Type.String({ pattern: '^[0-9]{1,8}$' })], {
    expected: 'a number of seconds',
  }),
});

/** An OAuth 2.0 error answer (RFC 6749 §5.2), as Enedis gives with every error status: its code and a sentence. */
export const OAuthErrorAnswer = Type.Object({ error: Type.String(), error_description: Type.Optional(Type.String()) });

/** An OAuth 2.0 error answer's words, `code: description`, each cut short; undefined when `body` is not one. */
export function oauthErrorText(body: unknown): string | undefined {
  if (!validate(OAuthErrorAnswer, body).ok) return undefined;
  const { error, error_description } = body as Static<typeof OAuthErrorAnswer>;
  return error_description ? `${error.slice(0, 60)}: ${error_description.slice(0, 1000)}` : error.slice(0, 1000);
}

/** One exchange's answer: its body read whole (bounded), or, for a line-by-line answer, empty. */
export interface ApiAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/** Who is asking what, for the messages: each client's own, with the window it asks. */
export interface ApiCall {
  window: DayWindow;
}

/** What a client tells the shared machinery about its utility. */
export interface ApiHttpSpec<Call extends ApiCall> {
  /** How messages name the utility: `Enedis`, `GRDF`. */
  utility: string;
  clientId: string;
  clientSecret: string;
  /** The city's time zone: checked here, used by the client. */
  timezone: string;
  settings: ApiHttpSettings;
  /** The client's own default pacing, in ms. */
  minIntervalMs: number;
  /** The longest line of a line-by-line answer, in characters (a client that reads none keeps the default). Default 65,536. */
  maxLineChars?: number;
  /** The token endpoint, and the form's fields beside the client credentials (a scope). */
  token: { url: URL; form?: Record<string, string> };
  /** The error for a refused setting, its words prefixed with the client's name. */
  refuse: (what: string) => Error;
  /** The error ending `call`, its words prefixed with the ones that name the call. */
  fail: (call: Call, code: ApiFailureCode, what: string, details?: Omit<ApiErrorDetails, 'window'>) => ApiCallError;
  /** What the utility said with an answer, short and cleaned, as `: …` (empty when it said nothing). */
  said: (answer: ApiAnswer) => string;
}

/** `path` (absolute) under `base`, which may have a path of its own (a proxy's, an API's version). */
export function endpoint(base: URL, path: string): URL {
  return new URL(path.slice(1), base.href.endsWith('/') ? base : `${base.href}/`);
}

/** `text` as an http(s) URL; else `refuse`'s error naming the setting. */
export function httpUrl(name: string, text: string, refuse: (what: string) => Error): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refuse(`${name} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refuse(`${name} must be an http(s) URL`);
  return url;
}

/**
 * The requests of one client of a utility's API. It holds the application's token and the time
 * the next request may start: one per client, shared by all its calls.
 */
export class ApiHttp<Call extends ApiCall> {
  private readonly fetchImpl: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
  private readonly random: () => number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly timeoutMs: number;
  private readonly maxBodyBytes: number;
  private readonly maxLineChars: number;
  private readonly minIntervalMs: number;
  private token: { value: string; renewAt: number } | undefined;
  private pendingToken: Promise<string> | undefined;
  private nextStart = 0;

  /** @throws the spec's refusal for a missing credential, an unknown time zone or settings out of range */
  constructor(private readonly spec: ApiHttpSpec<Call>) {
    if (!spec.clientId || !spec.clientSecret) throw spec.refuse('clientId and clientSecret are required');
    try {
      new Intl.DateTimeFormat('en', { timeZone: spec.timezone });
    } catch {
      throw spec.refuse(`${JSON.stringify(spec.timezone)} is not a time zone`);
    }
    const s = spec.settings;
    const positive = (name: string, value: number, min: number): number => {
      if (!Number.isFinite(value) || value < min) throw spec.refuse(`${name} must be a number of at least ${min}`);
      return value;
    };
    this.fetchImpl = s.fetch ?? fetch;
    this.sleep = s.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = s.now ?? Date.now;
    this.random = s.random ?? Math.random;
    this.maxAttempts = positive('maxAttempts', s.maxAttempts ?? 5, 1);
    this.baseDelayMs = positive('baseDelayMs', s.baseDelayMs ?? 1000, 0);
    this.maxDelayMs = positive('maxDelayMs', s.maxDelayMs ?? 60_000, 0);
    this.maxRetryAfterMs = positive('maxRetryAfterMs', s.maxRetryAfterMs ?? 60_000, 0);
    this.timeoutMs = positive('timeoutMs', s.timeoutMs ?? 30_000, 1);
    this.maxBodyBytes = positive('maxBodyBytes', s.maxBodyBytes ?? 4 * 1024 * 1024, 1024);
    this.maxLineChars = positive('maxLineChars', spec.maxLineChars ?? 65_536, 256);
    this.minIntervalMs = positive('minIntervalMs', s.minIntervalMs ?? spec.minIntervalMs, 0);
  }

  /**
   * `exchange` with the application's token; once more with a new token when the utility
   * answers 401 to it (it expired or was revoked before the client thought). The answer is the
   * last one, whatever its status.
   */
  async authorized(call: Call, exchange: (token: string) => Promise<ApiAnswer>): Promise<ApiAnswer> {
    for (let renewed = false; ; renewed = true) {
      const token = await this.accessToken(call);
      const answer = await exchange(token);
      if (answer.status !== 401 || renewed) return answer;
      if (this.token?.value === token) this.token = undefined;
    }
  }

  /** The application's token: the one kept while it is valid, else a new one (one request for concurrent callers). */
  private async accessToken(call: Call): Promise<string> {
    if (this.token && this.now() < this.token.renewAt) return this.token.value;
    this.pendingToken ??= this.requestToken(call).finally(() => {
      this.pendingToken = undefined;
    });
    try {
      return await this.pendingToken;
    } catch (error) {
      // Another call's request failed: the same failure, told in this call's words.
      if (error instanceof ApiCallError && error.window !== call.window)
        throw this.spec.fail(call, error.code as ApiFailureCode, afterColon(error.message), {
          status: error.status,
          retryAfterMs: error.retryAfterMs,
          cause: error,
        });
      throw error;
    }
  }

  private async requestToken(call: Call): Promise<string> {
    const { clientId, clientSecret, fail } = this.spec;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, ...this.spec.token.form });
    const answer = await this.withRetries(call, 'the token request', () =>
      this.send(call, this.spec.token.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
      }),
    );
    const said = this.spec.said(answer);
    if (answer.status === 400 || answer.status === 401 || answer.status === 403)
      throw fail(call, 'AUTH_FAILED', `the token request for client id ${clientId} was refused (HTTP ${answer.status}${said})`, { status: answer.status });
    if (answer.status < 200 || answer.status >= 300)
      throw fail(call, 'BAD_ANSWER', `the token request answered HTTP ${answer.status}${said}`, { status: answer.status });
    // A token answer's values stay out of messages: a token there would be one to keep secret.
    const token = this.check(call, 'the token answer', OAuthTokenAnswer, this.json(call, answer, 'the token answer'), true);
    if (token.token_type.toLowerCase() !== 'bearer') throw fail(call, 'BAD_ANSWER', `the token answer's token_type is not Bearer`);
    const lifetimeMs = Number(token.expires_in) * 1000;
    // Renewed before it expires: a tenth of its life early, at most a minute.
    this.token = { value: token.access_token, renewAt: this.now() + lifetimeMs - Math.min(60_000, lifetimeMs / 10) };
    return token.access_token;
  }

  /**
   * `send` again while the network fails, the utility answers 429 or 5xx, or `failedAgain`
   * finds a successful answer wanting another attempt (it gives the error to end with when no
   * attempt remains, told with the attempts made), as long as attempts remain.
   */
  async withRetries(
    call: Call,
    what: string,
    send: () => Promise<ApiAnswer>,
    failedAgain?: (answer: ApiAnswer) => ((tries: string) => Error) | undefined,
  ): Promise<ApiAnswer> {
    const { utility, fail, said } = this.spec;
    for (let attempt = 1; ; attempt++) {
      let answer: ApiAnswer | undefined;
      let failure: unknown;
      let failed: ((tries: string) => Error) | undefined;
      try {
        answer = await send();
        failed = answer.status >= 200 && answer.status < 300 ? failedAgain?.(answer) : undefined;
        if (!failed && answer.status !== 429 && answer.status < 500) return answer;
      } catch (error) {
        if (error instanceof ApiCallError) throw error;
        failure = error;
      }
      const retryAfterMs = answer?.status === 429 ? this.retryAfter(answer.headers.get('retry-after')) : undefined;
      if (answer?.status === 429 && retryAfterMs !== undefined && retryAfterMs > this.maxRetryAfterMs)
        throw fail(
          call,
          'RATE_LIMITED',
          `${utility}'s quota is spent: ${what} may come back in ${Math.ceil(retryAfterMs / 1000)} s (HTTP 429${said(answer)})`,
          {
            status: 429,
            retryAfterMs,
          },
        );
      if (attempt >= this.maxAttempts) {
        const tries = `${attempt} attempt${attempt > 1 ? 's' : ''}`;
        if (answer?.status === 429)
          throw fail(call, 'RATE_LIMITED', `${utility}'s quota is spent: ${what} got HTTP 429 at each of ${tries}${said(answer)}`, {
            status: 429,
            retryAfterMs,
          });
        if (failed) throw failed(tries);
        if (answer) throw fail(call, 'UNAVAILABLE', `${what} got HTTP ${answer.status} at each of ${tries}${said(answer)}`, { status: answer.status });
        throw fail(call, 'UNAVAILABLE', `${what} failed at each of ${tries}: ${this.networkFailure(failure)}`, { cause: failure });
      }
      await this.sleep(retryAfterMs ?? this.backoff(attempt));
    }
  }

  private backoff(attempt: number): number {
    const full = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(full * (0.5 + this.random() / 2));
  }

  /** Retry-After in milliseconds (seconds or an HTTP date), or undefined when absent or unreadable. */
  private retryAfter(header: string | null): number | undefined {
    if (header === null) return undefined;
    const text = header.trim();
    if (/^[0-9]{1,9}$/.test(text)) return Number(text) * 1000;
    const date = Date.parse(text);
    if (Number.isNaN(date) || text.length > 64) return undefined;
    return Math.max(0, date - this.now());
  }

  /**
   * One exchange: paced, time-limited, redirects not followed. A successful answer to a request
   * given `onLine` is read as lines (NDJSON), each given to `onLine` as it arrives (1-based
   * numbers), never more than maxLineChars a line nor maxBodyBytes in all; any other answer is
   * read whole, up to maxBodyBytes.
   */
  async send(call: Call, url: URL, init: RequestInit, onLine?: (text: string, n: number) => void): Promise<ApiAnswer> {
    const fail = this.spec.fail;
    const now = this.now();
    const start = Math.max(now, this.nextStart);
    this.nextStart = start + this.minIntervalMs;
    if (start > now) await this.sleep(start - now);
    const signal = AbortSignal.timeout(this.timeoutMs);
    const response = await this.fetchImpl(url, { ...init, signal, redirect: 'manual' });
    const declared = Number(response.headers.get('content-length') ?? 0);
    if (declared > this.maxBodyBytes) {
      await response.body?.cancel().catch(() => undefined);
      throw fail(call, 'BAD_ANSWER', `an answer of ${declared} bytes, more than the ${this.maxBodyBytes} read`, { status: response.status });
    }
    const answer = { status: response.status, headers: response.headers, text: '' };
    if (!response.body) return answer;
    const reader = response.body.getReader();
    const lines = onLine !== undefined && response.status >= 200 && response.status < 300 ? this.lineReader(call, response.status, onLine) : undefined;
    const chunks: Uint8Array[] = [];
    let size = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > this.maxBodyBytes) throw fail(call, 'BAD_ANSWER', `an answer of more than the ${this.maxBodyBytes} bytes read`, { status: response.status });
        if (lines) lines.take(value);
        else chunks.push(value);
      }
    } catch (error) {
      await reader.cancel().catch(() => undefined);
      throw error;
    }
    if (!lines) return { ...answer, text: new TextDecoder().decode(Buffer.concat(chunks)) };
    lines.end();
    return answer;
  }

  /** Cuts a body into lines as its bytes arrive, each at most maxLineChars. */
  private lineReader(call: Call, status: number, onLine: (text: string, n: number) => void): { take(bytes: Uint8Array): void; end(): void } {
    const decoder = new TextDecoder();
    // The current line's pieces, joined once it ends: a line arriving in many small pieces costs its length, not its square.
    let pieces: string[] = [];
    let pending = 0;
    let lineNumber = 0;
    const tooLong = () =>
      this.spec.fail(call, 'BAD_ANSWER', `line ${lineNumber + 1} of the answer is longer than the ${this.maxLineChars} characters read`, { status });
    const take = (text: string) => {
      let from = 0;
      for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', from)) {
        if (pending + end - from > this.maxLineChars) throw tooLong();
        pieces.push(text.slice(from, end));
        const line = pieces.join('');
        pieces = [];
        pending = 0;
        from = end + 1;
        onLine(line, ++lineNumber);
      }
      if (from < text.length) {
        pieces.push(text.slice(from));
        pending += text.length - from;
        if (pending > this.maxLineChars) throw tooLong();
      }
    };
    return {
      take: (bytes) => take(decoder.decode(bytes, { stream: true })),
      end: () => {
        take(decoder.decode());
        if (pieces.length) onLine(pieces.join(''), ++lineNumber);
      },
    };
  }

  /** An answer's body as JSON; else BAD_ANSWER, naming `what` the answer is when given. */
  json(call: Call, answer: ApiAnswer, what?: string): unknown {
    try {
      return JSON.parse(answer.text);
    } catch {
      const told = `(HTTP ${answer.status}${this.spec.said(answer)})`;
      throw this.spec.fail(call, 'BAD_ANSWER', what ? `${what} is not JSON ${told}` : `an answer that is not JSON ${told}`, { status: answer.status });
    }
  }

  /** `body` as `schema` has it; else BAD_ANSWER naming the first place that differs (and what it holds, unless `secret`). */
  check<T extends TSchema>(call: Call, what: string, schema: T, body: unknown, secret = false): Static<T> {
    let result: ReturnType<typeof validate<T>>;
    try {
      result = validate(schema, body);
    } catch (error) {
      // The check walks the value: arrays nested thousands deep exhaust the stack (never a network failure to retry).
      if (error instanceof RangeError) throw this.spec.fail(call, 'BAD_ANSWER', `${what} is not as documented: nested too deeply`);
      throw error;
    }
    if (result.ok) return result.value;
    const issue = result.issues[0]!;
    const more = result.issues.length > 1 ? ` (and ${result.issues.length - 1} more)` : '';
    const message = secret ? 'is wrong' : this.clean(issue.message, 120);
    throw this.spec.fail(call, 'BAD_ANSWER', `${what} is not as documented: ${formatPath(issue.path)} ${message}${more}`);
  }

  /**
   * A part of what a server wrote, fit for a message and a log: the application's secret and
   * token never in it, no control characters, one line, at most `max` characters.
   */
  clean(text: string, max: number): string {
    let out = text;
    for (const secret of [this.spec.clientSecret, this.token?.value]) if (secret && secret.length >= 4) out = out.split(secret).join('[redacted]');
    out = out
      .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+/gu, ' ')
      .replace(/\s+/g, ' ')
      .trim();
    return out.length > max ? `${out.slice(0, max)}…` : out;
  }

  /** `text` cleaned, as `: …` (empty when nothing is left): the end of a message quoting a server. */
  quoted(text: string): string {
    const cleaned = this.clean(text, 160);
    return cleaned ? `: ${cleaned}` : '';
  }

  private networkFailure(failure: unknown): string {
    if (failure instanceof Error) {
      if (failure.name === 'TimeoutError' || failure.name === 'AbortError') return `no answer within ${this.timeoutMs} ms`;
      const cause = (failure as { cause?: { code?: unknown; message?: unknown } }).cause;
      if (cause && typeof cause.code === 'string') return this.clean(`${failure.message} (${cause.code})`, 160);
      return this.clean(failure.message, 160);
    }
    return 'an unknown failure';
  }
}

/** A message's part after the words that say which call it was about. */
function afterColon(message: string): string {
  const i = message.indexOf(': ');
  return i >= 0 ? message.slice(i + 2) : message;
}
