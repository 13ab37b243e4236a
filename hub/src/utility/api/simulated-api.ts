/**
 * What CityPilot's simulators of the utilities' APIs (Enedis Data Connect, GRDF's ADICT) share,
 * on a real HTTP server: the applications' tokens (OAuth 2.0 client credentials), their quotas,
 * the request log, and the faults a test or the demo city turns on (outages, garbled or stalled
 * answers, throttling, late and corrected days, answers rewritten). Each simulator keeps what is
 * its utility's: paths, the meters' data, answer shapes and error bodies.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request a simulator answered. */
export interface SimulatedApiRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
}

/** An answer a simulator is about to give, for {@link SimulatedApi.override}. */
export interface SimulatedApiAnswer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

/** An application registered with a simulated utility. */
export interface SimulatedApiClient {
  id: string;
  secret: string;
}

/** Requests kept in {@link SimulatedApi.requests}: the oldest go first. */
export const SIMULATED_API_REQUESTS_KEPT = 10_000;

/** What every simulator takes (each documents its own defaults for tokens and quotas). */
export interface SimulatedApiOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  clients: readonly SimulatedApiClient[];
  /** A token's life, seconds. Default: the utility's. */
  tokenLifetimeSeconds?: number;
  /** Data requests an application may make a second and an hour (fixed windows) before 429. Default 5 and 10,000. */
  quota?: { perSecond?: number; perHour?: number };
  /** The clock for tokens and quotas, epoch ms. Default Date.now. */
  now?: () => number;
}

const MAX_FORM_BYTES = 16 * 1024;

/** An OAuth 2.0 error answer (RFC 6749 §5.2), as token endpoints give and Enedis gives with every error. */
export function oauthError(status: number, code: string, description: string, headers?: Record<string, string>): SimulatedApiAnswer {
  return { status, body: JSON.stringify({ error: code, error_description: description }), headers: { 'content-type': 'application/json', ...headers } };
}

/** A meter's seed: FNV-1a of its identifier's characters. */
export function seedOf(id: string): number {
  let h = 0x811c9dc5;
  for (const c of id) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

/** A utility's API on a loopback HTTP server; a subclass answers its paths ({@link route}). */
export abstract class SimulatedApi {
  /** What was asked, in order, with the status answered (the newest SIMULATED_API_REQUESTS_KEPT). */
  readonly requests: SimulatedApiRequest[] = [];

  protected readonly now: () => number;
  private readonly server = createServer();
  private readonly tokens = new Map<string, { clientId: string; expiresAt: number }>();
  private readonly quotaUse = new Map<string, { second: number; inSecond: number; hour: number; inHour: number }>();
  private readonly withheld = new Set<string>();
  private readonly corrections = new Map<string, number>();
  private down = false;
  private garbled = false;
  private stalled = false;
  private throttled: { count: number; retryAfterSeconds: number } | undefined;
  private rewrite: ((request: SimulatedApiRequest, answer: SimulatedApiAnswer) => SimulatedApiAnswer | undefined) | undefined;
  private address = '';

  protected constructor(
    private readonly api: {
      options: SimulatedApiOptions;
      /** The token endpoint's path. */
      tokenPath: string;
      /** A token's life unless the options say otherwise, seconds. */
      tokenLifetimeSeconds: number;
      /** The content type of answers that give none. */
      contentType: string;
    },
  ) {
    this.now = api.options.now ?? Date.now;
  }

  /** The answer to a request other than the token endpoint's, its body already consumed or left to drain. */
  protected abstract route(request: IncomingMessage, asked: SimulatedApiRequest, query: URLSearchParams): SimulatedApiAnswer;

  /** A data answer (200) cut short, while {@link garble} is on. */
  protected abstract cutShort(answer: SimulatedApiAnswer): SimulatedApiAnswer;

  /** The utility's 429, with `retryAfter` (seconds) as Retry-After; `hourly` when the hour's quota is spent. */
  protected abstract tooMany(retryAfter: string, hourly: boolean): SimulatedApiAnswer;

  /** The scope a token is given for `client`, or the token endpoint's refusal of the form's scope. */
  protected abstract grantedScope(form: URLSearchParams, client: SimulatedApiClient): string | SimulatedApiAnswer;

  /** Starts listening (once, from the subclass's start). */
  protected async listen(): Promise<void> {
    const server = this.server;
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      this.handle(request, response).catch(() => {
        if (!response.headersSent) response.writeHead(500).end();
        else response.destroy();
      });
    });
    server.on('clientError', (_error, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.api.options.port ?? 0, this.api.options.host ?? '127.0.0.1', () => resolve());
    });
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.address = `http://${host}:${address.port}`;
  }

  /** The server's origin, e.g. http://127.0.0.1:40123. */
  protected get origin(): string {
    return this.address;
  }

  /** Closes the server and every connection, a stalled one included. */
  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /** `day`'s data of meter `id` (one read monthly: the month that starts on `day`) are absent from answers (late at the utility) until {@link release}. */
  withhold(id: string, day: string): void {
    this.withheld.add(`${id}|${day}`);
  }

  release(id: string, day: string): void {
    this.withheld.delete(`${id}|${day}`);
  }

  /**
   * Later answers give `day`'s measures of meter `id` multiplied by `factor`, rounded as the meter
   * counts (the W of a load curve, the m³ of a gas day), and what derives from them. 1 undoes it.
   */
  correct(id: string, day: string, factor: number): void {
    if (!(factor >= 0)) throw new RangeError('a correction factor is a number of at least 0');
    if (factor === 1) this.corrections.delete(`${id}|${day}`);
    else this.corrections.set(`${id}|${day}`, factor);
  }

  /** While on, every request is answered 503 (the utility's API down for maintenance). */
  outage(on: boolean): void {
    this.down = on;
  }

  /** While on, data answers are cut short: 200 with half a document. */
  garble(on: boolean): void {
    this.garbled = on;
  }

  /** While on, requests get no answer at all (until off or stop). */
  stall(on: boolean): void {
    this.stalled = on;
  }

  /** The next `count` data requests are answered 429 with Retry-After `retryAfterSeconds`. */
  throttle(count: number, retryAfterSeconds: number): void {
    this.throttled = count > 0 ? { count, retryAfterSeconds } : undefined;
  }

  /**
   * Every answer goes through `rewrite` (undefined: no more): what it returns is sent instead,
   * undefined sends the answer as it is. For answers the utility's documentation does not foresee.
   */
  override(rewrite: ((request: SimulatedApiRequest, answer: SimulatedApiAnswer) => SimulatedApiAnswer | undefined) | undefined): void {
    this.rewrite = rewrite;
  }

  /** Every token given so far stops being valid (401), as when the utility's ones expire. */
  expireTokens(): void {
    this.tokens.clear();
  }

  /** Whether `day`'s data of meter `id` are withheld. */
  protected isWithheld(id: string, day: string): boolean {
    return this.withheld.has(`${id}|${day}`);
  }

  /** The factor `day`'s data of meter `id` are corrected by, if any. */
  protected correction(id: string, day: string): number | undefined {
    return this.corrections.get(`${id}|${day}`);
  }

  /** A data request's refusal (401 without a valid token, 429 past the quota), else undefined and the request counted. */
  protected admit(request: IncomingMessage): SimulatedApiAnswer | undefined {
    const auth = /^Bearer (\S+)$/i.exec(request.headers.authorization ?? '');
    const token = auth ? this.tokens.get(auth[1]!) : undefined;
    if (!token || token.expiresAt <= this.now()) return oauthError(401, 'invalid_token', 'The access token is missing, invalid or expired');
    return this.spendQuota(token.clientId);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://simulator');
    const asked: SimulatedApiRequest = { method: request.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), status: 0 };
    if (this.stalled) return; // no answer; stop() closes the connection
    const answer = await this.answer(request, asked, url.searchParams);
    const sent = this.rewrite?.(asked, answer) ?? answer;
    asked.status = sent.status;
    this.requests.push(asked);
    if (this.requests.length > SIMULATED_API_REQUESTS_KEPT) this.requests.splice(0, this.requests.length - SIMULATED_API_REQUESTS_KEPT);
    response.writeHead(sent.status, { 'content-type': this.api.contentType, 'cache-control': 'no-store', ...sent.headers });
    response.end(sent.body);
  }

  private async answer(request: IncomingMessage, asked: SimulatedApiRequest, query: URLSearchParams): Promise<SimulatedApiAnswer> {
    if (this.down) {
      request.resume();
      return { status: 503, body: 'Service Unavailable', headers: { 'content-type': 'text/plain' } };
    }
    if (asked.path === this.api.tokenPath) {
      if (asked.method !== 'POST') return oauthError(405, 'invalid_request', 'the token endpoint takes POST');
      return this.issueToken(request);
    }
    request.resume();
    const answer = this.route(request, asked, query);
    return this.garbled && answer.status === 200 ? this.cutShort(answer) : answer;
  }

  private async issueToken(request: IncomingMessage): Promise<SimulatedApiAnswer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_FORM_BYTES) return oauthError(413, 'invalid_request', 'the form is too large');
      chunks.push(chunk);
    }
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    if (form.get('grant_type') !== 'client_credentials') return oauthError(400, 'unsupported_grant_type', 'grant_type must be client_credentials');
    const client = this.api.options.clients.find((c) => c.id === form.get('client_id'));
    if (!client || client.secret !== form.get('client_secret')) return oauthError(401, 'invalid_client', 'Client authentication failed');
    const scope = this.grantedScope(form, client);
    if (typeof scope !== 'string') return scope;
    const lifetime = this.api.options.tokenLifetimeSeconds ?? this.api.tokenLifetimeSeconds;
    const token = randomBytes(24).toString('base64url');
    const now = this.now();
    for (const [t, { expiresAt }] of this.tokens) if (expiresAt <= now) this.tokens.delete(t);
    this.tokens.set(token, { clientId: client.id, expiresAt: now + lifetime * 1000 });
    return {
      status: 200,
      body: JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: lifetime, scope }),
      headers: { 'content-type': 'application/json' },
    };
  }

  /** A 429 when the application's quota is spent (or the test throttles), else undefined and the request counted. */
  private spendQuota(clientId: string): SimulatedApiAnswer | undefined {
    if (this.throttled) {
      const { retryAfterSeconds } = this.throttled;
      if (--this.throttled.count <= 0) this.throttled = undefined;
      return this.tooMany(String(retryAfterSeconds), false);
    }
    const now = this.now();
    const second = Math.floor(now / 1000);
    const hour = Math.floor(now / 3_600_000);
    const use = this.quotaUse.get(clientId) ?? { second, inSecond: 0, hour, inHour: 0 };
    if (use.second !== second) Object.assign(use, { second, inSecond: 0 });
    if (use.hour !== hour) Object.assign(use, { hour, inHour: 0 });
    const quota = this.api.options.quota;
    if (use.inHour >= (quota?.perHour ?? 10_000)) return this.tooMany(String(Math.ceil(((hour + 1) * 3_600_000 - now) / 1000)), true);
    if (use.inSecond >= (quota?.perSecond ?? 5)) return this.tooMany('1', false);
    use.inSecond++;
    use.inHour++;
    this.quotaUse.set(clientId, use);
    return undefined;
  }
}
