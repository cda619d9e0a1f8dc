/**
 * Synthetic dataset generator and bulk loader.
 *   npm run gen-dataset -- --preset small --out ./datasets/small [--insert --data ./data]
 * Prints a human table on stderr-free stdout, then one JSON summary line.
 */
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureTenants, loadDataset, loadOptions } from './gen/load.js';
import { DEFAULT_START, type GenOptions, PRESETS, type PresetName } from './gen/model.js';
import { type Format, type TableCount, writeTenantFiles } from './gen/write-files.js';

const HELP = `usage: npm run gen-dataset -- [--preset tiny|small|medium|full] [--out DIR] [options]
  --tenants N  --products N (per tenant)  --orders N (per tenant)  --items-per-order N
  --price-samples N (per product)  --stock-events N (per tenant)  --seed N
  --format ndjson|csv|both  --gzip  --days N (span of order dates, from 2025-01-01)
  --insert --data DIR   also create the tenants and bulk-insert every table (keys in DIR/keys.json)
  --storage postgres --database-url URL   with --insert: load into PostgreSQL (env DATABASE_URL) instead
                        of SQLite shards under --data (which then only receives keys.json)
  --load-only           with --insert: load the files already in --out instead of writing them
  --workers N  --chunk-bytes N  --batch-rows N   loader tuning
Presets: ${Object.entries(PRESETS)
  .map(([name, p]) => `${name} (${p.tenants} x ${p.orders.toLocaleString('en')} orders)`)
  .join(', ')}
`;

function fail(message: string): never {
  process.stderr.write(`gen-dataset: ${message}\n${HELP}`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    preset: { type: 'string', default: 'tiny' },
    out: { type: 'string' },
    tenants: { type: 'string' },
    products: { type: 'string' },
    orders: { type: 'string' },
    'items-per-order': { type: 'string' },
    'price-samples': { type: 'string' },
    'stock-events': { type: 'string' },
    seed: { type: 'string', default: '42' },
    days: { type: 'string', default: '365' },
    format: { type: 'string', default: 'ndjson' },
    gzip: { type: 'boolean', default: false },
    insert: { type: 'boolean', default: false },
    'load-only': { type: 'boolean', default: false },
    data: { type: 'string' },
    storage: { type: 'string', default: 'sqlite' },
    'database-url': { type: 'string', default: process.env.DATABASE_URL },
    workers: { type: 'string', default: String(availableParallelism()) },
    'chunk-bytes': { type: 'string', default: String(1 << 20) },
    'batch-rows': { type: 'string', default: '2000' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
if (!(values.preset! in PRESETS)) fail(`unknown preset "${values.preset}"`);
const preset = PRESETS[values.preset as PresetName];
const count = (name: keyof typeof values, fallback: number, min = 0): number => {
  const raw = values[name];
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || Number(raw) < min)
    fail(`--${name} must be an integer >= ${min}`);
  return Number(raw);
};
const format = values.format as Format;
if (!['ndjson', 'csv', 'both'].includes(format)) fail('--format must be ndjson, csv or both');
if (values.insert && !values.data) fail('--insert needs --data DIR');
if (values.insert && format === 'csv') fail('--insert loads NDJSON: use --format ndjson or both');
if (!['sqlite', 'postgres'].includes(values.storage!)) fail('--storage must be sqlite or postgres');
if (values.storage === 'postgres' && !values['database-url'])
  fail('--storage postgres needs --database-url (or DATABASE_URL)');

const options: GenOptions = {
  tenants: count('tenants', preset.tenants, 1),
  products: count('products', preset.products, 1),
  orders: count('orders', preset.orders),
  itemsPerOrder: count('items-per-order', preset.itemsPerOrder, 1),
  priceSamples: count('price-samples', preset.priceSamples),
  stockEvents: count('stock-events', preset.stockEvents),
  seed: count('seed', 42),
  start: DEFAULT_START,
  days: count('days', 365, 1),
};
const out = resolve(values.out ?? `./datasets/${values.preset}`);
mkdirSync(out, { recursive: true });

const rate = (rows: number, seconds: number) => Math.round(rows / Math.max(seconds, 1e-9));
const fmt = (n: number) => n.toLocaleString('en');

if (values['load-only'] && !values.insert) fail('--load-only goes with --insert');
const genStart = performance.now();
const totals = new Map<string, number>();
for (let t = 1; t <= options.tenants && !values['load-only']; t++) {
  const counts: TableCount[] = await writeTenantFiles(options, t, out, format, values.gzip!);
  for (const c of counts) totals.set(c.table, (totals.get(c.table) ?? 0) + c.rows);
}
const genSeconds = (performance.now() - genStart) / 1000;
const allRows = [...totals.values()].reduce((a, b) => a + b, 0);
if (!values['load-only']) {
  process.stdout.write(
    `Generated ${out} in ${genSeconds.toFixed(2)} s (${fmt(rate(allRows, genSeconds))} rows/s written)\n`,
  );
  for (const [table, rows] of totals)
    process.stdout.write(`  ${table.padEnd(14)} ${fmt(rows).padStart(12)} rows\n`);
}

const summary: Record<string, unknown> = {
  out,
  options: { ...options, format, gzip: values.gzip },
  generate: {
    seconds: Math.round(genSeconds * 1000) / 1000,
    rows: Object.fromEntries(totals),
    rows_per_sec: rate(allRows, genSeconds),
  },
};

if (values.insert) {
  const defaults = loadOptions({
    out,
    dataDir: resolve(values.data!),
    tenants: options.tenants,
    databaseUrl: values.storage === 'postgres' ? values['database-url']! : null,
  });
  const load = {
    ...defaults,
    workers: count('workers', defaults.workers, 1),
    chunkBytes: count('chunk-bytes', defaults.chunkBytes, 1024),
    batchRows: count('batch-rows', defaults.batchRows, 1),
  };
  const keys = await ensureTenants(load);
  const start = performance.now();
  const report = await loadDataset(load, keys);
  const seconds = (performance.now() - start) / 1000;
  process.stdout.write(
    `\nInserted into ${load.databaseUrl ? 'PostgreSQL' : load.dataDir} with ${load.workers} workers:\n`,
  );
  process.stdout.write(
    `  ${'table'.padEnd(14)} ${'rows'.padStart(12)} ${'seconds'.padStart(9)} ${'rows/s'.padStart(11)} ${'first 10%'.padStart(11)} ${'last 10%'.padStart(11)}\n`,
  );
  for (const r of report) {
    process.stdout.write(
      `  ${r.table.padEnd(14)} ${fmt(r.rows_inserted).padStart(12)} ${r.seconds.toFixed(2).padStart(9)} ${fmt(r.rows_per_sec).padStart(11)} ${fmt(r.first_tenth_rows_per_sec).padStart(11)} ${fmt(r.last_tenth_rows_per_sec).padStart(11)}\n`,
    );
  }
  const inserted = report.reduce((n, r) => n + r.rows_inserted, 0);
  const orders = report.find((r) => r.table === 'orders');
  const items = totals.get('order_items') ?? 0;
  process.stdout.write(
    `  overall: ${fmt(inserted)} rows in ${seconds.toFixed(2)} s = ${fmt(rate(inserted, seconds))} rows/s\n`,
  );
  process.stdout.write(`  keys: ${load.dataDir}/keys.json\n`);
  summary.insert = {
    data: load.dataDir,
    workers: load.workers,
    tables: report,
    order_items_rows_per_sec: orders ? rate(items, orders.seconds) : 0,
    seconds: Math.round(seconds * 1000) / 1000,
    rows_per_sec: rate(inserted, seconds),
    keys: keys.map(({ tenant_id, name }) => ({ tenant_id, name })),
  };
}
process.stdout.write(`${JSON.stringify(summary)}\n`);
