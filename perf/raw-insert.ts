/**
 * The insert path without the service around it, on the same rows, in one process:
 *   - plain: the outside limit (perf/lib/plain-insert.ts: minimal indexes, 10,000 orders per transaction,
 *     a 64 MiB cache);
 *   - ours: our writer and schema (src/storage/order-writer.ts) as a writer lane runs it: transactions of
 *     --ingest-commit-rows rows, a --writer-cache-mib cache;
 *   - the breakdown: ours without one structure at a time (full-text index, each secondary index, inline
 *     checkpoints, the full-text index's merging as it goes), ours with the 2,000-row transactions of the
 *     old write path, and ours writing one 2,000-order chunk at a time inside its transaction as a lane
 *     does (chunk-writes), so the cost of each is its difference from ours.
 * Rows are parsed before the clock runs; only inserts are timed, and rates are reported per 100k orders so
 * the decay as the shard grows shows. With --repeat N the variants run N times interleaved (medians), since
 * this machine's speed drifts by 20% within minutes.
 *   node dist/perf/raw-insert.js --dataset ./datasets/small [--limit 200000] [--variants plain,ours,breakdown or single ones: --variants=-fts,…]
 *     [--repeat 1] [--out raw-insert]
 * Prints a table, then one JSON line; writes perf/results/<out>.json (not with --out -).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { type OrderRecord, toOrderRecord } from '../src/storage/order-record.js';
import { type OrderRow, OrderWriter, ProductWriter } from '../src/storage/order-writer.js';
import { prepareShard, shardPath } from '../src/storage/shards.js';
import { type Db, openDatabase } from '../src/storage/sqlite.js';
import { tenantDir } from '../tools/gen/write-files.js';
import { ratio } from './lib/numbers.js';
import { readOrders, readProducts } from './lib/orders-file.js';
import { PlainInsert } from './lib/plain-insert.js';
import { machine, writeResult } from './lib/results.js';

const server = loadConfig([], {});
const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: './datasets/small' },
    tenant: { type: 'string', default: '1' },
    limit: { type: 'string' },
    variants: { type: 'string', default: 'plain,ours,breakdown' },
    repeat: { type: 'string', default: '1' },
    'commit-rows': { type: 'string', default: String(server.ingest.commitRows) },
    'cache-mib': { type: 'string', default: String(server.sqlite.writerCacheMiB) },
    /** where the temporary databases go (a tmpfs here measures CPU alone) */
    dir: { type: 'string', default: '.' },
    out: { type: 'string', default: 'raw-insert' },
  },
});
const SEGMENT = 100_000;
const PLAIN_ROWS_PER_TX = 10_000;
const commitRows = Number(values['commit-rows']);
const cacheMiB = Number(values['cache-mib']);
const dir = tenantDir(values.dataset!, Number(values.tenant));

/** What "ours" leaves out in one breakdown variant. */
type Without =
  | 'fts'
  | 'checkpoint'
  | 'fts_automerge'
  | 'customers_email'
  | 'orders_created'
  | 'orders_customer_created'
  | 'order_items_product';

/** A database being filled: insert() is what is timed. */
interface Target {
  insert(rows: readonly OrderRow[]): void;
  close(): void;
}

interface Variant {
  name: string;
  describe: string;
  open: (work: string) => Target;
}

const ours = (
  name: string,
  describe: string,
  without: Without[] = [],
  perTransaction = commitRows,
  perWrite = perTransaction,
): Variant => ({
  name,
  describe,
  open: (work) => {
    prepareShard(work, 1);
    const db = openDatabase(shardPath(work, 1), {
      cacheMiB,
      walAutocheckpoint: without.includes('checkpoint') ? 0 : undefined,
    });
    for (const w of without) leaveOut(db, w);
    new ProductWriter(db).writeBatch(products);
    const writer = new OrderWriter(db);
    return {
      insert: (rows) => {
        const records: OrderRecord[] = rows.map(toOrderRecord);
        for (let i = 0; i < records.length; i += perTransaction) {
          const batch = records.slice(i, i + perTransaction);
          db.transaction(() => {
            for (let j = 0; j < batch.length; j += perWrite) writer.write(batch.slice(j, j + perWrite));
          }).immediate();
        }
      },
      close: () => db.close(),
    };
  },
});

function leaveOut(db: Db, what: Without): void {
  // the writer still inserts the new customers' index rows: a plain table takes them instead
  if (what === 'fts')
    db.exec(
      'DROP TRIGGER customers_fts_update; DROP TABLE customers_fts; CREATE TABLE customers_fts (name, email);',
    );
  else if (what === 'fts_automerge')
    db.exec("INSERT INTO customers_fts (customers_fts, rank) VALUES ('automerge', 0)");
  else if (what !== 'checkpoint') db.exec(`DROP INDEX ${what}`);
}

const plain: Variant = {
  name: 'plain',
  describe: `plain better-sqlite3, minimal indexes, ${PLAIN_ROWS_PER_TX} orders per transaction, 64 MiB cache`,
  open: (work) => {
    const db = new PlainInsert(join(work, 'plain.db'));
    return { insert: (rows) => db.insert(rows, PLAIN_ROWS_PER_TX), close: () => db.close() };
  },
};

const BREAKDOWN: Variant[] = [
  ours('-fts', 'without the customers full-text index (FTS5)', ['fts']),
  ours('-customers_email', 'without the customers (email) index', ['customers_email']),
  ours('-orders_created', 'without the keyset index orders (created_at, order_pk, status, total)', [
    'orders_created',
  ]),
  ours('-orders_customer_created', 'without the orders (customer_pk, created_at) index', [
    'orders_customer_created',
  ]),
  ours('-order_items_product', 'without the order_items (product_id, order_pk) index', [
    'order_items_product',
  ]),
  ours('-fts_automerge', 'without the full-text index merging its segments as it goes', [
    'fts_automerge',
    'checkpoint',
  ]),
  ours('-checkpoint', 'without checkpoints in the writer (a lane leaves them to the upkeep thread)', [
    'checkpoint',
  ]),
  ours('2000-row transactions', 'with the 2,000-row transactions of the old write path', [], 2000),
  ours(
    'chunk-writes',
    `one write per chunk of ${server.ingest.batchRows} orders inside each transaction, as a writer lane gets them`,
    ['checkpoint'],
    commitRows,
    server.ingest.batchRows,
  ),
];

const chosen = values.variants!.split(',');
const variants: Variant[] = [
  ...(chosen.includes('plain') ? [plain] : []),
  ...(chosen.includes('ours') ||
  chosen.includes('breakdown') ||
  BREAKDOWN.some((v) => chosen.includes(v.name))
    ? [ours('ours', `our writer and schema, ${commitRows} rows per transaction, ${cacheMiB} MiB cache`)]
    : []),
  ...BREAKDOWN.filter((v) => chosen.includes('breakdown') || chosen.includes(v.name)),
];

const products = await readProducts(dir);
const orders = await readOrders(dir, values.limit ? Number(values.limit) : undefined);

interface Measured {
  seconds: number;
  rates: number[];
}

/** One variant on every order, timed per segment of 100k orders. */
function measure(variant: Variant): Measured {
  const work = mkdtempSync(join(values.dir!, '.raw-insert-'));
  try {
    const rates: number[] = [];
    let seconds = 0;
    const target = variant.open(work);
    execFileSync('sync'); // the previous variant's dirty pages are written back now, not during this one
    for (let i = 0; i < orders.length; i += SEGMENT) {
      const part = orders.slice(i, i + SEGMENT);
      const t0 = performance.now();
      target.insert(part);
      const s = (performance.now() - t0) / 1000;
      seconds += s;
      rates.push(Math.round(part.length / s));
    }
    target.close();
    return { seconds, rates };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const runs = new Map<string, Measured[]>(variants.map((v) => [v.name, []]));
for (let round = 0; round < Number(values.repeat); round++)
  for (const v of variants) runs.get(v.name)!.push(measure(v));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const rows = variants.map((v) => {
  const m = runs.get(v.name)!;
  const rate = Math.round(median(m.map((r) => orders.length / r.seconds)));
  const first = Math.round(median(m.map((r) => r.rates[0]!)));
  const last = Math.round(median(m.map((r) => r.rates.at(-1)!)));
  return {
    variant: v.name,
    describe: v.describe,
    orders_per_sec: rate,
    first_segment: first,
    last_segment: last,
    holds: ratio(last, first),
    runs: m,
  };
});
const base = rows.find((r) => r.variant === 'ours')?.orders_per_sec;
const result = {
  benchmark: 'raw-insert',
  at: new Date().toISOString(),
  env: machine(),
  dataset: dir,
  orders: orders.length,
  segment: SEGMENT,
  commit_rows: commitRows,
  cache_mib: cacheMiB,
  repeat: Number(values.repeat),
  variants: rows.map((r) => ({
    ...r,
    vs_ours: base ? ratio(r.orders_per_sec, base) : null,
  })),
};
if (values.out !== '-') writeResult(values.out!, result);
process.stdout.write(
  [
    `raw insert of ${orders.length} orders from ${dir} (median of ${values.repeat}; segments of ${SEGMENT})`,
    '| variant | orders/s | first / last segment | holds | vs ours |',
    '|---|---|---|---|---|',
    ...result.variants.map(
      (r) =>
        `| ${r.variant}: ${r.describe} | ${r.orders_per_sec} | ${r.first_segment} / ${r.last_segment} | ${r.holds} | ${r.vs_ours ?? ''} |`,
    ),
    '',
  ].join('\n'),
);
process.stdout.write(
  `${JSON.stringify({ ...result, variants: result.variants.map(({ runs: _r, ...v }) => v) })}\n`,
);
