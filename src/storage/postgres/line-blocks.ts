/**
 * The line blocks on PostgreSQL (issue 17, sql/postgres/017): each day's order lines as blocks in the layout
 * of SQLite's (src/storage/line-blocks.ts), kept by the rollup refresher beside the other levels
 * (src/storage/postgres/rollups.ts) and read by rankings of products (src/storage/postgres/product-blocks.ts).
 * PostgreSQL encodes each day's columns itself, every value as its big-endian binary form concatenated
 * (`float8send`, `string_agg`), so a day arrives as a dozen byte strings rather than thousands of rows
 * parsed value by value; this module swaps their bytes and lays them out as a block.
 */
import type { ClientBase } from 'pg';
import { ORDER_STATUSES } from '../../domain/vocabulary.js';
import { INT32_MAX } from '../column-bytes.js';
import { decodeLineBlock, encodeLineBlock, LineBlockWriter } from '../line-blocks.js';

export const LINE_BLOCKS_TABLE = 'rollup_line_blocks';

/**
 * A day's blocks past this many are compacted into one: a backfill's every refresh appends a block to most
 * days of the year, and a ranking reads every block of its days.
 */
const MAX_BLOCKS_PER_DAY = 8;

/** Blocks one INSERT writes (five parameters each, of PostgreSQL's 65,535 a statement). */
const BLOCKS_PER_INSERT = 256;

/** Days whose blocks are read, compacted or built at a time (a day of 1M orders a year: ~190 KB). */
const DAYS_PER_FETCH = 8;

/**
 * The lines of the orders of a WHERE clause on `o` (of tenant `$1`; `$2` the statuses in block code
 * order), one row per epoch day: its orders' and its lines' columns, each value's big-endian binary form
 * concatenated. The aggregates of one query level see their group's rows in the same order, so the columns
 * line up: an order's lines are those of its line count, in the order of its place in the columns.
 */
const dayColumnsSql = (where: string) => `
  WITH per_order AS (
    SELECT floor(extract(epoch FROM o.created_at) / 86400)::integer AS day,
           o.order_pk, o.customer_pk, o.total_cents, o.status, count(*)::integer AS lines,
           string_agg(float8send(i.product_id::float8), ''::bytea) AS products,
           string_agg(int4send(i.quantity), ''::bytea) AS quantities,
           string_agg(float8send(i.unit_price_cents::float8), ''::bytea) AS prices
      FROM orders o JOIN order_items i ON i.tenant_id = o.tenant_id AND i.order_pk = o.order_pk
     WHERE ${where}
     GROUP BY o.tenant_id, o.order_pk)
  SELECT day, count(*)::integer AS orders, sum(lines)::integer AS lines,
         string_agg(float8send(total_cents::float8), ''::bytea) AS totals,
         string_agg(float8send(order_pk::float8), ''::bytea) AS order_pks,
         string_agg(float8send(customer_pk::float8), ''::bytea) AS customers,
         string_agg(int4send(lines), ''::bytea) AS line_counts,
         string_agg(int2send((array_position($2::text[], status) - 1)::smallint), ''::bytea) AS statuses,
         string_agg(products, ''::bytea) AS products,
         string_agg(quantities, ''::bytea) AS quantities,
         string_agg(prices, ''::bytea) AS prices
    FROM per_order GROUP BY day ORDER BY day`;

/** One day's columns as PostgreSQL sends them. */
interface DayColumns {
  day: number;
  orders: number;
  lines: number;
  totals: Buffer;
  order_pks: Buffer;
  customers: Buffer;
  line_counts: Buffer;
  statuses: Buffer;
  products: Buffer;
  quantities: Buffer;
  prices: Buffer;
}

/** A day's block, to store. */
interface DayBlock {
  day: number;
  orders: number;
  lines: number;
  block: Uint8Array;
}

type Swapped = Float64Array | Int32Array | Int16Array;

/** `count` big-endian values of `bytes` as a typed array in the platform's order (little-endian). */
function fromBigEndian<T extends Swapped>(bytes: Buffer, count: number, make: (n: number) => T): T {
  const out = make(count);
  if (bytes.byteLength !== count * out.BYTES_PER_ELEMENT)
    throw new Error(`line block column of ${bytes.byteLength} bytes for ${count} values`);
  const raw = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  raw.set(bytes);
  if (out.BYTES_PER_ELEMENT === 8) raw.swap64();
  else if (out.BYTES_PER_ELEMENT === 4) raw.swap32();
  else raw.swap16();
  return out;
}

/** Whether any of the ids exceeds what a 4-byte id column holds. */
function anyWide(...columns: Float64Array[]): boolean {
  for (const ids of columns) for (let i = 0; i < ids.length; i++) if (ids[i]! > INT32_MAX) return true;
  return false;
}

/** A day's columns laid out as one block. */
function blockOfDay(c: DayColumns): DayBlock {
  const f64 = (n: number) => new Float64Array(n);
  const orderPk = fromBigEndian(c.order_pks, c.orders, f64);
  const customerPk = fromBigEndian(c.customers, c.orders, f64);
  const productId = fromBigEndian(c.products, c.lines, f64);
  const lineEnd = fromBigEndian(c.line_counts, c.orders, (n) => new Int32Array(n));
  for (let o = 1; o < lineEnd.length; o++) lineEnd[o]! += lineEnd[o - 1]!;
  if (c.orders > 0 && lineEnd[c.orders - 1] !== c.lines)
    throw new Error(
      `line block of day ${c.day}: line counts sum to ${lineEnd[c.orders - 1]}, not ${c.lines}`,
    );
  const block = encodeLineBlock(
    {
      total: fromBigEndian(c.totals, c.orders, f64),
      unitPrice: fromBigEndian(c.prices, c.lines, f64),
      orderPk,
      customerPk,
      productId,
      lineEnd,
      quantity: fromBigEndian(c.quantities, c.lines, (n) => new Int32Array(n)),
      status: fromBigEndian(c.statuses, c.orders, (n) => new Int16Array(n)),
    },
    anyWide(orderPk, customerPk, productId),
  );
  return { day: c.day, orders: c.orders, lines: c.lines, block };
}

/**
 * Stores blocks of the tenant (`seq` of each: its place among its day's), each block a parameter of its own:
 * node-postgres sends a Buffer parameter as binary, where an array of them would go as hex text.
 */
async function insertBlocks(
  client: ClientBase,
  tenantId: number,
  blocks: readonly (DayBlock & { seq: number })[],
): Promise<void> {
  for (let at = 0; at < blocks.length; at += BLOCKS_PER_INSERT) {
    const some = blocks.slice(at, at + BLOCKS_PER_INSERT);
    const rows = some.map((_, i) => `($1, ${[2, 3, 4, 5, 6].map((k) => `$${5 * i + k}`).join(', ')})`);
    await client.query(
      `INSERT INTO ${LINE_BLOCKS_TABLE} (tenant_id, day, seq, orders, lines, block) VALUES ${rows.join(', ')}`,
      [
        tenantId,
        ...some.flatMap((b) => [
          b.day,
          b.seq,
          b.orders,
          b.lines,
          Buffer.from(b.block.buffer, b.block.byteOffset, b.block.byteLength),
        ]),
      ],
    );
  }
}

/**
 * Builds the tenant's blocks whole from its orders (its earlier blocks deleted first), one per day, in the
 * caller's transaction: one query over every line, its days fetched a few at a time through a cursor.
 * Answers the blocks written.
 */
export async function buildLineBlocks(client: ClientBase, tenantId: number): Promise<number> {
  await client.query(`DELETE FROM ${LINE_BLOCKS_TABLE} WHERE tenant_id = $1`, [tenantId]);
  await client.query(`DECLARE line_blocks_build NO SCROLL CURSOR FOR ${dayColumnsSql('o.tenant_id = $1')}`, [
    tenantId,
    ORDER_STATUSES,
  ]);
  let written = 0;
  for (;;) {
    const { rows } = await client.query<DayColumns>(`FETCH ${DAYS_PER_FETCH} FROM line_blocks_build`);
    if (rows.length === 0) break;
    await insertBlocks(
      client,
      tenantId,
      rows.map((row) => ({ ...blockOfDay(row), seq: 0 })),
    );
    written += rows.length;
  }
  await client.query('CLOSE line_blocks_build');
  return written;
}

/**
 * Appends the lines of the orders `orderPks` (newly folded in; never in a block yet) to the tenant's blocks:
 * a block per day they touch, after that day's others; a day then holding more than MAX_BLOCKS_PER_DAY
 * blocks has them compacted into one. Answers the blocks written.
 */
export async function appendLineBlocks(
  client: ClientBase,
  tenantId: number,
  orderPks: readonly (number | string)[],
): Promise<number> {
  if (orderPks.length === 0) return 0;
  const { rows } = await client.query<DayColumns>(
    dayColumnsSql('o.tenant_id = $1 AND o.order_pk = ANY($3::bigint[])'),
    [tenantId, ORDER_STATUSES, orderPks],
  );
  const days = rows.map((row) => row.day);
  const held = await client.query<{ day: number; next: number; blocks: number }>(
    `SELECT day, max(seq) + 1 AS next, count(*)::integer AS blocks FROM ${LINE_BLOCKS_TABLE}
      WHERE tenant_id = $1 AND day = ANY($2::integer[]) GROUP BY day`,
    [tenantId, days],
  );
  const before = new Map(held.rows.map((row) => [row.day, row]));
  await insertBlocks(
    client,
    tenantId,
    rows.map((row) => ({ ...blockOfDay(row), seq: before.get(row.day)?.next ?? 0 })),
  );
  const crowded = days.filter((day) => (before.get(day)?.blocks ?? 0) + 1 > MAX_BLOCKS_PER_DAY);
  for (let i = 0; i < crowded.length; i += DAYS_PER_FETCH)
    await compactDays(client, tenantId, crowded.slice(i, i + DAYS_PER_FETCH));
  return rows.length + crowded.length;
}

/** Replaces each of the days' blocks with one holding all their lines. */
async function compactDays(client: ClientBase, tenantId: number, days: readonly number[]): Promise<void> {
  const { rows } = await client.query<{ day: number; block: Buffer }>(
    `DELETE FROM ${LINE_BLOCKS_TABLE} WHERE tenant_id = $1 AND day = ANY($2::integer[]) RETURNING day, block`,
    [tenantId, days],
  );
  const writers = new Map<number, LineBlockWriter>();
  for (const row of rows) {
    const writer = writers.get(row.day) ?? new LineBlockWriter();
    writers.set(row.day, writer);
    writer.addBlock(decodeLineBlock(row.block));
  }
  await insertBlocks(
    client,
    tenantId,
    [...writers].map(([day, w]) => ({ day, seq: 0, orders: w.orders, lines: w.lines, block: w.encode() })),
  );
}
