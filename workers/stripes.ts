import type { OrderPosition } from '../src/domain/cursor.js';
import type { SearchFilters } from '../src/domain/search.js';
import type { TaskBase } from '../src/pool/protocol.js';
import { buildPgPositionAtSql } from '../src/storage/postgres/search-sql.js';
import { buildPositionAtSql } from '../src/storage/search-sql.js';
import { openShardReader } from '../src/storage/shards.js';
import { statementCache } from '../src/storage/sqlite.js';
import { onPostgres, workerPostgres } from '../src/worker/postgres.js';
import { defineTask, type TaskContext } from '../src/worker/worker-context.js';

export interface StripeCutsInput extends TaskBase {
  filters: SearchFilters;
  /** Where the stripes start (exclusive; null: the newest row). */
  after: OrderPosition | null;
  /** Rows per stripe. */
  every: number;
  /** Stripes to cut at most in this call. */
  count: number;
  /** Rows the result may still take (a search page's limit); none: every row. */
  maxRows?: number;
}

export interface StripeCuts {
  /** Where each stripe ends (its last row). */
  cuts: OrderPosition[];
  /** The rows those stripes hold. */
  taken: number;
  /** No stripe is left after these (and `rest`). */
  end: boolean;
  /** The rows after the last cut, fewer than a stripe, end the result: one more stripe, to the end. */
  rest: boolean;
  /** The result stopped at maxRows with rows after it (a search page has a next page). */
  more: boolean;
}

/**
 * Where the next stripes of a result end: the position of every `every`-th row after `after` (an index
 * scan of count × every entries in SQLite, no rows built), stopping at `maxRows`.
 */
export const stripeCuts = defineTask(
  'stripeCuts',
  async (ctx, input: StripeCutsInput): Promise<StripeCuts> => {
    const { positionAt, close } = positionReader(ctx, input);
    try {
      return await cutStripes(input, positionAt);
    } finally {
      close();
    }
  },
);

/** The position of the match at `offset` after `after` (undefined: there is none). */
type PositionAt = (after: OrderPosition | null, offset: number) => Promise<OrderPosition | undefined>;

async function cutStripes(input: StripeCutsInput, positionAt: PositionAt): Promise<StripeCuts> {
  const cuts: OrderPosition[] = [];
  let position = input.after;
  let taken = 0;
  const left = () => (input.maxRows ?? Number.POSITIVE_INFINITY) - taken;
  while (cuts.length < input.count) {
    if (left() === 0)
      return { cuts, taken, end: true, rest: false, more: (await positionAt(position, 0)) !== undefined };
    const step = Math.min(input.every, left());
    const next = await positionAt(position, step - 1);
    if (!next) return { cuts, taken, end: true, rest: true, more: false };
    cuts.push(next);
    position = next;
    taken += step;
  }
  return { cuts, taken, end: false, rest: false, more: false };
}

/** Positions on the tenant's storage, and what to close once the cuts are made. */
function positionReader(
  ctx: TaskContext,
  input: StripeCutsInput,
): { positionAt: PositionAt; close: () => void } {
  if (onPostgres(ctx))
    return {
      positionAt: async (after, offset) => {
        const at = buildPgPositionAtSql(input.tenantId, input.filters, after, offset);
        return (await (await workerPostgres()).query<OrderPosition>(at.sql, at.params)).rows[0];
      },
      close: () => {},
    };
  // Each cut skips a stripe of index entries: a scan that would fill the thread's shared page cache (8 MiB
  // per worker) with pages read once, evicting what point reads want; a private small cache reads them
  // from the OS page cache instead.
  const db = openShardReader(ctx.data.dataDir, input.tenantId);
  const statement = statementCache(db);
  return {
    positionAt: async (after, offset) => {
      const at = buildPositionAtSql(input.filters, after);
      return statement(at.sql).get(...at.params, offset) as OrderPosition | undefined;
    },
    close: () => db.close(),
  };
}
