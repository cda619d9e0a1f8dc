/**
 * Issue 3's benchmark: the dataset loader (line chunks -> worker pool -> parse, validate, batch insert)
 * against the raw limit (perf/raw-insert: the same writer on pre-parsed rows, one thread), same files,
 * same run. Prints a table and one JSON line; writes perf/results/ingest-vs-raw.json.
 *   node dist/perf/ingest-vs-raw.js --dataset ./datasets/small
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
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

const raw = run('perf/raw-insert.js', ['--dataset', values.dataset!]);
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
    raw_orders_per_sec: raw.orders.rows_per_sec,
    loader_orders_per_sec: orders.rows_per_sec,
    ratio: Math.round((orders.rows_per_sec / raw.orders.rows_per_sec) * 100) / 100,
    raw,
    loader: loaded.insert,
  };
  writeResult('ingest-vs-raw', result);
  process.stdout.write(
    `| path | orders/s |\n|---|---|\n| raw insert (same writer, 1 thread, no parse/validate) | ${result.raw_orders_per_sec} |\n| loader (pool of ${values.workers}, parse + validate + insert) | ${result.loader_orders_per_sec} |\n| ratio | ${result.ratio} |\n`,
  );
  process.stdout.write(
    `${JSON.stringify({ benchmark: result.benchmark, raw: result.raw_orders_per_sec, loader: result.loader_orders_per_sec, ratio: result.ratio })}\n`,
  );
} finally {
  rmSync(data, { recursive: true, force: true });
}
