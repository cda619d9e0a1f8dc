/**
 * `npm run perf`: every benchmark in sequence on one dataset, rewriting perf/results/*.json,
 * docs/explain.md and docs/charts/*.svg, then a summary of the headline figures. Generates and loads the dataset first if
 * it is not there yet.
 *   npm run perf [-- --preset small] [--skip-load]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from '../src/paths.js';
import { ratio } from './lib/numbers.js';

const { values } = parseArgs({ options: { preset: { type: 'string', default: 'small' } } });
const preset = values.preset!;
const dataset = join(PROJECT_ROOT, 'datasets', preset);
const data = join(PROJECT_ROOT, `data-perf-${preset}`);
const node = (script: string, args: string[]) => {
  process.stdout.write(`\n$ node dist/${script} ${args.join(' ')}\n`);
  execFileSync(process.execPath, [join(PROJECT_ROOT, 'dist', script), ...args], {
    stdio: 'inherit',
    cwd: PROJECT_ROOT,
  });
};

if (!existsSync(join(dataset, 'tenant-01', 'orders.ndjson')))
  node('tools/gen-dataset.js', ['--preset', preset, '--out', dataset]);
if (!existsSync(join(data, 'keys.json')))
  node('tools/gen-dataset.js', [
    '--preset',
    preset,
    '--out',
    dataset,
    '--insert',
    '--load-only',
    '--data',
    data,
  ]);

// The export benchmark's tenant holds 2M orders (issue 8): the small preset with twice the orders.
const exportDataset = join(PROJECT_ROOT, 'datasets', 'export-2m');
const exportData = join(PROJECT_ROOT, 'data-perf-export-2m');
if (!existsSync(join(exportData, 'keys.json')))
  node('tools/gen-dataset.js', [
    '--preset',
    'small',
    '--orders',
    '2000000',
    '--stock-events',
    '10000',
    '--out',
    exportDataset,
    '--insert',
    '--data',
    exportData,
  ]);

node('perf/raw-insert.js', ['--dataset', dataset, '--limit', '200000', '--repeat', '3']);
node('perf/ingest-scale.js', [
  '--dataset',
  dataset,
  '--orders',
  '200000',
  '--requests',
  '1',
  '--out',
  'ingest-scale-200k',
]);
node('perf/ingest-scale.js', ['--dataset', dataset]);
node('perf/ingest-vs-raw.js', ['--dataset', dataset]);
node('perf/ingest.js', ['--dataset', dataset, '--chunks', '10']);
node('perf/row-transfer.js', ['--dataset', dataset]);
node('perf/search.js', ['--data', data]);
node('perf/metrics.js', ['--data', data]);
node('perf/freshness.js', ['--dataset', dataset]);
node('perf/upload.js', ['--dataset', dataset]);
node('perf/soak.js', ['--dataset', dataset]);
node('perf/export.js', ['--data', exportData]);
node('perf/export-profile.js', ['--data', exportData]);
node('perf/stock-race.js', ['--seconds', '30']);
node('perf/prices.js', ['--seconds', '10']);
node('tools/explain.js', ['--data', data, '--tenant', '1']);
node('perf/charts.js', []);

const result = (name: string) =>
  JSON.parse(readFileSync(join(PROJECT_ROOT, 'perf/results', `${name}.json`), 'utf8'));
const ivr = result('ingest-vs-raw');
const fresh = result('ingest-scale-200k');
const scale = result('ingest-scale');
const ingest = result('ingest');
const search = result('search');
const metrics = result('metrics');
const freshness = result('freshness');
const soak = result('soak');
const upload = result('upload');
const stock = result('stock-race');
const prices = result('prices');
const exported = result('export').results as {
  case: string;
  vs_plain_read: number;
  rows_per_sec: number;
  duckdb_rows_per_sec?: number;
  peak_server_rss_mb: number;
}[];
const day = metrics.shapes.find((s: { shape: string }) => s.shape.startsWith('day'));
const rows: [string, string, string][] = [
  ['200k orders into a fresh tenant, HTTP / plain insert', String(fresh.ratio), '>= 0.8'],
  ['1M orders in 10 requests, HTTP / plain insert', String(scale.ratio), '>= 0.8'],
  ['1M orders in 10 requests, last request / first (HTTP)', String(scale.http_holds), '>= 0.5'],
  ['1M orders in 10 requests, last / first (plain insert)', String(scale.plain_holds), 'reported'],
  ['ingest peak RSS MB (1M in 10 requests)', String(scale.peak_rss_mb), '<= 256'],
  ['loader / plain insert', String(ivr.ratio_vs_plain), 'reported'],
  ['HTTP ingest / our writer alone', String(ingest.ratio_http_vs_our_writer), 'reported'],
  ['gzip / plain ingest', String(ingest.ratio_gzip_vs_plain), 'within 10%'],
  ['ingest peak RSS MB (plain and gzip, 1M)', String(ingest.peak_rss_mb), '<= 256'],
  ['search NDJSON stream / plain read', String(search.ratio), '>= 0.7'],
  ['search JSON stream / plain read', String(search.json_ratio), '>= 0.7'],
  ['search concurrent peak RSS MB', String(search.concurrent.peak_rss_mb), '< 200'],
  [
    'metrics exact from orders / approx (year by day)',
    String(day.approx_speedup_over_exact_from_orders),
    '>= 20',
  ],
  ['metrics DuckDB approx / ours approx', String(metrics.duckdb.duckdb_approx_over_ours), '>= 5'],
  ['metrics ours exact / DuckDB exact', String(metrics.duckdb.ours_exact_over_duckdb), '<= 3'],
  ...(metrics.every_shape as { shape: string; exact_ratio: number; approx_ratio: number }[]).flatMap(
    (e): [string, string, string][] => [
      [`metrics ${e.shape}: ours exact / DuckDB exact`, String(e.exact_ratio), '<= 3'],
      [`metrics ${e.shape}: ours approx / DuckDB approx`, String(e.approx_ratio), '<= 1'],
    ],
  ),
  [
    'metrics: approx read during steady ingest, p95 ms (hours left out)',
    `${freshness.policies[0].steady.p95_ms} (${freshness.policies[0].steady.most_hours_left_out})`,
    'complete',
  ],
  ...(upload.rows as { body: string; upload_over_request: number }[]).map((r): [string, string, string] => [
    `tus upload / single request (${r.body}, 1M orders)`,
    String(r.upload_over_request),
    '>= 0.9',
  ]),
  ['soak: 20 tenants, peak RSS MB', String(soak.peak_rss_mb), '<= 256'],
  ['soak: /healthz p99 ms', String(soak.healthz_ms.p99), 'reported'],
  [
    'stock mismatches (all modes)',
    String(stock.results.reduce((n: number, r: { mismatches: number }) => n + r.mismatches, 0)),
    '0',
  ],
  ['price webhook / healthz', String(prices.ratio), '>= 0.5'],
  ...exported.map((e): [string, string, string] => [
    `export ${e.case} / plain read`,
    String(e.vs_plain_read),
    '>= 0.7',
  ]),
  ...exported
    .filter((e) => e.duckdb_rows_per_sec)
    .map((e): [string, string, string] => [
      `export ${e.case} / DuckDB COPY`,
      String(ratio(e.rows_per_sec, e.duckdb_rows_per_sec!)),
      'reported',
    ]),
  ['export peak RSS MB', String(Math.max(...exported.map((e) => e.peak_server_rss_mb))), '< 200'],
];
process.stdout.write(
  `\n| measure | value | target |\n|---|---|---|\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}\n`,
);
