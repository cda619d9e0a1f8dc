import {
  type Bucket,
  binnedErrorBounds,
  errorBounds,
  exactErrorBounds,
  HOUR,
  isTimeGroup,
  rebuildQueued,
  type SalesJson,
  type SalesRequest,
  type SalesResult,
  UNFOLDED_MAX_AGE_MS,
} from '../src/domain/sales.js';
import { jsonBytes, Utf8Builder } from '../src/formats/utf8-builder.js';
import type { StreamTaskBase, TaskBase } from '../src/pool/protocol.js';
import type { SalesAnswer } from '../src/sales/buckets.js';
import { exactFromOrders } from '../src/sales/exact-scan.js';
import { BINNED_RELATIVE_ERROR } from '../src/sales/key-histograms.js';
import {
  type AsyncProductRanking,
  allBuckets,
  type ProductRanking,
  rankedAnswer,
  rankingOnReader,
} from '../src/sales/product-scan.js';
import { rollupReader } from '../src/sales/rollup-readers.js';
import { ordersEnoughToDecide, scanInsteadOfRebuild } from '../src/sales/stale-rollups.js';
import { ordersEnoughToWalk } from '../src/sales/time-walk.js';
import { HyperLogLog } from '../src/sketches/hll.js';
import { countOrdersInRange } from '../src/storage/order-counts.js';
import { journalHoldsEveryOrder } from '../src/storage/order-journal.js';
import { pgProductsFromBlocks } from '../src/storage/postgres/product-blocks.js';
import { pgFromRollups, type RollupRead, readsRollups } from '../src/storage/postgres/rollups.js';
import { pgSalesFromOrders } from '../src/storage/postgres/sales.js';
import { openShardReader } from '../src/storage/shards.js';
import type { Db } from '../src/storage/sqlite.js';
import { heldConnection, onPostgres, withPostgres } from '../src/worker/postgres.js';
import { type CatchUpResult, catchUpRollups } from '../src/worker/rollup-catch-up.js';
import {
  defineStreamTask,
  defineTask,
  type TaskContext,
  withTransfer,
} from '../src/worker/worker-context.js';

export type SalesInput = TaskBase &
  SalesRequest & {
    /** longest an approx answer spends catching up dirty hours before it answers without the rest */
    refreshBudgetMs: number;
    /** the upkeep thread folds new orders in (--rollup-refresh background): approx reads leave young ones */
    upkeepFolds: boolean;
  };

/**
 * Catches up what a request needs: the pending orders folded in, then the range's dirty hours rebuilt for
 * at most `budgetMs`. The upkeep thread does the same in the background after writes (refreshRollups), so
 * a read usually finds little or nothing left.
 */
function refresh(ctx: TaskContext, input: SalesInput, budgetMs: number, foldOnly = false): CatchUpResult {
  const done = catchUpRollups(ctx, input.tenantId, input, {
    budgetMs,
    yieldToWriters: false,
    foldOnly,
    // approx may leave orders a moment old unfolded rather than queue behind the writer; exact never
    ...(input.precision === 'approx'
      ? { unfoldedMaxAgeMs: UNFOLDED_MAX_AGE_MS, youngLeftToUpkeep: input.upkeepFolds }
      : {}),
    query: 'rollup_rebuild',
  });
  ctx.obs.record('rollup_rebuilt_hours_total', { by: 'read' }, done.hours);
  return done;
}

/** Two catch-ups of one read as one: what both did, and what the second left. */
function bothCatchUps(first: CatchUpResult, second: CatchUpResult): CatchUpResult {
  return {
    ...second,
    hours: first.hours + second.hours,
    rows: first.rows + second.rows,
    months: first.months + second.months,
    ms: first.ms + second.ms,
    pending_orders: first.pending_orders + second.pending_orders,
    pending_mode: first.pending_mode === 'none' ? second.pending_mode : first.pending_mode,
  };
}

/**
 * An answer from the pre-aggregates after catching them up. Where the order journal holds every order
 * (src/storage/order-journal.ts), new orders are folded in first and nothing rebuilt yet: if many hours of
 * the range are still to be rebuilt (a bulk load just landed), reading the range from the journal costs
 * far less than rebuilding them (src/sales/stale-rollups.ts), so either precision answers from it, exactly
 * and completely, and says a slice of the rebuild is to follow (`rebuild_queued`: the route sets it going
 * on the upkeep thread once the answer is out, so the read does not wait for it). Otherwise, as without a
 * journal: approx answers after one budgeted slice (saying what it left out); exact ones need every hour,
 * so past the slice they either finish the rebuild or read the orders themselves when that costs much
 * less; later reads go on rebuilding a slice each.
 */
function fromCaughtUpRollups(
  ctx: TaskContext,
  db: Db,
  input: SalesInput,
  reader: NonNullable<ReturnType<typeof rollupReader>>,
): { result: SalesAnswer; freshness: Record<string, unknown> } {
  const fromJournal = journalHoldsEveryOrder(db);
  let caughtUp = refresh(ctx, input, input.refreshBudgetMs, fromJournal);
  const staleScan = (): SalesAnswer | null => {
    const known = {
      remainingHours: caughtUp.remaining,
      rebuiltHours: caughtUp.hours,
      rebuiltOrders: caughtUp.rows,
      rangeHours: (input.end - input.start) / HOUR,
      groupBy: input.groupBy,
      fromJournal,
    };
    // counted only as far as both choices need: this one, and by time the walk's (exactFromOrders)
    const enough = Math.max(
      ordersEnoughToDecide(known),
      isTimeGroup(input.groupBy) ? ordersEnoughToWalk(db, input) : 0,
    );
    const stale = { ...known, ordersInRange: countOrdersInRange(db, input, enough) };
    if (!scanInsteadOfRebuild(stale)) return null;
    ctx.obs.record('metrics_stale_scans_total', { group_by: input.groupBy }, 1);
    return ctx.obs.timeQuery(`metrics_exact_${input.groupBy}`, () =>
      exactFromOrders(db, input, stale.ordersInRange),
    );
  };
  if (caughtUp.remaining > 0 && (fromJournal || input.precision === 'exact')) {
    const scanned = staleScan();
    if (scanned)
      return {
        result: scanned,
        freshness: {
          // the scan read every order committed before it: none left unfolded for this answer
          ...freshnessAfter({ ...caughtUp, unfolded_orders: 0, oldest_unfolded_ms: null }),
          policy: fromJournal
            ? `read from the order journal (every order, in columnar blocks): ${caughtUp.remaining} hours of the range were still to be rebuilt after a bulk load (a slice of their rebuild follows each such read on the upkeep thread)`
            : `read from the orders themselves: ${caughtUp.remaining} hours of the range were still to be rebuilt after a bulk load (later reads go on rebuilding them, a slice each)`,
          complete: true,
          ...(fromJournal ? { rebuild_queued: true } : {}),
        },
      };
    // not worth a scan: exact rebuilds every hour left; approx (whose slice waited for this choice)
    // rebuilds a slice, and says what it left out
    caughtUp = bothCatchUps(
      caughtUp,
      refresh(ctx, input, input.precision === 'exact' ? Number.POSITIVE_INFINITY : input.refreshBudgetMs),
    );
  }
  return { result: ctx.obs.timeQuery(reader.query, reader.read), freshness: freshnessAfter(caughtUp) };
}

/**
 * meta.freshness of an answer read from the rollups, after the catch-up that preceded it. An approx answer
 * may leave hours out when catching up would take longer than its budget: it says how many
 * (`stale_hours_in_range`, `complete: false`); those hours answer as they were before their latest writes.
 */
function freshnessAfter(f: CatchUpResult): Record<string, unknown> {
  return {
    policy:
      'new orders folded in as deltas (a bulk load: its hours rebuilt) in the background after writes, and on read what is left',
    folded_in_orders: f.pending_orders,
    rebuilt_hours: f.hours,
    rebuild_rows: f.rows,
    merged_months: f.months,
    rebuild_ms: f.ms,
    as_of: new Date().toISOString(),
    stale_hours_in_range: f.remaining,
    ...(f.unfolded_orders > 0
      ? { unfolded_orders: f.unfolded_orders, oldest_unfolded_ms: f.oldest_unfolded_ms }
      : {}),
    complete: f.remaining === 0 && f.unfolded_orders === 0,
  };
}

/** The answer with its meta, from what read it. */
function salesResult(
  input: SalesInput,
  result: SalesAnswer,
  freshness: Record<string, unknown>,
  started: number,
): SalesResult {
  const aligned = input.start % HOUR === 0 && input.end % HOUR === 0;
  return {
    data: result.data,
    meta: {
      method: result.method,
      precision: input.precision,
      group_by: input.groupBy,
      statuses: input.statuses,
      elapsed_ms: Math.round((performance.now() - started) * 10) / 10,
      rows_scanned: result.rows,
      freshness,
      // approx answers carry their bounds; one computed exactly (every line read) says its error is zero
      ...(input.precision === 'approx'
        ? result.method.startsWith('approx')
          ? {
              error_bounds: errorBounds(HyperLogLog.RSE),
              ...(aligned ? {} : { range_rounded_to_whole_hours: true }),
            }
          : {
              error_bounds:
                result.percentiles === 'binned'
                  ? binnedErrorBounds(BINNED_RELATIVE_ERROR)
                  : exactErrorBounds(),
            }
        : {}),
    },
  };
}

/** Read from the orders themselves: every order committed before the read, so complete like the others. */
const fromOrders = () => ({
  policy: 'read from the orders themselves',
  as_of: new Date().toISOString(),
  complete: true,
});
const fromLineBlocks = () => ({
  policy:
    'read from the line blocks of clean whole days and, for the rest, from the orders themselves: every order committed before the read',
  as_of: new Date().toISOString(),
  complete: true,
});

/** Whether the answer is a product ranking read from every line of the range (SQLite, not source=orders). */
function readsLines(ctx: TaskContext, input: SalesInput): boolean {
  return input.groupBy === 'product' && input.source !== 'orders' && !onPostgres(ctx);
}

/** A product ranking answered whole (JSON: a top of at most a thousand), read in one transaction. */
function rankedProducts(ctx: TaskContext, db: Db, input: SalesInput): SalesAnswer {
  return ctx.obs.timeQuery('metrics_product_scan', () => rankedAnswer(db, input, { top: input.top }));
}

/**
 * A product ranking streamed (Arrow: up to every product) from a private reader holding one read
 * transaction while the stream is written, each slice of the ranked products read as the stream reaches
 * it (src/sales/product-scan.ts), so the task holds one slice's figures at a time.
 */
function streamedProducts(ctx: TaskContext, input: SalesInput): ProductRanking {
  return ctx.obs.timeQuery('metrics_product_scan', () =>
    rankingOnReader(openShardReader(ctx.data.dataDir, input.tenantId), input, { top: input.top }),
  );
}

/**
 * On PostgreSQL: by time over whole hours and by category over whole days, in either precision, from the
 * pre-aggregates when none of the range's days is pending, and by product from the line blocks likewise
 * (src/storage/postgres/rollups.ts, product-blocks.ts); everything else, and those while days are pending,
 * aggregated from the orders (meta.freshness says which, and why). `read`: what the pre-aggregates said
 * already, if the caller asked them (null: they do not hold the shape).
 */
async function answerOnPostgres(
  ctx: TaskContext,
  input: SalesInput,
  started: number,
  read: RollupRead | null | undefined = undefined,
): Promise<SalesResult> {
  let freshness: Record<string, unknown> = fromOrders();
  if (read === undefined) read = input.source === 'orders' ? null : await pgPreAggregated(ctx, input);
  if (read && 'answer' in read) return salesResult(input, read.answer, fromPgPreAggregates(input), started);
  if (read) {
    ctx.obs.record('metrics_stale_scans_total', { group_by: input.groupBy }, 1);
    freshness = { ...freshness, pre_aggregates: read.notReady };
  }
  return withPostgres(
    ctx,
    `metrics_exact_${input.groupBy}`,
    async (client) =>
      salesResult(input, await pgSalesFromOrders(client, input.tenantId, input), freshness, started),
    { rerunnable: true },
  );
}

/** Read from PostgreSQL's pre-aggregates (by product: the line blocks), nothing pending. */
const fromPgPreAggregates = (input: SalesInput) => ({
  policy: `read from the pre-aggregates${input.groupBy === 'product' ? " (line blocks of the range's whole days; the part-days at its ends from the orders)" : ''}: every day of the range folded in, nothing pending`,
  as_of: new Date().toISOString(),
  complete: true,
});

/** A product ranking from PostgreSQL's line blocks, read whole (a JSON answer), or why not. */
function pgRanking(ctx: TaskContext, input: SalesInput): Promise<RollupRead> {
  return withPostgres(
    ctx,
    'metrics_product_blocks',
    async (client) => {
      const read = await pgProductsFromBlocks(client, input.tenantId, input);
      if (!('ranking' in read)) return read;
      const { buckets, ...summary } = read.ranking; // rows, method (and how percentiles were found)
      return { answer: { data: await allBuckets(read.ranking), ...summary } };
    },
    { rerunnable: true },
  );
}

/**
 * A product ranking from PostgreSQL's line blocks streamed (Arrow), or why not: one of the thread's
 * connections holds the ranking's snapshot while the stream is written, each slice read as the stream
 * reaches it (as a search stream holds its read), and goes back to the pool when the buckets end, fail or
 * are abandoned.
 */
async function pgStreamedRanking(
  ctx: TaskContext,
  input: SalesInput,
): Promise<{ ranking: AsyncProductRanking } | { notReady: string }> {
  const started = performance.now();
  const held = await heldConnection();
  const { client } = held;
  let failure: Error | undefined;
  const release = () => held.release(failure);
  try {
    const read = await pgProductsFromBlocks(client, input.tenantId, input);
    ctx.obs.record(
      'db_query_duration_seconds',
      { query: 'metrics_product_blocks' },
      (performance.now() - started) / 1000,
    );
    if (!('ranking' in read)) {
      release();
      return read;
    }
    const { ranking, close } = read;
    return {
      ranking: {
        ...ranking,
        async *buckets() {
          try {
            yield* ranking.buckets();
          } catch (error) {
            failure = error as Error;
            throw error;
          } finally {
            await close().catch((error: unknown) => {
              failure ??= error as Error;
            });
            release();
          }
        },
      },
    };
  } catch (error) {
    failure = error as Error;
    release();
    throw error;
  }
}

/**
 * The answer from PostgreSQL's pre-aggregates where they hold the request's shape (by time over whole
 * hours, by category over whole days, by product any range), or why not; null for a shape they never hold.
 */
async function pgPreAggregated(ctx: TaskContext, input: SalesInput): Promise<RollupRead | null> {
  if (input.groupBy === 'product') return pgRanking(ctx, input);
  if (!readsRollups(input)) return null;
  return withPostgres(
    ctx,
    `metrics_rollup_${input.groupBy}`,
    (client) => pgFromRollups(client, input.tenantId, input),
    { rerunnable: true },
  );
}

/** One answer (JSON task) or the same answer as Arrow record batches (stream task). */
function answerSales(ctx: TaskContext, input: SalesInput): SalesResult | Promise<SalesResult> {
  const started = performance.now();
  if (onPostgres(ctx)) return answerOnPostgres(ctx, input, started);
  const db = ctx.shards.db(input.tenantId);
  let result: SalesAnswer;
  let freshness: Record<string, unknown>;
  const reader = rollupReader(db, input);
  if (readsLines(ctx, input)) {
    result = rankedProducts(ctx, db, input);
    freshness = fromLineBlocks();
  } else if (reader) {
    ({ result, freshness } = fromCaughtUpRollups(ctx, db, input, reader));
  } else {
    result = ctx.obs.timeQuery(`metrics_exact_${input.groupBy}`, () => exactFromOrders(db, input));
    freshness = fromOrders();
  }
  return salesResult(input, result, freshness, started);
}

/** The JSON answers' bytes, written into memory the worker keeps (one answer at a time: it is synchronous). */
const answerBytes = new Utf8Builder();

/** One answer as JSON bytes, moved to the main thread (SalesJson). */
export const salesMetrics = defineTask('salesMetrics', async (ctx, input: SalesInput): Promise<SalesJson> => {
  const result = await answerSales(ctx, input);
  const body = jsonBytes(result, answerBytes);
  return withTransfer({ body, rebuildQueued: rebuildQueued(result.meta) }, [body.buffer]);
});

/**
 * The buckets of an Arrow answer and its meta: a product ranking's buckets made a record batch at a time,
 * not held whole (meta's elapsed_ms: up to the ranking); any other answer whole.
 */
async function streamedAnswer(
  ctx: TaskContext,
  input: SalesInput,
): Promise<{ buckets: Iterable<Bucket> | AsyncIterable<Bucket>; meta: Record<string, unknown> }> {
  const started = performance.now();
  const lazily = (
    { buckets, ...summary }: ProductRanking | AsyncProductRanking,
    freshness: Record<string, unknown>,
  ) => ({
    buckets: buckets(),
    meta: salesResult(input, { data: [], ...summary }, freshness, started).meta,
  });
  if (readsLines(ctx, input)) return lazily(streamedProducts(ctx, input), fromLineBlocks());
  let answer: SalesResult;
  if (onPostgres(ctx) && input.groupBy === 'product' && input.source !== 'orders') {
    const read = await pgStreamedRanking(ctx, input);
    if ('ranking' in read) return lazily(read.ranking, fromPgPreAggregates(input));
    answer = await answerOnPostgres(ctx, input, started, read);
  } else answer = await answerSales(ctx, input);
  return { buckets: answer.data, meta: answer.meta };
}

export type SalesArrowInput = StreamTaskBase & SalesInput & { batchRows: number };

/** What an Arrow answer's stream ends with (its `done` outcome's meta): whether a rebuild slice is due. */
export interface SalesArrowOutcome {
  rebuildQueued: boolean;
}

/**
 * The same answer as an Arrow IPC stream, written a record batch at a time as the client takes them
 * (credits): for results too large for one JSON document, such as every product's ranking. apache-arrow
 * loads on the first such request, not with the worker.
 */
export const salesMetricsArrow = defineStreamTask(
  'salesMetricsArrow',
  async (ctx, input: SalesArrowInput, sink) => {
    const { bucketsAsArrowStream } = await import('../src/formats/bucket-arrow.js');
    const { buckets, meta } = await streamedAnswer(ctx, input);
    const keyKind = input.groupBy === 'product' ? 'integer' : 'text';
    let rows = 0;
    const counted = async function* () {
      for await (const b of buckets) {
        rows++;
        yield b;
      }
    };
    for await (const bytes of bucketsAsArrowStream(counted(), keyKind, meta, input.batchRows))
      await sink.writeBytes(bytes);
    ctx.obs.record('stream_rows_total', { route: 'metrics_sales' }, rows);
    // read from the order journal past stale pre-aggregates: the route sets a slice of the rebuild going
    const outcome: SalesArrowOutcome = { rebuildQueued: rebuildQueued(meta) };
    return outcome;
  },
  // nothing can follow a broken Arrow stream in-band: it ends without its end marker, which readers reject
  () => '',
);
