import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { silentLogger, type Logger } from '@citypilot/sdk';

/** Deepest nesting of arrays and objects accepted in a body, checked before any validation. */
export const MAX_BODY_DEPTH = 32;

export interface ErrorOptions {
  /** Where the detail of an unexpected failure goes, with the request id the caller was given. */
  logger?: Logger;
}

/** What a caller is told, whatever failed: a status, a reason in words, a stable code. */
export interface ErrorAnswer {
  status: number;
  error: string;
  code?: string;
}

/**
 * One mapping of every failure of the API to an answer, for every route of `app`:
 *
 * - before validation (preValidation), the query string, the path parameters and the body are
 *   read once: a string holding a NUL character (which PostgreSQL cannot store), a body nested
 *   deeper than MAX_BODY_DEPTH, or a number that is not finite is answered 400 with its path;
 * - a failure with a 4xx status (validation, an unparsable body, a body too large) keeps it,
 *   with its message;
 * - PostgreSQL's refusals of a value (data exceptions, check constraints) become 400 and a
 *   cancelled query (the API pool's statement timeout) 503, each in our words, never PostgreSQL's;
 * - anything else is 500 `{ error: 'internal error', requestId }`; the detail goes to the log
 *   with that request id, never to the caller.
 *
 * Plugins with an error handler of their own (service-data) rethrow what they do not map, and
 * end here. Register it before the routes.
 */
export function registerErrors(app: FastifyInstance, options: ErrorOptions = {}): void {
  const { logger = silentLogger } = options;
  // Said in the OpenAPI document of every route that documents its responses.
  app.addHook('onRoute', (route) => {
    const response = route.schema?.response as Record<string, unknown> | undefined;
    if (!response) return;
    response[500] ??= {
      'x-response-description': "An unexpected failure: the detail is in the hub's log under the request id",
      type: 'object',
      properties: { error: { type: 'string', enum: ['internal error'] }, requestId: { type: 'string', description: "The request's id in the hub's log." } },
      required: ['error', 'requestId'],
    };
    response[503] ??= errorSchema(
      'The database is unavailable, or a query took longer than the statement timeout (QUERY_TIMEOUT: try a smaller range); see Retry-After',
    );
  });
  app.addHook('preValidation', async (request, reply) => {
    const problem = inputProblem('querystring', request.query) ?? inputProblem('params', request.params) ?? inputProblem('body', request.body);
    if (problem) return reply.code(400).send({ error: problem, code: 'REQUEST_INVALID' });
  });
  // Validation coerces "Infinity" or "1e400" in a query string into a number that passes
  // `type: integer` and any maximum: what it made is checked again once coerced.
  app.addHook('preHandler', async (request, reply) => {
    const problem = inputProblem('querystring', request.query) ?? inputProblem('params', request.params);
    if (problem) return reply.code(400).send({ error: problem, code: 'REQUEST_INVALID' });
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const answer = answerFor(error);
    if (answer.status >= 500) {
      logger.error(
        { requestId: request.id, method: request.method, url: request.url, err: error.message, code: error.code, stack: error.stack },
        'API request failed',
      );
    }
    return send(reply, request, answer);
  });
}

/** The schema of an `{ error, code }` answer, described for the OpenAPI document. */
export function errorSchema(description: string) {
  return {
    'x-response-description': description,
    type: 'object',
    properties: { error: { type: 'string', description: 'What was wrong, in words.' }, code: { type: 'string', description: 'Stable code of the failure.' } },
    required: ['error'],
  };
}

function send(reply: FastifyReply, request: FastifyRequest, answer: ErrorAnswer): FastifyReply {
  if (answer.status === 503) reply.header('retry-after', '30');
  const body = answer.status === 500 ? { error: answer.error, requestId: request.id } : { error: answer.error, ...(answer.code ? { code: answer.code } : {}) };
  return reply.code(answer.status).send(body);
}

/** SQLSTATE classes and codes of PostgreSQL that a request's values cause, and what to say. */
const POSTGRES_REFUSALS: readonly [RegExp, ErrorAnswer][] = [
  [/^(08|53|57P0)/, { status: 503, error: 'the hub cannot reach its database right now; try again', code: 'DATABASE_UNAVAILABLE' }],
  [/^57014$/, { status: 503, error: 'the query took too long and was cancelled: try a smaller range or a coarser step', code: 'QUERY_TIMEOUT' }],
  [/^2200[78]$/, { status: 400, error: 'a date or time of the request is outside what the hub stores (years 1900 to 9999)', code: 'VALUE_OUT_OF_RANGE' }],
  [/^22003$/, { status: 400, error: 'a number of the request is too large for the hub to store', code: 'VALUE_OUT_OF_RANGE' }],
  [/^22(021|P05)$/, { status: 400, error: 'a text of the request holds a character the hub cannot store (such as NUL)', code: 'VALUE_INVALID' }],
  [/^22/, { status: 400, error: 'a value of the request is not one the hub can store or compare', code: 'VALUE_INVALID' }],
  [/^23514$/, { status: 400, error: 'a value of the request is outside what the hub accepts', code: 'VALUE_OUT_OF_RANGE' }],
];

/** The answer to a failure, as registerErrors sends it. */
export function answerFor(error: Error & { statusCode?: number; code?: string; severity?: string }): ErrorAnswer {
  const status = error.statusCode;
  if (status !== undefined && status >= 400 && status < 500) return { status, error: error.message, ...(error.code ? { code: error.code } : {}) };
  // A PostgreSQL error carries its SQLSTATE as `code` and a `severity`.
  if (typeof error.code === 'string' && typeof error.severity === 'string') {
    const refusal = POSTGRES_REFUSALS.find(([pattern]) => pattern.test(error.code!));
    if (refusal) return refusal[1];
  }
  // Node's own failures to connect (the database is down or unreachable).
  if (typeof error.code === 'string' && /^E(CONNREFUSED|CONNRESET|TIMEDOUT|NOTFOUND|HOSTUNREACH|PIPE)$/.test(error.code)) {
    return { status: 503, error: 'the hub cannot reach its database right now; try again', code: 'DATABASE_UNAVAILABLE' };
  }
  if (error instanceof RangeError && /call stack/i.test(error.message)) {
    return { status: 400, error: `the request is nested too deeply: at most ${MAX_BODY_DEPTH} levels`, code: 'REQUEST_INVALID' };
  }
  return { status: 500, error: 'internal error' };
}

/**
 * The first thing in `input` that no route accepts, as `path: what is wrong`, or undefined.
 * Walked without recursion, so that a body of a million nested arrays costs no stack.
 */
export function inputProblem(root: string, input: unknown): string | undefined {
  if (typeof input === 'string') return hasNul(input) ? `${root}: contains a NUL character (\\u0000), which the hub does not accept` : undefined;
  // Parsed JSON and query strings are walked; a stream (a CSV upload's) is the route's to read.
  if (!isPlain(input)) return undefined;
  const stack: [unknown, string, number][] = [[input, root, 0]];
  while (stack.length) {
    const [value, path, depth] = stack.pop()!;
    if (typeof value === 'string') {
      if (hasNul(value)) return `${path}: contains a NUL character (\\u0000), which the hub does not accept`;
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) return `${path}: expected a finite number`;
    } else if (isPlain(value)) {
      if (depth >= MAX_BODY_DEPTH) return `${path}: nested too deeply (at most ${MAX_BODY_DEPTH} levels)`;
      const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i]!;
        if (typeof key === 'string' && hasNul(key)) return `${path}: a key contains a NUL character (\\u0000), which the hub does not accept`;
        stack.push([child, typeof key === 'number' ? `${path}[${key}]` : `${path}.${key}`, depth + 1]);
      }
    }
  }
  return undefined;
}

function isPlain(value: unknown): value is object {
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return false;
  return typeof (value as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] !== 'function';
}

function hasNul(text: string): boolean {
  return text.includes('\u0000');
}
