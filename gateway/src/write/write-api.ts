import { networkInterfaces } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { ConfigError, type Logger, type Sample } from '@citypilot/sdk';
import type { GatewayConfig } from '../config/config.js';
import { WriteOutOfRangeError, WriteRefusedError } from '../pipeline/poller.js';
import { readWriteTokens, writeTokenHolder } from './write-tokens.js';
import { isLoopbackHost } from './loopback.js';

/**
 * The gateway's write API, `POST /api/points/<device>.<point>/write {"value": …}`: a privileged
 * act. It is open only with `status.allowWrites`, to a technician's write token (write-tokens.ts),
 * through a Host the gateway answers to; the value must suit the point (kind, finite, within its
 * `min`..`max`) before anything reaches the device. The answer's `value` is the value read back
 * from the device after the write, `asked` the value asked, and `warning` says when they differ
 * (or nothing could be read back). Every attempt, refused or not, is logged as one line: who,
 * from where, which point, the value `asked`, the outcome, and the `value` read back; at warn
 * level, with the warning, when the device does not hold what was asked.
 */

/** The values a write carries: `null` relinquishes the gateway's command (BACnet). */
export type WriteValue = number | boolean | string | null;

export interface WriteApiOptions {
  /** The running configuration: `status.allowWrites` changes live. */
  config: () => GatewayConfig;
  /** Writes to a point by stable id and resolves with the point as read back (Gateway.write). */
  write: (pointId: string, value: WriteValue) => Promise<Sample>;
  logger: Logger;
}

/**
 * Refuses (421) a request whose Host header is not a name of this gateway: a loopback name, its
 * listen address, one of `status.hostnames`, or — listening on every address — one of the
 * machine's own addresses; with the port it listens on, when the header has one. This keeps a
 * web page of another site, whose name an attacker points at this gateway (DNS rebinding), from
 * reaching the API from a technician's browser. `/healthz` and `/metrics` are left to probes.
 */
export function installHostCheck(app: FastifyInstance, status: () => GatewayConfig['status'], port: () => number): void {
  app.addHook('onRequest', async (request, reply) => {
    if (request.url === '/healthz' || request.url === '/metrics') return;
    const header = request.headers.host;
    const { host, hostnames } = status();
    const listening = port();
    const refuse = (why: string) =>
      reply.code(421).send({
        error: `${why}: this gateway answers to a loopback name, ${isWildcard(host) ? "this machine's addresses" : host}${hostnames.length ? `, ${hostnames.join(', ')}` : ''} (port ${listening}); add the name you use to status.hostnames`,
        code: 'HOST_REFUSED',
      });
    if (!header) return refuse('the request has no Host header');
    const parsed = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(header.trim());
    if (!parsed) return refuse(`Host ${JSON.stringify(header)} is not a host name`);
    const name = parsed[1]!
      .toLowerCase()
      .replace(/^\[(.*)\]$/, '$1')
      .replace(/\.$/, '');
    if (parsed[2] !== undefined && Number(parsed[2]) !== listening) return refuse(`Host ${JSON.stringify(header)} names another port`);
    const known =
      isLoopbackHost(name) ||
      name === host.toLowerCase().replace(/^\[(.*)\]$/, '$1') ||
      hostnames.some((h) => h.toLowerCase() === name) ||
      (isWildcard(host) && ownAddresses().has(name));
    if (!known) return refuse(`Host ${JSON.stringify(header)} is not a name of this gateway`);
  });
}

/** Registers the write route on the status API. */
export function registerWriteRoute(app: FastifyInstance, options: WriteApiOptions): void {
  const { logger } = options;
  app.post<{ Params: { id: string }; Body: { value?: unknown } }>('/api/points/:id/write', async (request, reply) => {
    const point = request.params.id;
    const asked = (request.body as { value?: unknown } | null)?.value;
    let who: string | null = null;
    const answer = (status: number, body: Record<string, unknown>, readBack?: Sample) => {
      const result = status === 200 ? 'written' : 'refused';
      const shown = (v: unknown) => (typeof v === 'string' ? clip(v) : v);
      const line = {
        write: {
          who,
          from: request.ip,
          point: clip(point),
          asked: shown(asked),
          ...(readBack ? { value: shown(readBack.value) } : {}),
          result,
          status,
          ...(body.error ? { error: body.error } : {}),
          ...(readBack
            ? { readBack: { value: shown(readBack.value), quality: readBack.quality, ...(readBack.reason ? { reason: readBack.reason } : {}) } }
            : {}),
          ...(body.warning ? { warning: body.warning } : {}),
        },
      };
      if (status !== 200) logger.warn(line, 'point write refused');
      else if (body.warning)
        logger.warn(
          line,
          asked === null ? 'point relinquished, but its value could not be read back' : 'point written, but the device does not hold the value asked',
        );
      else logger.info(line, asked === null ? 'point relinquished' : 'point written');
      return reply.code(status).send(body);
    };

    if (!options.config().status.allowWrites)
      return answer(403, { error: 'writes are disabled on this gateway (status.allowWrites: false)', code: 'WRITES_DISABLED' });
    const authorization = request.headers.authorization;
    const presented = /^Bearer +(\S+)$/i.exec(authorization ?? '')?.[1];
    if (presented === undefined) {
      reply.header('www-authenticate', 'Bearer realm="citypilot-gateway"');
      return answer(401, {
        error: `${authorization ? 'the Authorization header must be "Bearer <write token>"' : "writes need a technician's write token"}: send "Authorization: Bearer cpw_…", a token made by citypilot gateway write-token create`,
        code: 'WRITE_TOKEN_MISSING',
      });
    }
    try {
      who = writeTokenHolder(readWriteTokens(options.config().dataDir), presented) ?? null;
    } catch (error) {
      // The gateway's own file, not the caller's doing: the details go to the log only.
      logger.error({ err: (error as Error).message }, 'the write tokens cannot be read: every write is refused');
      return answer(403, { error: "this gateway's write tokens cannot be read: its log says why", code: 'WRITE_TOKENS_UNAVAILABLE' });
    }
    if (who === null)
      return answer(403, { error: "this write token is not one of this gateway's (revoked, mistyped, or another gateway's)", code: 'WRITE_TOKEN_REFUSED' });

    if (asked !== null && !['number', 'boolean', 'string'].includes(typeof asked)) {
      return answer(400, { error: 'the body must be {"value": <number | boolean | string>}, or {"value": null} to relinquish', code: 'WRITE_BODY_INVALID' });
    }
    try {
      const readBack = await options.write(point, asked as WriteValue);
      const warning = readBackWarning(asked as WriteValue, readBack);
      return answer(
        200,
        {
          point,
          value: readBack.value,
          asked,
          readBack: { value: readBack.value, quality: readBack.quality, ...(readBack.reason ? { reason: readBack.reason } : {}) },
          ...(warning ? { warning } : {}),
        },
        readBack,
      );
    } catch (error) {
      return answer(...writeFailure(error));
    }
  });
}

/**
 * What a technician must know about a write the device took: it holds another value than the one
 * asked (a device that clamps or rounds, a float register without the digits asked, a BACnet
 * priority above the gateway's), or its value could not be read back. Undefined when it holds
 * the value asked, and after a relinquish that read back.
 */
export function readBackWarning(asked: WriteValue, readBack: Sample): string | undefined {
  if (readBack.value === null || readBack.quality === 'bad') {
    return `the value could not be read back (${readBack.reason ?? 'no value'}): the write was sent, what the device holds is unknown`;
  }
  if (asked === null) return undefined;
  // A boolean point takes 0 and 1 for false and true.
  const expected = typeof readBack.value === 'boolean' && typeof asked === 'number' ? asked === 1 : asked;
  if (readBack.value === expected) return undefined;
  return `the device holds ${JSON.stringify(readBack.value)}, not ${JSON.stringify(asked)} as asked`;
}

/** The status and body that say why a write failed. */
function writeFailure(error: unknown): [number, Record<string, unknown>] {
  const { message, code } = error as { message: string; code?: string };
  if (error instanceof WriteOutOfRangeError) return [400, { error: message, code }];
  if (error instanceof WriteRefusedError) return [message.startsWith('no point') ? 404 : 409, { error: message, code }];
  // The plugin's ConfigError: a value the point's encoding cannot hold.
  if (error instanceof ConfigError) return [409, { error: message, code }];
  // The device refused, or did not answer: its message is the device's, not the gateway's.
  return [502, { error: message, code }];
}

/** A caller's text as the log keeps it: long enough to recognise, too short to flood the log. */
function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}… (${text.length} characters)` : text;
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === '';
}

/** This machine's addresses, lowercased, IPv6 without brackets. */
function ownAddresses(): Set<string> {
  return new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address.toLowerCase())));
}
