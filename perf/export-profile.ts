/**
 * Where an export's time goes, stage by stage, in this process on one thread, over every order of the first
 * tenant with every field (a loaded dataset: npm run gen-dataset -- --preset small --insert --data DIR):
 * the plain read (the outside limit), the keyset pages the service reads, then each encoding step alone on
 * rows already in memory (CSV text, gzip, NDJSON, Arrow building, the whole Parquet encoder).
 *   node dist/perf/export-profile.js --data DIR [--batch-rows 4096]
 * Prints a table; writes perf/results/export-profile.json.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { SEARCH_FIELDS, type SearchRow, searchRowEncoder } from '../src/domain/search.js';
import { CsvEncoder, GZIP_LEVEL } from '../src/formats/csv-encoder.js';
import { orderTable } from '../src/formats/order-arrow.js';
import { ParquetEncoder } from '../src/formats/parquet-encoder.js';
import { exportBatches } from '../src/storage/export-batches.js';
import { openShardReader } from '../src/storage/shards.js';
import { plainRead } from './lib/plain-read.js';
import { machine, writeResult } from './lib/results.js';

const { values } = parseArgs({
  options: { data: { type: 'string', default: './data' }, 'batch-rows': { type: 'string', default: '4096' } },
});
const dataDir = values.data!;
const batchRows = Number(values['batch-rows']);
const keys = JSON.parse(readFileSync(join(dataDir, 'keys.json'), 'utf8')) as { tenant_id: number }[];
const tenantId = keys[0]!.tenant_id;
const fields = SEARCH_FIELDS;

const stages: { stage: string; seconds: number; us_per_row: number; rows_per_sec: number }[] = [];
let rows = 0;
function time(stage: string, fn: () => void) {
  const t0 = performance.now();
  fn();
  const seconds = (performance.now() - t0) / 1000;
  stages.push({
    stage,
    seconds: Math.round(seconds * 100) / 100,
    us_per_row: Math.round((seconds / rows) * 1e7) / 10,
    rows_per_sec: Math.round(rows / seconds),
  });
}

const limit = plainRead(dataDir, tenantId);
rows = limit.rows;
const db = openShardReader(dataDir, tenantId);
const pages = () => exportBatches(db, {}, fields, null, batchRows);
let batches: SearchRow[][] = [];
time(`keyset pages of ${batchRows} (what exports read)`, () => {
  batches = Array.from(pages(), (page) => [...page]);
});
db.close();
const csv = new CsvEncoder(fields, false);
let texts: Uint8Array[] = [];
time('CSV text, cells neutralised and quoted', () => {
  texts = batches.map((b) => new Uint8Array(csv.plain(b).bytes));
});
time(`gzip level ${GZIP_LEVEL} of that text`, () => {
  for (const t of texts) gzipSync(t, { level: GZIP_LEVEL });
});
const encode = searchRowEncoder(fields);
time('NDJSON lines (search streams)', () => {
  for (const b of batches) for (const r of b) encode(r);
});
time('Arrow record batches', () => {
  for (const b of batches) orderTable(b, fields);
});
const parquet = new ParquetEncoder(fields, 'zstd');
time('Parquet (Arrow, then parquet-wasm, zstd)', () => {
  let offset = 4;
  for (const b of batches) offset += parquet.encode(b, offset).bytes.length;
});

writeResult('export-profile', {
  benchmark: 'export-profile',
  at: new Date().toISOString(),
  env: machine({ batch_rows: batchRows }),
  rows,
  plain_read: limit,
  stages,
});
process.stdout.write(
  [
    `${rows} rows; plain read (one statement, in process): ${limit.objects_rows_per_sec} rows/s as objects, ${limit.raw_rows_per_sec} raw`,
    '',
    '| stage (one thread) | s | µs per row | rows/s |',
    '|---|---|---|---|',
    ...stages.map((s) => `| ${s.stage} | ${s.seconds} | ${s.us_per_row} | ${s.rows_per_sec} |`),
    '',
  ].join('\n'),
);
