import { type CursorPosition, encodeCursor } from '../src/domain/cursor.js';
import type { SearchField, SearchFilters } from '../src/domain/search.js';
import {
  filterShape,
  rowPosition,
  type SearchRow,
  searchRowEncoder,
  searchTrailer,
} from '../src/domain/search.js';
import type { StreamTaskBase } from '../src/pool/protocol.js';
import { defineStreamTask } from '../src/pool/worker-context.js';
import { buildSearchSql } from '../src/storage/search-sql.js';
import { shardPath } from '../src/storage/shards.js';
import { openDatabase } from '../src/storage/sqlite.js';

export interface SearchInput extends StreamTaskBase {
  filters: SearchFilters;
  fields: SearchField[];
  after: CursorPosition | null;
  limit: number;
  format: 'ndjson' | 'json';
  fingerprint: string;
}

/**
 * Streams one page: iterates the keyset query on its own read-only connection (an open iterator blocks
 * other statements on a connection) and writes encoded rows as the socket takes them.
 */
export const search = defineStreamTask(
  'search',
  async (ctx, input: SearchInput, sink) => {
    const started = performance.now();
    // A small private cache: a streaming scan reads each page about once, and the OS page cache serves re-reads.
    // Concurrent streams each hold one, so this bounds their memory (measured in perf/search).
    const db = openDatabase(shardPath(ctx.data.dataDir, input.tenantId), { readonly: true, cacheMiB: 2 });
    let count = 0;
    let last: SearchRow | null = null;
    let more = false;
    try {
      const { sql, params } = buildSearchSql(input.filters, input.fields, input.after, input.limit + 1);
      const stmt = db.prepare(sql).raw();
      const encode = searchRowEncoder(input.fields);
      if (input.format === 'json') await sink.write('{"data":[');
      for (const row of stmt.iterate(...params) as IterableIterator<SearchRow>) {
        if (count === input.limit) {
          more = true;
          break;
        }
        const line = encode(row);
        await sink.write(input.format === 'ndjson' ? `${line}\n` : count ? `,${line}` : line);
        count++;
        last = row;
        if (count === 64) await sink.flush(); // first bytes out early: time to first byte
      }
    } finally {
      db.close();
      const seconds = (performance.now() - started) / 1000;
      ctx.obs.record('db_query_duration_seconds', { query: `search:${filterShape(input.filters)}` }, seconds);
      ctx.obs.record('stream_rows_total', { route: 'orders_search' }, count);
    }
    const secret = ctx.data.cursorSecret as string;
    const next_cursor =
      more && last ? encodeCursor(secret, input.tenantId, input.fingerprint, rowPosition(last)) : null;
    const meta = { next_cursor, count };
    await sink.write(
      input.format === 'ndjson'
        ? `${JSON.stringify({ _meta: meta })}\n`
        : `],"meta":${JSON.stringify(meta)}}`,
    );
    return meta;
  },
  (failure, input) => searchTrailer(input.format, failure),
);
