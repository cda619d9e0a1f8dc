/**
 * Issue 3's benchmark: the dataset loader (line chunks -> worker pool -> parse, validate, group commit)
 * against the plain better-sqlite3 insert and our writer alone (perf/raw-insert, on pre-parsed rows, one
 * thread), same files, same run. Prints a table and one JSON line; writes perf/results/ingest-vs-raw.json.
 *   node dist/perf/ingest-vs-raw.js --dataset ./datasets/small
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ratio } from './lib/numbers.js';
import { rawInsertRates } from './lib/raw-baseline.js';
import { machine, writeResult } from './lib/results.js';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: './datasets/small' },
    workers: { type: 'string', default: '2' },
  },
});
const root = fileURLToPath(new URL('../../', import.meta.url));
const lastJson = (text: string) => JSON.parse(text.trim().split('\n').at(-1)!);
const run = (script: string, args: string[]) =>
  lastJson(
    execFileSync(process.execPath, [join(root, 'dist', script), ...args], {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    }),
  );

const raw = rawInsertRates(values.dataset!, ['plain', 'ours']);
const data = mkdtempSync(join(tmpdir(), 'orderflow-load-'));
try {
  const loaded = run('tools/gen-dataset.js', [
    '--preset',
    'small',
    '--tenants',
    '1',
    '--out',
    values.dataset!,
    '--insert',
    '--load-only',
    '--data',
    data,
    '--workers',
    values.workers!,
  ]);
  const orders = loaded.insert.tables.find((t: { table: string }) => t.table === 'orders');
  const result = {
    benchmark: 'ingest-vs-raw',
    at: new Date().toISOString(),
    env: machine(),
    dataset: values.dataset,
    plain_insert_orders_per_sec: raw.plain,
    our_writer_orders_per_sec: raw.ours,
    loader_orders_per_sec: orders.rows_per_sec,
    ratio_vs_plain: ratio(orders.rows_per_sec, raw.plain!),
    ratio_vs_our_writer: ratio(orders.rows_per_sec, raw.ours!),
    loader: loaded.insert,
  };
  writeResult('ingest-vs-raw', result);
  process.stdout.write(
    `| path | orders/s |\n|---|---|\n| plain better-sqlite3 insert | ${result.plain_insert_orders_per_sec} |\n| our writer alone (1 thread, no parse/validate) | ${result.our_writer_orders_per_sec} |\n| loader (pool of ${values.workers}, parse + validate + insert) | ${result.loader_orders_per_sec} |\n| loader / plain: ${result.ratio_vs_plain}; loader / our writer: ${result.ratio_vs_our_writer} | |\n`,
  );
  process.stdout.write(
    `${JSON.stringify({ benchmark: result.benchmark, plain: raw.plain, ours: raw.ours, loader: result.loader_orders_per_sec, ratio_vs_plain: result.ratio_vs_plain })}\n`,
  );
} finally {
  rmSync(data, { recursive: true, force: true });
}
