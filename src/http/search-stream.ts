import type { Context } from 'hono';
import type { SearchMeta } from '../../workers/search.js';
import { encodeCursor, ORDER_KEYSET } from '../domain/cursor.js';
import { type SearchRequest, searchClosing, searchTrailer } from '../domain/search.js';
import type { StreamHandle } from '../pool/stream-receiver.js';
import { stripedStream } from '../pool/striped-stream.js';
import type { AppDeps } from '../routes/deps.js';
import { needsSort } from '../storage/search-sql.js';
import { keysetStripes, stripeStreamOptions } from './keyset-stripes.js';
import type { AppEnv } from './types.js';
import { gatedStream, workerStream } from './worker-stream.js';

/** Rows per stripe of a long page; a page no longer than this streams from one worker. */
export const SEARCH_STRIPE_ROWS = 4096;

const text = new TextEncoder();

/**
 * A search page as a stream. A long page over the ordered index (no product, text or email filter) is
 * cut into stripes of SEARCH_STRIPE_ROWS, `--export-parts` of them streamed at once by their own workers
 * and joined in order, the closing meta (count, next cursor) written at the end; any other page streams
 * from one worker task.
 */
export function searchStream(
  c: Context<AppEnv>,
  deps: Pick<AppDeps, 'pool' | 'config' | 'admission' | 'streams' | 'faults' | 'cursorSecret'>,
  request: SearchRequest,
): StreamHandle {
  const { config, pool } = deps;
  const failureTrailer = (failure: { code: string; detail: string }) =>
    text.encode(searchTrailer(request.format, failure));
  const trailerOnCrash = (error: Error) => failureTrailer({ code: 'worker_failed', detail: error.message });
  if (needsSort(request.filters) || request.limit <= SEARCH_STRIPE_ROWS || config.export.parts <= 1)
    return workerStream(
      c,
      deps,
      'search',
      { ...request, part: { kind: 'page' } },
      { logName: 'search', trailerOnCrash },
    );

  const base = { requestId: c.get('requestId'), tenantId: c.get('tenantId') };
  const stripes = keysetStripes(
    pool,
    base,
    request.filters,
    request.after,
    SEARCH_STRIPE_ROWS,
    request.limit,
  );
  const open = () =>
    stripedStream({
      ahead: config.export.parts + 1,
      sendTimeoutMs: config.streams.sendTimeoutS * 1000,
      nextRanges: stripes.nextRanges,
      start: (range, index) =>
        pool.stream(
          'search',
          {
            ...base,
            ...request,
            after: range.after,
            limit: range.limit ?? -1,
            part: { kind: 'stripe', floor: range.floor, first: index === 0 },
          },
          stripeStreamOptions(config.streams, trailerOnCrash),
        ),
      finish: async (finished) => {
        const metas = finished.map((f) => f.meta as SearchMeta);
        const count = metas.reduce((sum, m) => sum + m.count, 0);
        const last = metas.findLast((m) => m.last)?.last;
        const more = stripes.more() || metas.at(-1)?.more === true;
        const next_cursor =
          more && last
            ? encodeCursor(deps.cursorSecret, base.tenantId, request.fingerprint, ORDER_KEYSET, last)
            : null;
        const opening = request.format === 'json' && finished.length === 0 ? '{"data":[' : '';
        return text.encode(`${opening}${searchClosing(request.format, { next_cursor, count })}`);
      },
      failureTrailer,
    });
  return gatedStream(c, deps, open, { logName: 'search' });
}
