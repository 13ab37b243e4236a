/**
 * A property-based fuzzer of an HTTP API, driven by its OpenAPI document: every operation of the
 * document (so a new route is fuzzed by construction) is called as every principal, with path
 * and query parameters and bodies made from its schemas (openapi-arbitraries.ts) and hostile raw
 * bodies (JSON nested 10,000 deep, bodies past the size limit, wrong media types). The property:
 * no 5xx, an answer within the hang limit and the size limit, no internal detail (a stack trace,
 * a database error's words) in the answer, and the API still healthy after each operation.
 *
 * A failing case is shrunk by fast-check and reported with its operation, principal, request and
 * answer; the fuzzer then goes on looking for failures of another kind in the same operation
 * (failures are told apart by status and the answer's words), up to `maxFailuresPerOperation`.
 */
import fc from 'fast-check';
import { HOSTILE_STRINGS, mutatedExample, schemaValue, type ArbitraryContext, type JsonSchema } from './openapi-arbitraries.js';

/** One request as the fuzzer sends it; `principal` names the token it carries. */
export interface FuzzRequest {
  principal: string;
  method: string;
  /** Path and query, percent-encoded. */
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** What came back. */
export interface FuzzAnswer {
  status: number;
  body: string;
}

/** Sends a request with the principal's `authorization` header added; for fastify's inject or fetch. */
export type FuzzTransport = (request: FuzzRequest) => Promise<FuzzAnswer>;

export interface FuzzOptions {
  /** The OpenAPI 3 document of the API (GET /api/openapi.json). */
  document: OpenApiDocument;
  send: FuzzTransport;
  /**
   * Principals to call as: name → role (`public` for no token), or null for credentials the API
   * must refuse (an unknown token). A principal whose role is not in an operation's `x-roles`
   * (admin may call every one) must never get a 2xx or 3xx from it.
   */
  principals: Readonly<Record<string, string | null>>;
  context: ArbitraryContext;
  /** Known-good bodies by operation (`PUT /api/objectives/{key}`), mutated one field at a time. */
  examples?: Record<string, unknown>;
  /** Time for all operations together, split evenly between them. */
  budgetMs: number;
  /** Longest wait for an answer before the request counts as hung. Default 30 s. */
  hangLimitMs?: number;
  /** Largest answer, in bytes. Default 16 MiB. */
  maxAnswerBytes?: number;
  /** Different failures reported per operation before moving on. Default 3. */
  maxFailuresPerOperation?: number;
  /** Whether the API is still well; called after each operation, returns what is wrong or undefined. */
  healthy: () => Promise<string | undefined>;
  /** fast-check seed, to replay a run. Default random (printed with each failure). */
  seed?: number;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
}

interface OpenApiOperation {
  'x-roles'?: string[];
  parameters?: { in: string; name: string; required?: boolean; schema?: JsonSchema }[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
}

/** A request the property refused, as a reader can replay it. */
export interface FuzzFailure {
  operation: string;
  principal: string;
  problem: string;
  request: { method: string; url: string; contentType?: string; body?: string };
  answer?: FuzzAnswer;
  seed: number;
}

export interface FuzzReport {
  /** Requests made, by operation then principal (shrinking included). */
  counts: Record<string, Record<string, number>>;
  failures: FuzzFailure[];
  total: number;
}

/** The operations of a document, as `METHOD /path` with their description. */
export function operationsOf(document: OpenApiDocument): { name: string; method: string; path: string; operation: OpenApiOperation }[] {
  return Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods)
      .filter(([method]) => ['get', 'put', 'post', 'patch', 'delete'].includes(method))
      .map(([method, operation]) => ({ name: `${method.toUpperCase()} ${path}`, method: method.toUpperCase(), path, operation })),
  );
}

/** Runs the fuzzer over every operation of the document; never throws for a failing case, reports it. */
export async function fuzzApi(options: FuzzOptions): Promise<FuzzReport> {
  const operations = operationsOf(options.document);
  const counts: Record<string, Record<string, number>> = {};
  const failures: FuzzFailure[] = [];
  const perOperationMs = Math.max(200, Math.floor(options.budgetMs / Math.max(1, operations.length)));
  for (const op of operations) {
    const tally = (counts[op.name] = Object.fromEntries(Object.keys(options.principals).map((p) => [p, 0])));
    const known = new Set<string>();
    const arbitrary = requestArbitrary(op, options);
    const deadline = performance.now() + perOperationMs;
    const problems = new WeakMap<FuzzRequest, { problem: string; answer?: FuzzAnswer }>();
    while (performance.now() < deadline && known.size < (options.maxFailuresPerOperation ?? 3)) {
      const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
      const property = fc.asyncProperty(arbitrary, async (request) => {
        // Shrinking gets as long again as the search, then stops where it is: every case passes.
        if (performance.now() > deadline + perOperationMs) return true;
        tally[request.principal] = (tally[request.principal] ?? 0) + 1;
        const found = await check(request, op.operation['x-roles'] ?? ['public'], options);
        if (!found) return true;
        const kind = failureKind(found);
        // A kind already reported passes, so that the search looks for another one.
        if (known.has(kind)) return true;
        problems.set(request, found);
        return false;
      });
      const details = await fc.check(property, {
        seed,
        numRuns: Number.MAX_SAFE_INTEGER,
        interruptAfterTimeLimit: Math.max(1, deadline - performance.now()),
        markInterruptAsFailure: false,
      });
      if (!details.failed || !details.counterexample) break;
      const [request] = details.counterexample;
      const found = problems.get(request) ?? { problem: String(details.errorInstance ?? 'the property failed') };
      known.add(failureKind(found));
      failures.push({
        operation: op.name,
        principal: request.principal,
        problem: found.problem,
        request: replayable(request),
        answer: found.answer && excerpt(found.answer),
        seed,
      });
      if (options.seed !== undefined) break; // the same seed would find the same case again
    }
    const sick = await options.healthy();
    if (sick)
      failures.push({
        operation: op.name,
        principal: '-',
        problem: `the API is unhealthy after fuzzing ${op.name}: ${sick}`,
        request: { method: '-', url: '-' },
        seed: options.seed ?? 0,
      });
  }
  const total = Object.values(counts).reduce((sum, byPrincipal) => sum + Object.values(byPrincipal).reduce((a, b) => a + b, 0), 0);
  return { counts, failures, total };
}

/** What is wrong with the answer to `request`, or undefined when it is fine. */
async function check(request: FuzzRequest, roles: readonly string[], options: FuzzOptions): Promise<{ problem: string; answer?: FuzzAnswer } | undefined> {
  const hangLimitMs = options.hangLimitMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), hangLimitMs)));
  let answer: FuzzAnswer | 'hung';
  try {
    answer = await Promise.race([options.send(request), hung]);
  } catch (error) {
    return { problem: `the request failed without an answer: ${(error as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
  if (answer === 'hung') return { problem: `no answer within ${hangLimitMs} ms` };
  if (answer.status >= 500) return { problem: `answered ${answer.status}`, answer };
  const bytes = Buffer.byteLength(answer.body);
  const maxAnswerBytes = options.maxAnswerBytes ?? 16 * 2 ** 20;
  if (bytes > maxAnswerBytes) return { problem: `answered ${bytes} bytes, more than ${maxAnswerBytes}`, answer };
  const internal = INTERNAL_DETAIL.exec(answer.body);
  if (internal) return { problem: `answered ${answer.status} with an internal detail (${JSON.stringify(internal[0].slice(0, 60))})`, answer };
  const role = options.principals[request.principal];
  const allowed = role !== null && role !== undefined && (roles.includes('public') || role === 'admin' || roles.includes(role));
  if (answer.status < 400 && !allowed)
    return {
      problem: `answered ${answer.status} to ${role ? `the role ${role}` : 'credentials it must refuse'}, on an operation for ${roles.join(', ')}`,
      answer,
    };
  return undefined;
}

/**
 * What a caller must never see: a line of a V8 stack trace, a JavaScript runtime error, or the
 * words of a PostgreSQL error (the caller learns the hub's internals, not what it did wrong).
 */
const INTERNAL_DETAIL = new RegExp(
  [
    String.raw`\bat (?:async )?[\w$.<>]* ?\(?(?:file:\/\/|node:|\/)[^)\s]*:\d+:\d+`,
    'Maximum call stack size exceeded',
    'Cannot read properties of (?:undefined|null)',
    'is not a function',
    'invalid input syntax for type',
    'invalid byte sequence for encoding',
    'violates (?:check|foreign key|unique|not-null) constraint',
    'syntax error at or near',
    'out of range for type',
    'time zone displacement out of range',
    'ECONNREFUSED',
  ].join('|'),
);

/**
 * Failures of one kind: same problem, same error code and words (of a JSON answer's `code` and
 * `message` or `error`, else of the body) once quoted input and numbers are left out.
 */
function failureKind(found: { problem: string; answer?: FuzzAnswer }): string {
  let words = found.answer?.body ?? '';
  try {
    const parsed = JSON.parse(words) as { code?: unknown; message?: unknown; error?: unknown } | null;
    if (parsed && typeof parsed === 'object')
      words = [parsed.code, parsed.message ?? parsed.error]
        .filter((w) => w !== undefined)
        .map(String)
        .join(' ');
  } catch {
    // Not JSON: the body's own words.
  }
  const general = (text: string) =>
    text
      .slice(0, 200)
      .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
      .replace(/\d+/g, '#');
  return `${general(found.problem)} ${general(words)}`;
}

function excerpt(answer: FuzzAnswer): FuzzAnswer {
  return { status: answer.status, body: answer.body.length > 2000 ? `${answer.body.slice(0, 2000)}… (${answer.body.length} characters)` : answer.body };
}

function replayable(request: FuzzRequest): FuzzFailure['request'] {
  const shown = request.body === undefined ? undefined : JSON.stringify(request.body.slice(0, 300));
  const body = shown && request.body!.length > 300 ? `${shown}… (${request.body!.length} characters)` : shown;
  return { method: request.method, url: request.url, contentType: request.headers['content-type'], body };
}

/** Requests for one operation: its principal, parameters, query oddities and body. */
function requestArbitrary(op: ReturnType<typeof operationsOf>[number], options: FuzzOptions): fc.Arbitrary<FuzzRequest> {
  const parameters = op.operation.parameters ?? [];
  const pathParams = parameters.filter((p) => p.in === 'path');
  const queryParams = parameters.filter((p) => p.in === 'query');
  const pathValues = fc.record(Object.fromEntries(pathParams.map((p) => [p.name, schemaValue(p.schema, options.context)])));
  const queryValues = fc.record(Object.fromEntries(queryParams.map((p) => [p.name, schemaValue(p.schema, options.context)])), {
    requiredKeys: queryParams.filter((p) => p.required).map((p) => p.name),
  });
  const queryTail = fc.option(fc.constantFrom(...MALFORMED_QUERIES), { freq: 8 });
  const body = op.method === 'GET' || op.method === 'DELETE' ? fc.constant(undefined) : bodyArbitrary(op, options);
  return fc
    .record({ principal: fc.constantFrom(...Object.keys(options.principals)), path: pathValues, query: queryValues, queryTail, body })
    .map(({ principal, path, query, queryTail: tail, body: b }) => {
      const url = op.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeComponent(textOf(path[name])));
      const search = Object.entries(query).flatMap(([name, value]) =>
        (Array.isArray(value) ? value : [value]).map((v) => `${encodeComponent(name)}=${encodeComponent(textOf(v))}`),
      );
      if (tail) search.push(tail);
      const headers: Record<string, string> = b?.contentType ? { 'content-type': b.contentType } : {};
      return { principal, method: op.method, url: search.length ? `${url}?${search.join('&')}` : url, headers, body: b?.text };
    });
}

/** Query strings that decoders trip on: bad percent escapes, overlong UTF-8, bracket syntax. */
const MALFORMED_QUERIES = ['%', '%zz=1', 'from=%C0%AF', 'to=%ED%A0%80', 'x=%FF%FE', '=', '&&&', 'a[b]=1', 'by=point&by=building', 'from[]=1', '%00=%00'];

const JSON_TYPE = 'application/json';
/** JSON nested up to 10,000 deep; the depth shrinks, so a failure shows the least depth that fails. */
const deepJson = fc
  .tuple(fc.integer({ min: 1, max: 10_000 }), fc.constantFrom('arrays', 'objects', 'unclosed'))
  .map(([depth, kind]) =>
    kind === 'arrays' ? '['.repeat(depth) + ']'.repeat(depth) : kind === 'objects' ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) : '['.repeat(depth * 10),
  );
/** Past the 1 MiB default body limit of fastify and near the 10 MiB of the CSV import. */
const HUGE_ARRAY = `[${'1,'.repeat(600_000)}1]`;
const HUGE_STRING = JSON.stringify({ values: 'x'.repeat(11 * 2 ** 20) });

/** Bodies: the schema's values as JSON, examples mutated, and raw hostile text of any media type. */
function bodyArbitrary(op: ReturnType<typeof operationsOf>[number], options: FuzzOptions): fc.Arbitrary<{ text: string; contentType?: string } | undefined> {
  const content = op.operation.requestBody?.content ?? {};
  const documented = Object.entries(content).map(([mediaType, { schema }]) =>
    schemaValue(schema, options.context).map((value) => ({
      text: mediaType.includes('json') || typeof value !== 'string' ? (JSON.stringify(value) ?? 'null') : value,
      contentType: mediaType,
    })),
  );
  const example = options.examples?.[op.name];
  const mutated = example === undefined ? [] : [mutatedExample(example).map((value) => ({ text: JSON.stringify(value) ?? 'null', contentType: JSON_TYPE }))];
  const raw = fc.record({
    text: fc.oneof(
      {
        weight: 3,
        arbitrary: fc.constantFrom(
          '{',
          '{"values":[',
          'null',
          '""',
          '1e999',
          '\u0000',
          '\uFEFF{}',
          '{"__proto__":{"polluted":1}}',
          '{"constructor":{"prototype":{"polluted":1}}}',
          '{"a":1,"a":2}',
          '[]',
          'true',
        ),
      },
      { weight: 1, arbitrary: deepJson },
      { weight: 1, arbitrary: csvText(options.context) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    ),
    contentType: fc.constantFrom<string | undefined>(
      JSON_TYPE,
      'text/csv',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset=utf-16',
      'application/xml',
      undefined,
    ),
  });
  const huge = fc.record({ text: fc.constantFrom(HUGE_ARRAY, HUGE_STRING), contentType: fc.constantFrom<string | undefined>(JSON_TYPE, 'text/csv') });
  return fc.oneof(
    { weight: 8, arbitrary: documented.length ? fc.oneof(...documented) : fc.constant(undefined) },
    { weight: mutated.length ? 8 : 0, arbitrary: mutated[0] ?? fc.constant(undefined) },
    { weight: 4, arbitrary: raw },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: huge },
  );
}

/** A small CSV file: a header of known and hostile names, rows of hostile cells, `;` or `,`. */
function csvText(context: ArbitraryContext): fc.Arbitrary<string> {
  const cell = fc.oneof(
    fc.constantFrom(...context.knownStrings, '01/09/2026', '2026-09-01', '8,6', '1e308', '-0', '', '"', '"a""b"', '=cmd|x'),
    fc.constantFrom(...HOSTILE_STRINGS),
  );
  return fc
    .tuple(fc.constantFrom(';', ','), fc.array(fc.array(cell, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 6 }), fc.constantFrom('\n', '\r\n'))
    .map(([delimiter, rows, newline]) => rows.map((r) => r.join(delimiter)).join(newline));
}

function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

/** Percent-encodes as encodeURIComponent does, a lone surrogate as the bytes a sloppy encoder would send. */
function encodeComponent(text: string): string {
  return text.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]|[\uD800-\uDFFF]|[^]/g, (c) =>
    c.length === 1 && c >= '\uD800' && c <= '\uDFFF' ? '%ED%A0%80' : encodeURIComponent(c),
  );
}
