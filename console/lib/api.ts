/**
 * The console's HTTP client: every call goes to the public API with the signed-in key, and every failure
 * becomes an ApiError holding the API's problem (RFC 9457) so a page can show its title, detail and
 * request id. Nothing here touches the DOM, so it runs (and is tested) in Node as in the browser.
 */

export interface FieldError {
  field?: string;
  code?: string;
  message?: string;
}

/** The problem+json body every error of the API carries (src/http/problem.ts). */
export interface ProblemDetails {
  type?: string;
  title: string;
  status: number;
  detail?: string;
  code?: string;
  request_id?: string;
  errors?: FieldError[];
}

export class ApiError extends Error {
  constructor(readonly problem: ProblemDetails) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.name = 'ApiError';
  }
}

function isProblem(body: unknown): body is ProblemDetails {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as ProblemDetails).title === 'string' &&
    typeof (body as ProblemDetails).status === 'number'
  );
}

/**
 * The problem a failed response describes. A body that is not a problem (a proxy's HTML page, a cut
 * connection) still gives one, from the status line, with the X-Request-Id header when there is one.
 */
export async function problemOf(res: Response): Promise<ProblemDetails> {
  const requestId = res.headers.get('x-request-id') ?? undefined;
  let body: unknown = null;
  try {
    body = JSON.parse(await res.text());
  } catch {
    // not JSON: fall through to the status line
  }
  if (isProblem(body)) return { ...body, request_id: body.request_id ?? requestId };
  return {
    title: res.statusText || `HTTP ${res.status}`,
    status: res.status,
    detail: `The server answered ${res.status} without a problem description.`,
    ...(requestId ? { request_id: requestId } : {}),
  };
}

/** A network failure (server down, connection refused) as a problem, so pages show one kind of error. */
export function networkProblem(error: unknown): ProblemDetails {
  return {
    title: 'The server could not be reached',
    status: 0,
    detail: error instanceof Error ? error.message : String(error),
    code: 'network_error',
  };
}

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export class ApiClient {
  /** told when the token is refused (401): the key was revoked or rotated while the page was open */
  onUnauthorized: ((problem: ProblemDetails) => void) | null = null;

  constructor(
    /** the bearer token: a tenant's API key, or the admin token for admin calls */
    private readonly token: () => string | null,
    private readonly fetchFn: Fetch = (input, init) => fetch(input, init),
    private readonly base = '',
  ) {}

  /** A raw response for a 2xx answer; anything else throws ApiError with the API's problem. */
  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const token = this.token();
    if (token) headers.set('authorization', `Bearer ${token}`);
    let res: Response;
    try {
      res = await this.fetchFn(`${this.base}${path}`, { ...init, headers });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw new ApiError(networkProblem(error));
    }
    if (!res.ok) {
      const problem = await problemOf(res);
      if (res.status === 401) this.onUnauthorized?.(problem);
      throw new ApiError(problem);
    }
    return res;
  }

  async json<T>(
    path: string,
    init: { method?: string; body?: unknown; signal?: AbortSignal } = {},
  ): Promise<T> {
    const res = await this.request(path, {
      method: init.method ?? 'GET',
      ...(init.signal ? { signal: init.signal } : {}),
      ...(init.body === undefined
        ? {}
        : { body: JSON.stringify(init.body), headers: { 'content-type': 'application/json' } }),
    });
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }
}

/** Path and query in one string, leaving out parameters that are empty. */
export function withQuery(path: string, params: Record<string, string | number | undefined | null>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}
