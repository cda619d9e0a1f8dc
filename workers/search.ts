import { type CursorPosition, encodeCursor } from '../src/domain/cursor.js';
import type { SearchField, SearchFilters } from '../src/domain/search.js';
import { filterShape, searchTrailer } from '../src/domain/search.js';
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

type Row = Record<string, unknown> & { _created_at: number; _order_pk: number; items?: string };

/** Encodes one row in the requested field order; items arrive as JSON text and are spliced in as is. */
function encodeRow(row: Row, fields: readonly SearchField[]): string {
  let out = '{';
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const value = f === 'created_at' ? new Date(row._created_at).toISOString() : row[f];
    out += `${i ? ',' : ''}"${f}":${f === 'items' ? (value ?? '[]') : JSON.stringify(value)}`;
  }
  return `${out}}`;
}

/**
 * Streams one page: iterates the keyset query on its own read-only connection (an open iterator blocks
 * other statements on a connection) and writes encoded rows as the socket takes them.
 */
export const search = defineStreamTask(
  'search',
  async (ctx, input: SearchInput, sink) => {
    const started = performance.now();
    const db = openDatabase(shardPath(ctx.data.dataDir, input.tenantId), { readonly: true });
    let count = 0;
    let last: Row | null = null;
    let more = false;
    try {
      const { sql, params } = buildSearchSql(input.filters, input.fields, input.after, input.limit + 1);
      const stmt = db.prepare(sql);
      if (input.format === 'json') await sink.write('{"data":[');
      for (const row of stmt.iterate(...params) as IterableIterator<Row>) {
        if (count === input.limit) {
          more = true;
          break;
        }
        const line = encodeRow(row, input.fields);
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
      more && last
        ? encodeCursor(secret, input.tenantId, input.fingerprint, {
            createdAt: last._created_at,
            orderPk: last._order_pk,
          })
        : null;
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
