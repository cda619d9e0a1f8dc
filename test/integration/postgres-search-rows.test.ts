import pg from 'pg';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderSchema, ProductSchema } from '../../src/domain/order-schema.js';
import { rowPosition } from '../../src/domain/search.js';
import { PgCatalog } from '../../src/storage/postgres/catalog.js';
import { migratePostgres } from '../../src/storage/postgres/migrations.js';
import { PgOrderWriter } from '../../src/storage/postgres/order-writer.js';
import { pgKeysetPages } from '../../src/storage/postgres/search-rows.js';
import { order, product } from '../helpers/data.js';
import { postgresUnavailable, scratchSchema } from '../helpers/postgres.js';

const unavailable = await postgresUnavailable();

const valid = (rows: unknown[], schema: typeof OrderSchema | typeof ProductSchema) =>
  rows.map((r) => v.parse(schema, r)) as never[];

describe.skipIf(unavailable !== null)(
  `PostgreSQL keyset pages${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let schema: Awaited<ReturnType<typeof scratchSchema>>;
    let pool: pg.Pool;
    let tenant: number;
    /** Writes orders A-<n> for each n, on a connection of their own, committed at once. */
    const write = async (ns: number[]) => {
      const client = await pool.connect();
      try {
        await new PgOrderWriter(client, tenant).writeBatch(
          valid(
            ns.map((n) => order(n)),
            OrderSchema,
          ),
        );
      } finally {
        client.release();
      }
    };
    const read = (pageRows: number, limit = -1) =>
      pgKeysetPages(pool, tenant, {}, ['order_id'], null, limit, null, pageRows);

    beforeAll(async () => {
      schema = await scratchSchema();
      pool = new pg.Pool({ connectionString: schema.url, max: 4, application_name: 'keyset-pages-test' });
      const setup = await pool.connect();
      await migratePostgres(setup);
      setup.release();
      tenant = (await new PgCatalog(pool).createTenant('pages')).tenant_id;
      const client = await pool.connect();
      await new PgOrderWriter(client, tenant).writeProducts(
        valid([product(1), product(2), product(3)], ProductSchema),
      );
      client.release();
      // orders a minute apart: A-0 oldest
      await write(Array.from({ length: 3000 }, (_, i) => 2 * i));
    });
    afterAll(async () => {
      await pool?.end();
      await schema?.drop();
    });

    it('reads every page of one read from one snapshot: orders committed between pages do not show up', async () => {
      const seen: string[] = [];
      let last: { createdAt: number; orderPk: number } | null = null;
      let pages = 0;
      for await (const rows of read(500)) {
        pages++;
        for (const row of rows) {
          seen.push(row[2] as string); // after the sort key (created_at, order_pk)
          // keyset order: newest first, never repeating a position
          const at = rowPosition(row);
          if (last)
            expect(
              at.createdAt < last.createdAt || (at.createdAt === last.createdAt && at.orderPk < last.orderPk),
            ).toBe(true);
          last = at;
        }
        // after the first page, orders between the old ones: on every later page's range
        if (pages === 1) await write(Array.from({ length: 1000 }, (_, i) => 2 * i + 1));
      }
      expect(pages).toBe(6);
      expect(seen).toHaveLength(3000);
      expect(seen.filter((id) => Number(id.slice(2)) % 2 === 1)).toEqual([]);
      // the next read sees them
      let after = 0;
      for await (const rows of read(2000)) after += rows.length;
      expect(after).toBe(4000);
    });

    it('ends its transaction when the reader stops early, and leaves no session idle in a transaction', async () => {
      for await (const rows of read(100, 1000)) {
        expect(rows).toHaveLength(100);
        break;
      }
      const { rows } = await pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_stat_activity
          WHERE application_name = 'keyset-pages-test' AND state LIKE 'idle in transaction%'`,
      );
      expect(Number(rows[0]!.n)).toBe(0);
      expect(pool.totalCount).toBe(pool.idleCount);
    });
  },
);
