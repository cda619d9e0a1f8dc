import { encodeCursor, ORDER_KEYSET, type OrderPosition } from '../src/domain/cursor.js';
import type { SearchRequest } from '../src/domain/search.js';
import {
  filterShape,
  rowPosition,
  type SearchRow,
  searchClosing,
  searchRowEncoder,
  searchTrailer,
} from '../src/domain/search.js';
import type { StreamTaskBase } from '../src/pool/protocol.js';
import { pgSearchRows } from '../src/storage/postgres/search-rows.js';
import { buildSearchSql } from '../src/storage/search-sql.js';
import { openShardReader } from '../src/storage/shards.js';
import { onPostgres, workerPostgres } from '../src/worker/postgres.js';
import { defineStreamTask } from '../src/worker/worker-context.js';

export interface SearchInput extends StreamTaskBase, SearchRequest {
  /**
   * A whole page (opening, rows, the closing meta with its cursor), or one stripe of a long page
   * (src/http/search-stream.ts): rows down to `floor`, opening the document only if `first`, and the meta
   * written by whoever joins the stripes.
   */
  part: { kind: 'page' } | { kind: 'stripe'; floor: OrderPosition | null; first: boolean };
}

/** How a search stream ended: its rows and the position of its last one. */
export interface SearchMeta {
  next_cursor: string | null;
  count: number;
  last: OrderPosition | null;
  /** It stopped at its limit with rows left. */
  more: boolean;
}

/**
 * Streams one page, or one stripe of it: iterates the keyset query on its own read-only connection and
 * writes encoded rows as the socket takes them.
 */
export const search = defineStreamTask(
  'search',
  async (ctx, input: SearchInput, sink): Promise<SearchMeta> => {
    const started = performance.now();
    const { part } = input;
    const page = part.kind === 'page';
    const opening = page || part.first;
    const limit = page ? input.limit + 1 : input.limit;
    const floor = page ? null : part.floor;
    let count = 0;
    let last: SearchRow | null = null;
    let more = false;
    const encode = searchRowEncoder(input.fields);
    const json = input.format === 'json';
    /**
     * Writes one row (the promise of its write), or null once the page is full: the row read past it says
     * there is more. Not an async function: the loop awaits the write itself, one await per row.
     */
    const emit = (row: SearchRow): Promise<void> | null => {
      if (count === input.limit) {
        more = true;
        return null;
      }
      const line = encode(row);
      const written = sink.write(json ? (count || !opening ? `,${line}` : line) : `${line}\n`);
      count++;
      last = row;
      // first bytes out early: time to first byte
      return count === 64 ? written.then(() => sink.flush()) : written;
    };
    if (json && opening) await sink.write('{"data":[');
    try {
      if (onPostgres(ctx)) {
        const rows = pgSearchRows(
          await workerPostgres(),
          input.tenantId,
          input.filters,
          input.fields,
          input.after,
          limit,
          floor,
        );
        for await (const row of rows) {
          const written = emit(row);
          if (!written) break;
          await written;
        }
      } else {
        const db = openShardReader(ctx.data.dataDir, input.tenantId);
        try {
          const { sql, params } = buildSearchSql(input.filters, input.fields, input.after, limit, floor);
          for (const row of db
            .prepare(sql)
            .raw()
            .iterate(...params) as IterableIterator<SearchRow>) {
            const written = emit(row);
            if (!written) break;
            await written;
          }
        } finally {
          db.close();
        }
      }
    } finally {
      const seconds = (performance.now() - started) / 1000;
      ctx.obs.record('db_query_duration_seconds', { query: `search:${filterShape(input.filters)}` }, seconds);
      ctx.obs.record('stream_rows_total', { route: 'orders_search' }, count);
    }
    const position = last && rowPosition(last);
    if (!page) return { next_cursor: null, count, last: position, more };
    const secret = ctx.data.cursorSecret as string;
    const next_cursor =
      more && position
        ? encodeCursor(secret, input.tenantId, input.fingerprint, ORDER_KEYSET, position)
        : null;
    await sink.write(searchClosing(input.format, { next_cursor, count }));
    return { next_cursor, count, last: position, more };
  },
  (failure, input) => searchTrailer(input.format, failure),
);
