import * as v from 'valibot';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emptySummary } from '../../src/domain/ingest-kinds.js';
import { OrderSchema } from '../../src/domain/order-schema.js';
import { batchOf, encodeBatch } from '../../src/ingest/row-transfer.js';
import { type WritePart, writeParts } from '../../src/ingest/write-parts.js';
import { ObservationBuffer } from '../../src/obs/observations.js';
import { ProductWriter } from '../../src/storage/order-writer.js';
import { prepareShard, ShardConnections } from '../../src/storage/shards.js';
import { UploadStore } from '../../src/storage/upload-store.js';
import { createWriteLockBuffer, ShardWriteLock } from '../../src/storage/write-lock.js';
import { order, product } from '../helpers/data.js';
import { removeDir, tempDataDir } from '../helpers/server.js';

let dir: string;
let shards: ShardConnections;
const TENANT = 1;

beforeEach(() => {
  dir = tempDataDir();
  prepareShard(dir, TENANT);
  shards = new ShardConnections(dir);
  new ProductWriter(shards.db(TENANT)).writeBatch(
    [1, 2, 3].map((p) => v.parse(ProductSchemaLoose, product(p))),
  );
});
afterEach(() => {
  shards.closeAll();
  removeDir(dir);
});

const ProductSchemaLoose = v.object({
  product_id: v.number(),
  sku: v.string(),
  name: v.string(),
  category: v.string(),
  price_cents: v.number(),
  currency: v.optional(v.string(), 'USD'),
  stock: v.optional(v.number(), 0),
});

/** A part holding orders `from`..`to` (exclusive), validated as the parse stage would. */
function part(from: number, to: number, overrides: Record<string, unknown> = {}): WritePart {
  const valid = Array.from({ length: to - from }, (_, i) => ({
    line: i + 1,
    row: { ...v.parse(OrderSchema, order(from + i)), ...overrides },
    id: { order_id: `A-${from + i}` },
  }));
  return {
    requestId: `r${from}`,
    kind: 'orders',
    rows: encodeBatch(batchOf('orders', valid)),
    rowCount: valid.length,
    maxErrors: 10,
    seq: from,
  };
}

function context(
  lock: Pick<ShardWriteLock, 'withLock' | 'contended'> = new ShardWriteLock(createWriteLockBuffer()),
) {
  return { shards, lock: lock as ShardWriteLock, obs: new ObservationBuffer() };
}

const count = (sql: string) => (shards.db(TENANT).prepare(sql).get() as { n: number }).n;

describe('writeParts (the writer lane)', () => {
  it('writes the parts of several requests in one transaction, each part answered with its own counts', () => {
    const ctx = context();
    const result = writeParts(ctx, {
      requestId: 't',
      tenantId: TENANT,
      commitRows: 1000,
      parts: [part(0, 50), part(50, 80), part(70, 90)], // the third repeats 10 orders of the second
    });
    expect(result.transactions).toBe(1);
    expect(result.largest).toBe(100);
    expect(result.outcomes.map((o) => o.ok && [o.summary.inserted, o.summary.duplicate])).toEqual([
      [50, 0],
      [30, 0],
      [10, 10],
    ]);
    expect(count('SELECT count(*) AS n FROM orders')).toBe(90);
    const sizes = ctx.obs.drain().filter((o) => o.name === 'ingest_transaction_rows');
    expect(sizes.map((o) => o.value)).toEqual([100]);
  });

  it('starts a new transaction past commitRows, and after every part while another writer waits', () => {
    const bigTx = writeParts(context(), {
      requestId: 't',
      tenantId: TENANT,
      commitRows: 60,
      parts: [part(0, 40), part(40, 80), part(80, 120), part(120, 160)],
    });
    expect([bigTx.transactions, bigTx.largest]).toEqual([2, 80]);
    const lock = new ShardWriteLock(createWriteLockBuffer());
    const waited = writeParts(
      context({ withLock: (t, work) => lock.withLock(t, work), contended: () => true }),
      {
        requestId: 't',
        tenantId: TENANT,
        commitRows: 1000,
        parts: [part(200, 210), part(210, 220), part(220, 230)],
      },
    );
    expect([waited.transactions, waited.largest]).toEqual([3, 10]);
    expect(count('SELECT count(*) AS n FROM orders')).toBe(190);
  });

  it('a part that fails fails alone: the others of its transaction are written again and committed', () => {
    const ctx = context();
    // a row the parse stage would never let through: the orders table's CHECK on status refuses it
    const poison = part(310, 320, { status: 'lost' });
    const result = writeParts(ctx, {
      requestId: 't',
      tenantId: TENANT,
      commitRows: 1000,
      parts: [part(300, 310), poison, part(320, 330)],
    });
    expect(result.outcomes.map((o) => o.ok)).toEqual([true, false, true]);
    const failed = result.outcomes[1]!;
    expect(!failed.ok && failed.error).toMatchObject({ code: 'SQLITE_CONSTRAINT_CHECK' });
    expect(count("SELECT count(*) AS n FROM orders WHERE order_id LIKE 'A-3__'")).toBe(20);
    expect(count("SELECT count(*) AS n FROM orders WHERE order_id BETWEEN 'A-310' AND 'A-319'")).toBe(0);
  });

  it("an upload's chunk commits with its cursor, and one whose predecessor did not commit is refused", () => {
    const uploads = new UploadStore(shards.db(TENANT));
    uploads.create({
      uploadId: 'u1',
      length: null,
      metadata: {},
      now: Date.now(),
      ttlMs: 60_000,
      limits: { uploads: 16, bytes: 2 ** 40 },
    });
    const chunk = (from: number, to: number, startOffset: number, endOffset: number): WritePart => ({
      ...part(from, to),
      upload: {
        uploadId: 'u1',
        parsed: { ...emptySummary(), received: to - from },
        firstLine: 1,
        lines: to - from,
        startOffset,
        endOffset,
      },
    });
    const result = writeParts(context(), {
      requestId: 't',
      tenantId: TENANT,
      commitRows: 1000,
      parts: [chunk(400, 410, 0, 1000), chunk(410, 420, 1000, 2000), chunk(430, 440, 3000, 4000)],
    });
    expect(result.outcomes.map((o) => o.ok)).toEqual([true, true, false]);
    const gap = result.outcomes[2]!;
    expect(!gap.ok && gap.error).toMatchObject({ name: 'UploadCursorGap', code: 'upload_cursor_gap' });
    expect(uploads.get('u1')).toMatchObject({ processed_offset: 2000, rows_inserted: 20 });
  });
});
