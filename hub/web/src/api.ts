/**
 * The hub's JSON API, same origin. Reads are plain GETs; writes carry the session's CSRF token
 * (x-csrf-token), which the hub requires of every write made with the session cookie. A refused
 * call throws ApiError with the hub's own words (`error`) and, for a definition or a file, its
 * `issues` (where and what), so that a form can show each next to its field.
 */
export interface ApiIssue {
  path?: string;
  message: string;
  column?: number;
  row?: number;
  [key: string]: unknown;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
    readonly issues: ApiIssue[] = [],
    readonly body: unknown = undefined,
    /** Seconds to wait before trying again, when the hub says (Retry-After of a 429). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

let csrfToken: string | undefined;

/** Set by the session (session.tsx) whenever the hub gives a new token. */
export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

async function call<T>(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set('accept', 'application/json');
  if (method !== 'GET' && csrfToken) headers.set('x-csrf-token', csrfToken);
  let payload: BodyInit | undefined;
  if (body instanceof FormData || typeof body === 'string' || body instanceof Blob) payload = body;
  else if (body !== undefined) {
    headers.set('content-type', 'application/json');
    payload = JSON.stringify(body);
  }
  let response: Response;
  try {
    response = await fetch(path, { ...init, method, headers, body: payload, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'network');
  }
  if (response.status === 204) return undefined as T;
  const type = response.headers.get('content-type') ?? '';
  const parsed: unknown = type.includes('json') ? await response.json().catch(() => undefined) : await response.text();
  if (!response.ok) throw refusal(response.status, parsed, response.headers.get('retry-after'));
  return parsed as T;
}

/** The hub's refusal as an ApiError: its words, code and issues when it gave them. */
function refusal(status: number, parsed: unknown, retryAfterHeader: string | null): ApiError {
  const answer = (typeof parsed === 'object' && parsed) as { error?: string; code?: string; issues?: ApiIssue[] } | false;
  const retryAfter = Number(retryAfterHeader ?? NaN);
  return new ApiError(
    status,
    (answer && answer.error) || `HTTP ${status}`,
    answer ? answer.code : undefined,
    (answer && answer.issues) || [],
    parsed,
    Number.isFinite(retryAfter) ? retryAfter : undefined,
  );
}

/**
 * POSTs a file as the body of `path`, telling `onProgress` how many bytes have been sent of how
 * many (fetch cannot tell an upload's progress; XMLHttpRequest can). Answered and refused as `api.post`.
 */
export function upload<T>(path: string, file: Blob, contentType: string, onProgress: (sent: number, total: number) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('accept', 'application/json');
    xhr.setRequestHeader('content-type', contentType);
    if (csrfToken) xhr.setRequestHeader('x-csrf-token', csrfToken);
    xhr.upload.onprogress = (event) => onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    xhr.onerror = () => reject(new ApiError(0, 'network'));
    xhr.onabort = () => reject(new ApiError(0, 'aborted'));
    xhr.onload = () => {
      const type = xhr.getResponseHeader('content-type') ?? '';
      let parsed: unknown = xhr.responseText;
      if (type.includes('json')) {
        try {
          parsed = JSON.parse(xhr.responseText);
        } catch {
          parsed = undefined;
        }
      }
      if (xhr.status === 204) resolve(undefined as T);
      else if (xhr.status >= 200 && xhr.status < 300) resolve(parsed as T);
      else reject(refusal(xhr.status, parsed, xhr.getResponseHeader('retry-after')));
    };
    xhr.send(file);
  });
}

export const api = {
  get: <T>(path: string, init?: RequestInit) => call<T>('GET', path, undefined, init),
  post: <T>(path: string, body?: unknown, init?: RequestInit) => call<T>('POST', path, body, init),
  put: <T>(path: string, body?: unknown, init?: RequestInit) => call<T>('PUT', path, body, init),
  delete: <T>(path: string, init?: RequestInit) => call<T>('DELETE', path, undefined, init),
};

/** A path with its query, leaving out empty values. */
export function withQuery(path: string, query: Record<string, string | number | undefined | null>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}
