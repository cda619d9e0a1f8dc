/**
 * Where an export batch's time goes, stage by stage, on one tenant (in process, one thread):
 *   node dist/perf/export-profile.js --data DIR [--batch-rows N]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { SEARCH_FIELDS, type SearchRow } from '../src/domain/search.js';
import { CsvEncoder } from '../src/formats/csv-encoder.js';
import { orderTable } from '../src/formats/order-arrow.js';
import { ParquetEncoder } from '../src/formats/parquet-encoder.js';
import { exportBatches } from '../src/storage/export-batches.js';
import { buildSearchSql } from '../src/storage/search-sql.js';
import { shardPath } from '../src/storage/shards.js';
import { openDatabase } from '../src/storage/sqlite.js';

const { values } = parseArgs({
  options: { data: { type: 'string', default: './data' }, 'batch-rows': { type: 'string', default: '4096' } },
});
const dataDir = values.data!;
const batchRows = Number(values['batch-rows']);
const keys = JSON.parse(readFileSync(join(dataDir, 'keys.json'), 'utf8')) as { tenant_id: number }[];
const tenantId = keys[0]!.tenant_id;
const db = openDatabase(shardPath(dataDir, tenantId), { readonly: true, cacheMiB: 2 });
const fields = SEARCH_FIELDS;

function time(name: string, fn: () => number) {
  const t0 = performance.now();
  const rows = fn();
  const s = (performance.now() - t0) / 1000;
  console.log(`${name.padEnd(40)} ${rows} rows ${(s).toFixed(2)} s ${Math.round(rows / s)} rows/s`);
}
const { sql, params } = buildSearchSql({}, fields, null, -1);
for (let rep = 0; rep < 2; rep++) {
  time('plain read (one statement)', () => {
    let n = 0;
    for (const _ of db.prepare(sql).iterate(...params)) n++;
    return n;
  });
  time('plain read raw', () => {
    let n = 0;
    for (const _ of db
      .prepare(sql)
      .raw()
      .iterate(...params))
      n++;
    return n;
  });
}
time('paged read', () => {
  let n = 0;
  for (const rows of exportBatches(db, {}, fields, null, batchRows)) n += rows.length;
  return n;
});
const csv = new CsvEncoder(fields, false);
time('paged + csv', () => {
  let n = 0;
  for (const rows of exportBatches(db, {}, fields, null, batchRows)) {
    csv.encode(rows);
    n += rows.length;
  }
  return n;
});
const csvgz = new CsvEncoder(fields, true);
time('paged + csv gzip', () => {
  let n = 0;
  for (const rows of exportBatches(db, {}, fields, null, batchRows)) {
    csvgz.encode(rows);
    n += rows.length;
  }
  return n;
});
const all: SearchRow[][] = [...exportBatches(db, {}, fields, null, batchRows)];
const count = all.reduce((a, b) => a + b.length, 0);
time('csv encode only', () => {
  for (const r of all) csv.encode(r);
  return count;
});
const texts = all.map((r) => new Uint8Array(csv.plain(r)));
time('gzip only (level 6)', () => {
  for (const t of texts) gzipSync(t, { level: 6 });
  return count;
});
time('gzip only (level 1)', () => {
  for (const t of texts) gzipSync(t, { level: 1 });
  return count;
});
time('arrow build only', () => {
  for (const r of all) orderTable(r, fields);
  return count;
});
const pq = new ParquetEncoder(fields, 'zstd');
time('parquet encode (arrow+wasm)', () => {
  let off = 4;
  for (const r of all) off += pq.encode(r, off).bytes.length;
  return count;
});
console.log('csv MB', texts.reduce((a, t) => a + t.length, 0) / 2 ** 20);
