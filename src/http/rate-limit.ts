/**
 * Token buckets: `burst` tokens, refilled at `perSecond`. Buckets live in a Map in last-use order; past
 * `maxBuckets` the least recently used are dropped (a dropped bucket comes back full, which only ever
 * errs towards letting a request through). One process only: servers sharing a PostgreSQL share their
 * buckets there instead (src/storage/postgres/rate-buckets.ts).
 */
export interface BucketPolicy {
  name: string;
  perSecond: number;
  burst: number;
}

export interface Decision {
  allowed: boolean;
  remaining: number;
  /** Seconds until a token is available (allowed=false) or until the bucket is full again. */
  resetSeconds: number;
  retryAfterSeconds: number;
  policy: BucketPolicy;
}

/** Takes a token from a key's bucket: in this process, or in a store several servers share. */
export interface TokenBuckets {
  readonly policy: BucketPolicy;
  take(key: string): Decision | Promise<Decision>;
}

export class RateLimiter implements TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly policy: BucketPolicy,
    private readonly maxBuckets = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.buckets.size;
  }

  take(key: string): Decision {
    const t = this.now();
    const { perSecond, burst } = this.policy;
    let b = this.buckets.get(key);
    if (b) this.buckets.delete(key);
    else b = { tokens: burst, at: t };
    b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * perSecond);
    b.at = t;
    const allowed = b.tokens >= 1;
    if (allowed) b.tokens -= 1;
    this.buckets.set(key, b);
    while (this.buckets.size > this.maxBuckets) this.buckets.delete(this.buckets.keys().next().value!);
    const missing = burst - b.tokens;
    return {
      allowed,
      remaining: Math.floor(b.tokens),
      resetSeconds: Math.ceil(missing / perSecond),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - b.tokens) / perSecond)),
      policy: this.policy,
    };
  }
}

/** IETF RateLimit headers (draft-ietf-httpapi-ratelimit-headers) for the tighter of several decisions. */
export function rateLimitHeaders(decisions: Decision[]): Record<string, string> {
  const tightest = decisions.reduce((a, b) =>
    b.remaining < a.remaining || (!b.allowed && a.allowed) ? b : a,
  );
  const policies = decisions.map(
    (d) =>
      `"${d.policy.name}";q=${d.policy.burst};w=${Math.max(1, Math.round(d.policy.burst / d.policy.perSecond))}`,
  );
  const headers: Record<string, string> = {
    'RateLimit-Policy': policies.join(', '),
    RateLimit: `"${tightest.policy.name}";r=${tightest.remaining};t=${tightest.resetSeconds}`,
  };
  const refused = decisions.filter((d) => !d.allowed);
  if (refused.length) headers['Retry-After'] = String(Math.max(...refused.map((d) => d.retryAfterSeconds)));
  return headers;
}
