/**
 * Rankings of products on PostgreSQL from the line blocks (src/storage/postgres/line-blocks.ts): the range's
 * whole days' blocks, and the lines of the part-days at its ends from the tables, accumulated per product
 * by the same code as SQLite's (src/sales/product-accumulator.ts: a pass to sum, then a pass per slice of
 * the products whose orders' customers and totals fit its pair budget). Exact, so both precisions use it. Read in one snapshot with the
 * check that no day of the range is pending; a range with a pending day is answered from the orders
 * (src/storage/postgres/sales.ts), saying why, as the other groupings are.
 */
import type { ClientBase } from 'pg';
import { DAY, type SalesRequest } from '../../domain/sales.js';
import { ProductAccumulator, type ScanSources, type SliceFigures } from '../../sales/product-accumulator.js';
import { type AsyncProductRanking, asyncProductRanking } from '../../sales/product-scan.js';
import { BLOCK_SCAN_GARBAGE_BYTES, youngGarbageCollector } from '../../worker/young-garbage.js';
import { decodeLineBlock, statusCodes } from '../line-blocks.js';
import { copyBinaryRows } from './copy-binary.js';
import { LINE_BLOCKS_TABLE } from './line-blocks.js';
import { whyRollupsNotReady } from './rollups.js';

/**
 * (product, order) pairs a slice holds on PostgreSQL (8 or 12 bytes each: 8 or 11 MiB), twice SQLite's
 * floor: each slice reads every block again through COPY, slower than a SQLite pass under the server's
 * malloc settings. Every product on 2M orders with 500,000 products, each pair 12 bytes then
 * (`perf/metrics-memory --database-url`, 2026-12-03): 4M pairs 248–251 MB peak in 4.4–4.6 s, 2M 227 MB
 * in 5.0–5.3 s, 1M 203.8 MB in 6.2–6.4 s.
 */
const PG_PAIR_BUDGET = 1_000_000;

/** Days whose blocks one COPY returns (a day of 1M orders a year: ~190 KB). */
const DAYS_PER_READ = 32;

function integer(n: number): number {
  if (!Number.isSafeInteger(n)) throw new RangeError(`not an integer: ${n}`);
  return n;
}

/** The lines of the orders of tenant $1 created in [$2, $3) ms whose status is in $4, an order's together. */
const partDayLinesSql = `
  SELECT o.order_pk::float8, o.customer_pk::float8, o.total_cents::float8, i.product_id::float8, i.quantity,
         i.unit_price_cents::float8
    FROM orders o JOIN order_items i ON i.tenant_id = o.tenant_id AND i.order_pk = o.order_pk
   WHERE o.tenant_id = $1 AND o.created_at >= to_timestamp($2::float8 / 1000)
     AND o.created_at < to_timestamp($3::float8 / 1000) AND o.status = ANY($4::text[])
   ORDER BY o.order_pk`;

/**
 * The range's products ranked, the first `r.top`, or why the blocks cannot answer it. The first pass (sums
 * and ranking) is read now; each slice of the ranked products is read again, through COPY, as the buckets
 * reach it, so `client` holds one REPEATABLE READ transaction from this call until the buckets end, fail,
 * are abandoned, or `close` is called (whichever comes first ends it; a not-ready answer has ended it).
 */
export async function pgProductsFromBlocks(
  client: ClientBase,
  tenantId: number,
  r: SalesRequest,
  pairBudget = PG_PAIR_BUDGET,
): Promise<{ ranking: AsyncProductRanking; close: () => Promise<void> } | { notReady: string }> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  let open = true;
  const close = async () => {
    if (!open) return;
    open = false;
    await client.query('COMMIT');
  };
  try {
    const notReady = await whyRollupsNotReady(client, tenantId, r);
    if (notReady) {
      await close();
      return { notReady };
    }
    const maxId = await client.query<{ m: number }>(
      'SELECT coalesce(max(product_id), 0)::float8 AS m FROM products WHERE tenant_id = $1',
      [tenantId],
    );
    const acc = new ProductAccumulator(maxId.rows[0]!.m);
    const wanted = statusCodes(r.statuses);
    const firstDay = Math.ceil(r.start / DAY);
    const endDay = Math.max(firstDay, Math.floor(r.end / DAY));
    // each block and the stream chunks it came in are dead once accumulated: collected as the read goes
    const dropped = youngGarbageCollector(BLOCK_SCAN_GARBAGE_BYTES);
    const readBlocks = async (): Promise<number> => {
      const days = new Set<number>();
      for (let from = firstDay; from < endDay; from += DAYS_PER_READ) {
        const to = Math.min(endDay, from + DAYS_PER_READ);
        // integers of ours written into the query: COPY takes no parameters
        const blocks = `SELECT day, block FROM ${LINE_BLOCKS_TABLE}
          WHERE tenant_id = ${integer(tenantId)} AND day >= ${integer(from)} AND day < ${integer(to)}
          ORDER BY day, seq`;
        for await (const [day, block] of copyBinaryRows(client, blocks)) {
          acc.block(decodeLineBlock(block!), wanted);
          dropped(2 * block!.byteLength);
          days.add(new DataView(day!.buffer).getInt32(0));
        }
      }
      return days.size;
    };
    const blockDays = await readBlocks();
    // the part-days at the range's ends from the tables (at most two days: read again for each slice)
    const partDays: [number, number][] =
      firstDay < endDay
        ? [
            [r.start, firstDay * DAY],
            [endDay * DAY, r.end],
          ]
        : [[r.start, r.end]];
    let scanned = false;
    const readPartDays = async () => {
      for (const [start, end] of partDays) {
        if (end <= start) continue;
        scanned = true;
        const { rows } = await client.query<number[]>({
          text: partDayLinesSql,
          values: [tenantId, start, end, r.statuses],
          rowMode: 'array',
        });
        for (const l of rows) acc.line(l[0]!, l[1]!, l[2]!, l[3]!, l[4]!, l[5]!);
      }
    };
    await readPartDays();
    const sources: ScanSources = {
      blockTable: LINE_BLOCKS_TABLE,
      blockDays,
      journalBlocks: 0,
      scans: scanned ? ['date-index'] : [],
      slices: acc.endFirstPass(r.top, pairBudget),
      pairsHeld: 0,
    };
    async function* slices(): AsyncGenerator<SliceFigures> {
      try {
        for (let s = 0; s < sources.slices; s++) {
          acc.startSlice(s);
          await readBlocks();
          await readPartDays();
          sources.pairsHeld = acc.pairsHeld;
          yield acc.finishSlice();
        }
      } finally {
        await close();
      }
    }
    const ranked = asyncProductRanking(
      { ranked: 'product', rows: acc.rows, sources, slices: slices() },
      r.top,
    );
    return { ranking: ranked, close };
  } catch (error) {
    if (open) await close().catch(() => undefined); // the error that ended the read is the one reported
    throw error;
  }
}
