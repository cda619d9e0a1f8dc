/**
 * Token buckets in PostgreSQL (issue 17), the same decisions as the in-process RateLimiter
 * (src/http/rate-limit.ts) but one budget for every server on the database: each take is one statement
 * that refills the bucket by the time since its last take, takes a token when one is there, and says
 * whether it did; the row lock of `ON CONFLICT DO UPDATE` orders concurrent takes from any server.
 * Buckets are refilled by the database's clock, so the servers' clocks do not matter.
 */
import type pg from 'pg';
import type { BucketPolicy, Decision } from '../../http/rate-limit.js';

const TAKE = `
  INSERT INTO rate_buckets AS b (key, tokens, at, last_allowed) VALUES ($1, $2::float8 - 1, clock_timestamp(), true)
  ON CONFLICT (key) DO UPDATE SET
    tokens = least($2::float8, b.tokens + extract(epoch FROM clock_timestamp() - b.at)::float8 * $3::float8)
             - CASE WHEN least($2::float8, b.tokens + extract(epoch FROM clock_timestamp() - b.at)::float8 * $3::float8) >= 1
                    THEN 1 ELSE 0 END,
    last_allowed = least($2::float8, b.tokens + extract(epoch FROM clock_timestamp() - b.at)::float8 * $3::float8) >= 1,
    at = clock_timestamp()
  RETURNING tokens, last_allowed AS allowed`;

export class PgRateLimiter {
  constructor(
    readonly policy: BucketPolicy,
    private readonly db: Pick<pg.Pool, 'query'>,
  ) {}

  async take(key: string): Promise<Decision> {
    const { perSecond, burst } = this.policy;
    const { rows } = await this.db.query<{ tokens: number; allowed: boolean }>(TAKE, [
      `${this.policy.name}:${key}`,
      burst,
      perSecond,
    ]);
    const { tokens, allowed } = rows[0]!;
    return {
      allowed,
      remaining: Math.max(0, Math.floor(tokens)),
      resetSeconds: Math.ceil((burst - tokens) / perSecond),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / perSecond)),
      policy: this.policy,
    };
  }
}

/**
 * Buckets untouched this long are full again under any policy whose bucket refills in less (burst / rate),
 * so their rows can go: the next take recreates them full, the same decision.
 */
export const IDLE_BUCKET_MS = 3_600_000;

/** Removes the buckets idle past IDLE_BUCKET_MS; how many went. */
export async function sweepIdleBuckets(db: Pick<pg.Pool, 'query'>): Promise<number> {
  const { rowCount } = await db.query(
    'DELETE FROM rate_buckets WHERE at < clock_timestamp() - make_interval(secs => $1::float8 / 1000)',
    [IDLE_BUCKET_MS],
  );
  return rowCount ?? 0;
}

/** Sweeps idle buckets every `everyMs` on an unreferenced timer; returns the stop. */
export function startBucketSweep(
  db: Pick<pg.Pool, 'query'>,
  everyMs: number,
  onError: (error: unknown) => void,
): () => void {
  const timer = setInterval(() => sweepIdleBuckets(db).catch(onError), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
