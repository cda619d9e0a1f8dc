import type pg from 'pg';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptySummary } from '../../src/domain/ingest-kinds.js';
import { ProductSchema } from '../../src/domain/order-schema.js';
import { parseChunk } from '../../src/ingest/ingest-chunk.js';
import { batchOf, encodeBatch } from '../../src/ingest/row-transfer.js';
import type { WritePart } from '../../src/ingest/write-parts.js';
import { writePartsOnPostgres } from '../../src/ingest/write-parts-postgres.js';
import { ObservationBuffer } from '../../src/obs/observations.js';
import { PgCatalog } from '../../src/storage/postgres/catalog.js';
import { migratePostgres } from '../../src/storage/postgres/migrations.js';
import { PgOrderWriter } from '../../src/storage/postgres/order-writer.js';
import { ndjson, order, product } from '../helpers/data.js';
import { postgresUnavailable, scratchSchema } from '../helpers/postgres.js';

/** The writer lane's job on PostgreSQL (src/ingest/write-parts-postgres.ts), on a connection of its own. */
const unavailable = await postgresUnavailable();
if (unavailable) console.warn(`PostgreSQL write parts not tested: ${unavailable}`);

describe.skipIf(unavailable !== null)('writing parts on PostgreSQL', () => {
  let schema: Awaited<ReturnType<typeof scratchSchema>>;
  let pool: pg.Pool;
  let tenant: number;
  beforeAll(async () => {
    schema = await scratchSchema();
    pool = schema.pool();
    const setup = await pool.connect();
    await migratePostgres(setup);
    setup.release();
    tenant = (await new PgCatalog(pool).createTenant('parts')).tenant_id;
    const client = await pool.connect();
    try {
      await new PgOrderWriter(client, tenant).writeProducts(
        [1, 2, 3].map((id) => v.parse(ProductSchema, product(id))),
      );
    } finally {
      client.release();
    }
  });
  afterAll(async () => {
    await pool?.end();
    await schema?.drop();
  });

  let seq = 0;
  const ordersPart = (from: number, count: number, upload?: WritePart['upload']): WritePart => {
    const rows = Array.from({ length: count }, (_, i) => order(from + i));
    const valid = parseChunk(
      { obs: new ObservationBuffer() },
      {
        requestId: 'p',
        tenantId: tenant,
        kind: 'orders',
        bytes: new TextEncoder().encode(ndjson(rows)),
        firstLine: 1,
        batchRows: 1000,
        maxErrors: 10,
      },
    ).valid;
    return {
      requestId: `part-${from}`,
      kind: 'orders',
      rows: encodeBatch(batchOf('orders', valid)),
      rowCount: valid.length,
      maxErrors: 10,
      seq: ++seq,
      ...(upload ? { upload } : {}),
    };
  };

  it("an upload's consecutive chunks and a request's part go in one transaction; the cursor ends past the last chunk", async () => {
    const uploadId = 'upl_twochunksinone00';
    await pool.query(
      `INSERT INTO uploads (tenant_id, upload_id, state, created_at, updated_at, expires_at)
       VALUES ($1, $2, 'receiving', now(), now(), now() + interval '1 day')`,
      [tenant, uploadId],
    );
    const chunk = (n: number) => ({
      uploadId,
      parsed: { ...emptySummary(), received: 10 },
      firstLine: n * 10 + 1,
      lines: 10,
      startOffset: n * 1000,
      endOffset: (n + 1) * 1000,
    });
    const result = await writePartsOnPostgres(new ObservationBuffer(), pool, {
      requestId: 'r',
      tenantId: tenant,
      commitRows: 10_000,
      parts: [ordersPart(3000, 10, chunk(0)), ordersPart(3100, 7), ordersPart(3010, 10, chunk(1))],
    });
    // one transaction: the second chunk was checked against where the first one leaves the cursor
    expect(result.transactions).toBe(1);
    expect(result.outcomes.map((o) => o.ok && o.summary.inserted)).toEqual([10, 7, 10]);
    const { rows } = await pool.query(
      `SELECT processed_offset::int AS at, lines_seen::int AS lines, rows_received::int AS received,
              rows_inserted::int AS inserted FROM uploads WHERE tenant_id = $1 AND upload_id = $2`,
      [tenant, uploadId],
    );
    expect(rows[0]).toEqual({ at: 2000, lines: 20, received: 20, inserted: 20 });
  });

  it("a transaction rolled back after it made the session's staging tables does not fail the parts retried after it", async () => {
    // one connection, as a lane thread's first task has: its first transaction creates the staging tables
    const single = schema.pool();
    try {
      // an upload chunk whose upload does not exist at that cursor fails its transaction after the orders
      // part before it staged and wrote its rows; both are then written again, one transaction each
      const gap = {
        uploadId: 'upl_nosuchupload0000',
        parsed: emptySummary(),
        firstLine: 1,
        lines: 1,
        startOffset: 100,
        endOffset: 200,
      };
      await single.query(
        `INSERT INTO uploads (tenant_id, upload_id, state, created_at, updated_at, expires_at)
         VALUES ($1, $2, 'receiving', now(), now(), now() + interval '1 day')`,
        [tenant, gap.uploadId],
      );
      const result = await writePartsOnPostgres(new ObservationBuffer(), single, {
        requestId: 'r',
        tenantId: tenant,
        commitRows: 10_000,
        parts: [ordersPart(1000, 20), ordersPart(2000, 5, gap)],
      });
      expect(result.outcomes[0]).toMatchObject({ ok: true, summary: { inserted: 20 } });
      expect(result.outcomes[1]).toMatchObject({ ok: false, error: { code: 'upload_cursor_gap' } });
      const { rows } = await pool.query(
        "SELECT count(*)::int AS n FROM orders WHERE tenant_id = $1 AND order_id LIKE 'A-10%'",
        [tenant],
      );
      expect(rows[0].n).toBe(20);
    } finally {
      await single.end();
    }
  });
});
