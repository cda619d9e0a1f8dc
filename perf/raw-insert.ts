/**
 * The raw limit for ingest: better-sqlite3 inserting the same rows into the same schema and indexes, in
 * one process, through the same writer module, with no HTTP, no worker pool and no validation. Parsing the
 * files is done before the clock runs for each batch, so only the inserts are timed.
 *   node dist/perf/raw-insert.js --dataset ./datasets/small [--tenant 1] [--batch-rows N] [--limit N]
 * Rows per transaction default to the server's --ingest-batch-rows default, so both commit alike.
 * Prints a table, then one JSON line.
 */
import { createReadStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import { loadConfig } from '../src/config.js';
import { type OrderRow, OrderWriter, ProductWriter } from '../src/storage/order-writer.js';
import { prepareShard, shardPath } from '../src/storage/shards.js';
import { openDatabase } from '../src/storage/sqlite.js';
import { tenantDir } from '../tools/gen/write-files.js';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: './datasets/small' },
    tenant: { type: 'string', default: '1' },
    /** only the first N orders (perf/ingest --limit passes its own) */
    limit: { type: 'string' },
    'batch-rows': { type: 'string', default: String(loadConfig([], {}).ingestBatchRows) },
  },
});
const batchRows = Number(values['batch-rows']);
const dir = tenantDir(values.dataset!, Number(values.tenant));

async function* lines(table: string, max: number): AsyncGenerator<string> {
  let n = 0;
  const plain = join(dir, `${table}.ndjson`);
  const path = existsSync(plain) ? plain : `${plain}.gz`;
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  const input = path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    if (n === max) break;
    if (line) {
      n++;
      yield line;
    }
  }
  raw.destroy();
}

/** Runs `insert` on batches of parsed rows; only the insert calls are timed. */
async function timed<T>(
  table: string,
  parse: (line: string) => T,
  insert: (rows: T[]) => void,
  max = Number.POSITIVE_INFINITY,
): Promise<{ rows: number; seconds: number }> {
  let batch: T[] = [];
  let rows = 0;
  let ns = 0n;
  const flush = () => {
    const t0 = process.hrtime.bigint();
    insert(batch);
    ns += process.hrtime.bigint() - t0;
    rows += batch.length;
    batch = [];
  };
  for await (const line of lines(table, max)) {
    batch.push(parse(line));
    if (batch.length >= batchRows) flush();
  }
  if (batch.length) flush();
  return { rows, seconds: Number(ns) / 1e9 };
}

const dataDir = mkdtempSync(join(tmpdir(), 'orderflow-raw-'));
try {
  prepareShard(dataDir, 1);
  const db = openDatabase(shardPath(dataDir, 1));
  const products = new ProductWriter(db);
  const orders = new OrderWriter(db);
  const p = await timed(
    'products',
    (l) => JSON.parse(l),
    (rows) => products.writeBatch(rows),
  );
  let items = 0;
  const o = await timed(
    'orders',
    (l) => {
      const row = JSON.parse(l) as Omit<OrderRow, 'created_at'> & { created_at: string };
      items += row.items.length;
      return { ...row, created_at: Date.parse(row.created_at) };
    },
    (rows) => orders.writeBatch(rows),
    values.limit ? Number(values.limit) : undefined,
  );
  db.close();
  const result = {
    benchmark: 'raw-insert',
    dataset: dir,
    batch_rows: batchRows,
    products: { rows: p.rows, seconds: round(p.seconds), rows_per_sec: Math.round(p.rows / p.seconds) },
    orders: {
      rows: o.rows,
      items,
      seconds: round(o.seconds),
      rows_per_sec: Math.round(o.rows / o.seconds),
      items_per_sec: Math.round(items / o.seconds),
    },
  };
  process.stdout.write(`raw insert (better-sqlite3, same writer, no HTTP/pool/validation) from ${dir}\n`);
  process.stdout.write(
    `  products ${result.products.rows} rows in ${result.products.seconds}s = ${result.products.rows_per_sec} rows/s\n`,
  );
  process.stdout.write(
    `  orders   ${result.orders.rows} rows (+${items} items) in ${result.orders.seconds}s = ${result.orders.rows_per_sec} orders/s\n`,
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
