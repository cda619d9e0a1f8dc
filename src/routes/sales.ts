import type { Context } from 'hono';
import type { SalesArrowOutcome } from '../../workers/sales.js';
import {
  ARROW_STREAM_MEDIA_TYPE,
  DEFAULT_SALE_STATUSES,
  GROUP_BYS,
  MAX_RANGE_MS,
  MAX_TOP_ARROW,
  MAX_TOP_JSON,
  SalesQuery,
  type SalesRequest,
} from '../domain/sales.js';
import { accepted } from '../http/accept.js';
import { Problem } from '../http/problem.js';
import { RouteGroup } from '../http/register.js';
import type { AppEnv } from '../http/types.js';
import { validateQuery } from '../http/validation.js';
import { STREAM_PROBLEMS, workerStream } from '../http/worker-stream.js';
import { RebuildAfterReads } from '../jobs/rebuild-after-reads.js';
import type { AppDeps } from './deps.js';

/** Buckets per Arrow record batch. */
const ARROW_BATCH_ROWS = 8192;

/**
 * A rebuild slice asked for by a read starts once the tenant's reads have been quiet this long: the reads
 * a dashboard sends together or one after the other come within milliseconds of each other.
 */
const READS_QUIET_MS = 100;
/**
 * ...and at the latest this long after it was asked, however the reads keep coming: reads without a pause
 * still move the rebuild a slice (~250 ms) a second, instead of one per read beside them.
 */
const SLICE_MAX_WAIT_MS = 1_000;

/** What the route hands the sales tasks. */
type SalesTaskInput = SalesRequest & {
  requestId: string;
  tenantId: number;
  refreshBudgetMs: number;
  upkeepFolds: boolean;
};

export function salesRoutes(deps: AppDeps): RouteGroup {
  const routes = new RouteGroup(deps.openapi, '/api/v1/tenants/:tenant_id/metrics');
  /**
   * A read that answered from the order journal past stale pre-aggregates (a bulk load just landed) sets
   * one slice of their rebuild going on the upkeep thread, after its answer, one at a time per tenant: the
   * read does not wait for it, and reads keep the rebuild moving as on-read reads did by rebuilding a slice
   * themselves. The slice starts once the tenant's reads have been quiet for a moment (the reads that
   * follow, a dashboard's, do not share the cores with it: src/jobs/rebuild-after-reads.ts). Not while the
   * shard's rows are being written (the load is still coming: its next transaction would make the rebuilt
   * hours stale again, and the slice would take its CPU). With `--rollup-refresh background` the refresher
   * rebuilds them anyway.
   */
  const slices = new RebuildAfterReads({
    quietMs: READS_QUIET_MS,
    maxWaitMs: SLICE_MAX_WAIT_MS,
    run: async (tenantId) => {
      // a load began while the slice waited, or the server is stopping (its pool closes)
      if (deps.writes.writing(tenantId) || deps.state.draining) return;
      await deps.pool
        .background('refreshRollups', {
          requestId: 'rollup-rebuild-after-read',
          tenantId,
          budgetMs: deps.config.sales.readRefreshBudgetMs,
          writing: false,
        })
        .catch((error: unknown) =>
          deps.log.warn(
            { err: error, tenantId },
            'rebuilding a slice of the pre-aggregates after a read failed',
          ),
        );
    },
    started: (_tenantId, waitedMs) => deps.metrics.rollupSliceWait.observe(waitedMs / 1000),
  });
  const rebuildAfterRead = (tenantId: number) => {
    if (deps.config.sales.rollupRefresh === 'background' || deps.writes.writing(tenantId)) return;
    slices.ask(tenantId);
  };
  /** The answer as an Arrow IPC stream from one worker, a record batch at a time. */
  function streamArrow(c: Context<AppEnv>, request: SalesTaskInput): Response {
    slices.readStarted(request.tenantId);
    let stream: ReturnType<typeof workerStream>;
    try {
      stream = workerStream(
        c,
        deps,
        'salesMetricsArrow',
        { ...request, batchRows: ARROW_BATCH_ROWS },
        { logName: 'metrics' },
      );
    } catch (error) {
      slices.readEnded(request.tenantId);
      throw error;
    }
    const { body, done } = stream;
    // an answer read from the order journal sets a slice of the rebuild going once it is out, as in JSON
    void done
      .then((outcome) => {
        const ended = outcome.meta as SalesArrowOutcome | null | undefined;
        if (outcome.status === 'complete' && ended?.rebuildQueued) rebuildAfterRead(request.tenantId);
      })
      .finally(() => slices.readEnded(request.tenantId));
    return c.body(body, 200, {
      'content-type': ARROW_STREAM_MEDIA_TYPE,
      'cache-control': 'no-store',
      vary: 'Accept',
    });
  }

  routes.add(
    {
      method: 'get',
      path: '/api/v1/tenants/:tenant_id/metrics/sales',
      summary:
        'Sales metrics by hour, day, ISO week, month, product or category; approx (pre-aggregates + sketches) or exact',
      description: `group_by: ${GROUP_BYS.join(', ')}. start_date inclusive, end_date exclusive (ISO date or date-time, UTC). A sale is an order whose status is in status (default ${DEFAULT_SALE_STATUSES.join(',')}). approx by day, hour, week, month or (over whole days) category merges the rollups' HyperLogLog (unique customers) and t-digest (percentiles) and reports error_bounds (a bucket that is one hourly or daily row answers from the answer stored with it). exact by day or hour over whole hours merges the rollups' exact sets (sorted lists of distinct customers and of order values). By product, any range, both precisions: every line of the range is read once (the per-day columnar line blocks of clean whole days, the order journal for the rest; read again in slices of the products whose orders fit a fixed memory budget) and the answer is exact (approx reports error_bounds of zero). While a bulk load's pre-aggregates are still being rebuilt, either precision may read the range from the order journal instead (every committed order, exact: meta.freshness.policy says so, error_bounds are zero, and meta.freshness.rebuild_queued says a slice of the rebuild follows). Otherwise, or with source=orders (exact only; the tables alone), the orders are read. Percentiles are nearest-rank in exact mode. top (group_by=product) is at most ${MAX_TOP_JSON} in JSON; with Accept: ${ARROW_STREAM_MEDIA_TYPE} the answer is an Arrow IPC stream written a record batch at a time (columns key, orders, units, revenue_cents, unique_customers, avg_order_value_cents, p50/p95/p99_order_value_cents; meta as JSON in the schema metadata key orderflow.meta) and top may be up to ${MAX_TOP_ARROW.toLocaleString('en')}.`,
      tag: 'metrics',
      auth: 'api_key',
      query: SalesQuery,
      responses: {
        200: {
          description: `{"data":[bucket],"meta":{method, precision, elapsed_ms, rows_scanned, freshness, error_bounds?}}, or with Accept: ${ARROW_STREAM_MEDIA_TYPE} the same buckets as an Arrow IPC stream`,
        },
      },
      errors: ['validation_failed', 'invalid_range', 'range_too_large', ...STREAM_PROBLEMS],
    },
    async (c) => {
      const q = validateQuery(c, SalesQuery);
      if (q.source === 'orders' && q.precision !== 'exact')
        throw new Problem('validation_failed', 'source=orders needs precision=exact.');
      if (q.end_date <= q.start_date)
        throw new Problem('invalid_range', 'end_date must be after start_date.');
      if (q.end_date - q.start_date > MAX_RANGE_MS[q.group_by]) {
        throw new Problem(
          'range_too_large',
          `At most ${MAX_RANGE_MS[q.group_by] / 86_400_000} days by ${q.group_by}.`,
        );
      }
      const arrow = accepted(c.req.header('accept')).includes(ARROW_STREAM_MEDIA_TYPE);
      if (q.top > MAX_TOP_JSON && !arrow)
        throw new Problem(
          'validation_failed',
          `top above ${MAX_TOP_JSON} needs Accept: ${ARROW_STREAM_MEDIA_TYPE} (the answer is streamed in record batches).`,
        );
      deps.admission.check('work', c.get('tenantId'));
      const request = {
        requestId: c.get('requestId'),
        tenantId: c.get('tenantId'),
        groupBy: q.group_by,
        start: q.start_date,
        end: q.end_date,
        precision: q.precision,
        source: q.source,
        statuses: q.status ?? DEFAULT_SALE_STATUSES,
        top: q.top,
        refreshBudgetMs: deps.config.sales.readRefreshBudgetMs,
        upkeepFolds: deps.config.sales.rollupRefresh === 'background',
      };
      if (arrow) return streamArrow(c, request);
      // one task: a range by time is not cut across workers (design.md, "No parallel parts by time": once
      // the journal's blocks held a month each, two parts of a year by day still took 197–207 ms against
      // 167–190 for one on two cores; from whole pre-aggregates parts gained nothing measurable)
      slices.readStarted(request.tenantId);
      try {
        const answer = await deps.pool.run('salesMetrics', request);
        if (answer.rebuildQueued) rebuildAfterRead(request.tenantId);
        return c.body(answer.body as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'application/json' });
      } finally {
        slices.readEnded(request.tenantId);
      }
    },
  );
  return routes;
}
