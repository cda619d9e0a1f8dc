import type { Config } from '../config/load.js';
import type { OrderPosition } from '../domain/cursor.js';
import type { SearchFilters } from '../domain/search.js';
import type { WorkerPool } from '../pool/pool.js';
import type { StreamOptions } from '../pool/stream-receiver.js';
import type { StripeRange } from '../pool/striped-stream.js';

/** Stripe ends asked for at once (an index scan of this many stripes' rows), and in the first call. */
const CUTS_PER_CALL = 16;
const FIRST_CUTS = 2;

/**
 * The stripes of a keyset result, asked of a worker a few at a time (the stripeCuts task): each stripe
 * starts after the previous one's last row. With `maxRows`, the result stops there and `more()` tells
 * whether rows remain after it (a search page's next cursor).
 */
export function keysetStripes(
  pool: Pick<WorkerPool, 'run'>,
  base: { requestId: string; tenantId: number },
  filters: SearchFilters,
  start: OrderPosition | null,
  every: number,
  maxRows?: number,
) {
  let after = start;
  let taken = 0;
  let more = false;
  let calls = 0;
  const nextRanges = async (): Promise<{ ranges: StripeRange[]; end: boolean }> => {
    const left = maxRows === undefined ? undefined : maxRows - taken;
    const cut = await pool.run('stripeCuts', {
      ...base,
      filters,
      after,
      every,
      // the first answer is small, so the first stripe (and the first byte) does not wait for the others
      count: calls++ === 0 ? FIRST_CUTS : CUTS_PER_CALL,
      maxRows: left,
    });
    const ranges: StripeRange[] = [];
    for (const floor of cut.cuts) {
      ranges.push({ after, floor, limit: null });
      after = floor;
    }
    taken += cut.taken;
    // the rest, fewer rows than a stripe (unless rows arrived meanwhile: a page still stops at its limit)
    if (cut.rest) ranges.push({ after, floor: null, limit: maxRows === undefined ? null : maxRows - taken });
    more = cut.more;
    return { ranges, end: cut.end };
  };
  return { nextRanges, more: () => more };
}

/** What a stripe started ahead may produce before the client takes any of it (a whole stripe, typically). */
const STRIPE_AHEAD_BYTES = 1.5 * 1024 * 1024;

/**
 * How each stripe's worker stream runs: credits for a whole stripe (so the ones started ahead work on
 * while an earlier one is sent), and no send timeout of its own (the joined stream has one).
 */
export function stripeStreamOptions(
  streams: Config['streams'],
  trailerOnCrash: (error: Error) => Uint8Array | null,
): StreamOptions {
  return {
    credits: Math.max(streams.credits, Math.ceil(STRIPE_AHEAD_BYTES / streams.chunkBytes)),
    chunkBytes: streams.chunkBytes,
    sendTimeoutMs: 0,
    trailerOnCrash,
  };
}
