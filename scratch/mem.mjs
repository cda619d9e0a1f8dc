import { openSync, writeSync, closeSync } from 'node:fs';
import { openDatabase } from '../dist/src/storage/sqlite.js';
import { shardPath } from '../dist/src/storage/shards.js';
import { buildSearchSql } from '../dist/src/storage/search-sql.js';
import { SEARCH_FIELDS } from '../dist/src/domain/search.js';
import { createExportEncoder, encodedFile } from '../dist/src/formats/export-encoder.js';
const format = process.argv[2] ?? 'parquet';
const batchRows = Number(process.argv[3] ?? 8192);
const db = openDatabase(shardPath('./data-perf-export-2m', 1), { readonly: true, cacheMiB: 2 });
const { sql, params } = buildSearchSql({}, SEARCH_FIELDS, null, -1);
const encoder = await createExportEncoder(format, format === 'csv' ? 'gzip' : 'zstd', SEARCH_FIELDS);
const fd = openSync('/tmp/mem-out', 'w');
const base = process.memoryUsage();
let peak = { rss: 0 };
let n = 0;
function* batches() {
  let batch = [];
  for (const row of db.prepare(sql).iterate(...params)) {
    batch.push(row);
    if (batch.length === batchRows) { yield batch; batch = []; n++;
      const m = process.memoryUsage();
      if (m.rss > peak.rss) peak = m;
      if (n > 60) break;
    }
  }
}
const progress = { rows: 0, bytes: 0 };
for (const bytes of encodedFile(encoder, batches(), progress)) writeSync(fd, bytes);
closeSync(fd);
const mb = (x) => Math.round(x / 2**20);
console.log(format, batchRows, 'base', Object.fromEntries(Object.entries(base).map(([k,v])=>[k,mb(v)])), 'peak', Object.fromEntries(Object.entries(peak).map(([k,v])=>[k,mb(v)])));
