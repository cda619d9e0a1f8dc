/**
 * Draws docs/charts/*.svg from perf/results/*.json (no dependencies): server memory over time during
 * ingest and during concurrent search streams, ingest throughput per request, and latency percentiles.
 *   node dist/perf/charts.js
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/paths.js';
import { round } from './lib/numbers.js';

type Series = { name: string; points: [number, number][] };
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea'];
const W = 720;
const H = 320;
const M = { l: 60, r: 20, t: 36, b: 40 };
const esc = (s: string) => s.replace(/[&<>]/g, (c) => `&#${c.charCodeAt(0)};`);

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v || 1));
  return Math.ceil(v / p) * p;
}

function lineChart(
  title: string,
  xLabel: string,
  yLabel: string,
  series: Series[],
  limit?: { y: number; label: string },
): string {
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const xMax = niceMax(Math.max(...xs));
  const yMax = niceMax(Math.max(...ys, limit?.y ?? 0) * 1.05);
  const x = (v: number) => M.l + (v / xMax) * (W - M.l - M.r);
  const y = (v: number) => H - M.b - (v / yMax) * (H - M.t - M.b);
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600">${esc(title)}</text>`,
    ...ticks.map(
      (t) =>
        `<line x1="${M.l}" x2="${W - M.r}" y1="${y(t * yMax)}" y2="${y(t * yMax)}" stroke="#e5e7eb"/><text x="${M.l - 6}" y="${y(t * yMax) + 4}" text-anchor="end">${Math.round(t * yMax)}</text>`,
    ),
    ...ticks.map(
      (t) =>
        `<text x="${x(t * xMax)}" y="${H - M.b + 16}" text-anchor="middle">${Math.round(t * xMax)}</text>`,
    ),
    `<text x="${W / 2}" y="${H - 6}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="14" y="${H / 2}" text-anchor="middle" transform="rotate(-90 14 ${H / 2})">${esc(yLabel)}</text>`,
  ];
  if (limit) {
    parts.push(
      `<line x1="${M.l}" x2="${W - M.r}" y1="${y(limit.y)}" y2="${y(limit.y)}" stroke="#f59e0b" stroke-dasharray="6 4"/>`,
    );
    parts.push(
      `<text x="${W - M.r}" y="${y(limit.y) - 4}" text-anchor="end" fill="#b45309">${esc(limit.label)}</text>`,
    );
  }
  series.forEach((s, i) => {
    const d = s.points
      .map(([px, py], k) => `${k ? 'L' : 'M'}${x(px).toFixed(1)},${y(py).toFixed(1)}`)
      .join('');
    parts.push(`<path d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`);
    parts.push(
      `<text x="${M.l + 10}" y="${M.t + 14 + i * 16}" fill="${COLORS[i % COLORS.length]}">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function barChart(
  title: string,
  yLabel: string,
  bars: { label: string; values: { name: string; v: number }[] }[],
): string {
  const max = niceMax(Math.max(...bars.flatMap((b) => b.values.map((v) => v.v))) * 1.05);
  const group = (W - M.l - M.r) / bars.length;
  const per = bars[0]!.values.length;
  const bw = (group * 0.7) / per;
  const y = (v: number) => H - M.b - (v / max) * (H - M.t - M.b);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600">${esc(title)}</text>`,
    ...[0, 0.5, 1].map(
      (t) =>
        `<line x1="${M.l}" x2="${W - M.r}" y1="${y(t * max)}" y2="${y(t * max)}" stroke="#e5e7eb"/><text x="${M.l - 6}" y="${y(t * max) + 4}" text-anchor="end">${Math.round(t * max)}</text>`,
    ),
    `<text x="14" y="${H / 2}" text-anchor="middle" transform="rotate(-90 14 ${H / 2})">${esc(yLabel)}</text>`,
  ];
  bars.forEach((b, i) => {
    const x0 = M.l + i * group + group * 0.15;
    b.values.forEach((v, k) => {
      parts.push(
        `<rect x="${(x0 + k * bw).toFixed(1)}" y="${y(v.v).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(H - M.b - y(v.v)).toFixed(1)}" fill="${COLORS[k % COLORS.length]}"/>`,
      );
      parts.push(
        `<text x="${(x0 + k * bw + bw / 2).toFixed(1)}" y="${(y(v.v) - 4).toFixed(1)}" text-anchor="middle" font-size="10">${v.v}</text>`,
      );
    });
    parts.push(
      `<text x="${(x0 + (per * bw) / 2).toFixed(1)}" y="${H - M.b + 16}" text-anchor="middle">${esc(b.label)}</text>`,
    );
  });
  for (const [k, v] of bars[0]!.values.entries()) {
    parts.push(
      `<text x="${W - M.r - 120}" y="${M.t + 14 + k * 16}" fill="${COLORS[k % COLORS.length]}">${esc(v.name)}</text>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

const results = join(PROJECT_ROOT, 'perf/results');
const out = join(PROJECT_ROOT, 'docs/charts');
mkdirSync(out, { recursive: true });
const load = (name: string) =>
  existsSync(join(results, `${name}.json`))
    ? JSON.parse(readFileSync(join(results, `${name}.json`), 'utf8'))
    : null;
const mb = (samples: [number, number][]) =>
  samples.map(([t, rss]) => [t / 1000, Math.round(rss / 2 ** 20)] as [number, number]);
const written: string[] = [];
const save = (file: string, svg: string) => {
  writeFileSync(join(out, file), `${svg}\n`);
  written.push(`docs/charts/${file}`);
};

const ingest = load('ingest');
if (ingest) {
  save(
    'ingest-memory.svg',
    lineChart(
      'Server RSS during HTTP ingest of 1M orders',
      'seconds',
      'MB',
      [
        { name: 'plain NDJSON', points: mb(ingest.plain.rss_samples) },
        { name: 'gzip', points: mb(ingest.gzip.rss_samples) },
      ],
      { y: 200, label: 'budget 200 MB' },
    ),
  );
  let elapsed = 0;
  const through = (chunks: { seconds: number; rows_per_sec: number }[]) =>
    chunks.map((c) => {
      elapsed += c.seconds;
      return [round(elapsed), c.rows_per_sec] as [number, number];
    });
  const plain = through(ingest.plain.chunks);
  elapsed = 0;
  const gz = through(ingest.gzip.chunks);
  save(
    'ingest-throughput.svg',
    lineChart(
      'Ingest throughput per 100k-order request',
      'seconds into the run',
      'orders/s',
      [
        { name: 'plain NDJSON', points: plain },
        { name: 'gzip', points: gz },
      ],
      { y: ingest.raw_orders_per_sec, label: `raw insert limit ${ingest.raw_orders_per_sec}/s` },
    ),
  );
}
const search = load('search');
if (search) {
  save(
    'search-memory.svg',
    lineChart(
      'Server RSS: four 100k-row streams and a slow reader',
      'seconds',
      'MB',
      [{ name: 'server RSS', points: mb(search.rss_samples) }],
      { y: 200, label: 'budget 200 MB' },
    ),
  );
}
const stock = load('stock-race');
const prices = load('prices');
if (stock && prices) {
  save(
    'latency.svg',
    barChart('Latency percentiles (ms)', 'ms', [
      ...stock.results.map((r: { mode: string; latency_ms: { p50: number; p99: number } }) => ({
        label: `stock ${r.mode}`,
        values: [
          { name: 'p50', v: r.latency_ms.p50 },
          { name: 'p99', v: r.latency_ms.p99 },
        ],
      })),
      {
        label: 'price webhook',
        values: [
          { name: 'p50', v: prices.webhook.p50_ms },
          { name: 'p99', v: prices.webhook.p99_ms },
        ],
      },
    ]),
  );
}
process.stdout.write(`${written.join('\n')}\n`);
