/**
 * The newcomer's path: a tiny generated dataset loaded into a fresh data dir, the server started on it,
 * and curl commands printed with a working API key. Ctrl-C stops it.
 *   npm run demo [-- --port 8080]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { startServer } from '../src/server.js';
import { ensureTenants, loadDataset, loadOptions } from './gen/load.js';
import { DEFAULT_START, PRESETS } from './gen/model.js';
import { writeTenantFiles } from './gen/write-files.js';

const { values } = parseArgs({ options: { port: { type: 'string', default: process.env.PORT ?? '8080' } } });
const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
const dataDir = resolve('data', `demo-${stamp}`);
const out = resolve('datasets', 'demo');
mkdirSync(dataDir, { recursive: true });

const tiny = PRESETS.tiny;
const options = { ...tiny, tenants: 1, seed: 42, start: DEFAULT_START, days: 365 };
process.stdout.write(`Generating a tiny dataset in ${relative('.', out)} ...\n`);
await writeTenantFiles(options, 1, out, 'ndjson', false);
const load = loadOptions({ out, dataDir, tenants: 1 });
const [key] = ensureTenants(load);
const report = await loadDataset(load, [key!]);
process.stdout.write(
  `Loaded ${report.map((r) => `${r.rows_inserted} ${r.table}`).join(', ')} into ${relative('.', dataDir)}\n`,
);

const adminToken = randomBytes(18).toString('base64url');
const tryStart = async (port: string) =>
  startServer(
    loadConfig(['--port', port, '--data', dataDir, '--admin-token', adminToken, '--log-level', 'warn']),
  );
let server: Awaited<ReturnType<typeof tryStart>>;
try {
  server = await tryStart(values.port!);
} catch (error) {
  if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
  server = await tryStart('0');
}
const base = `http://127.0.0.1:${server.port}`;
const api = key!.api_key;
const t = key!.tenant_id;
const ordersFile = relative('.', join(key!.dir, 'orders.ndjson'));

process.stdout.write(`
Orderflow is running at ${base}  (tenant ${t}, data in ${relative('.', dataDir)})

  export OF=${base} KEY=${api}

  # health and the API reference (open ${base}/docs in a browser)
  curl -s $OF/healthz
  curl -s $OF/openapi.json | head -c 300; echo

  # bulk ingest: the same file again is all duplicates; a bad row is reported, the rest inserted
  curl -s -X POST $OF/api/v1/ingest/orders/ -H "Authorization: Bearer $KEY" \\
       -H 'Content-Type: application/x-ndjson' --data-binary @${ordersFile}
  printf '%s\\n' '{"order_id":"DEMO-1","customer_id":"C-1","customer_name":"Ada Lovelace","customer_email":"ada@example.com","status":"paid","currency":"USD","created_at":"2026-03-01T10:15:00Z","total_cents":1999,"items":[{"product_id":17,"quantity":1,"unit_price_cents":1999}]}' 'not json' |
    curl -s -X POST $OF/api/v1/ingest/orders/ -H "Authorization: Bearer $KEY" \\
       -H 'Content-Type: application/x-ndjson' -H 'Idempotency-Key: demo-1' --data-binary @-

  # gzip on the wire
  gzip -c ${ordersFile} | curl -s -X POST $OF/api/v1/ingest/orders/ -H "Authorization: Bearer $KEY" \\
       -H 'Content-Type: application/octet-stream' --data-binary @-

  # search, and sales by day
  curl -s "$OF/api/v1/tenants/${t}/orders/search?status=paid&fields=order_id,created_at,total_cents&limit=3" -H "Authorization: Bearer $KEY"
  curl -s "$OF/api/v1/tenants/${t}/metrics/sales?group_by=month&start_date=2025-01-01&end_date=2026-01-01" -H "Authorization: Bearer $KEY"

  # export to Parquet (a checkpointed job), then download it with resume and sha256 check
  curl -s -X POST $OF/api/v1/tenants/${t}/reports/export -H "Authorization: Bearer $KEY" \
       -H 'Content-Type: application/json' -d '{"format":"parquet"}'
  npm run -s download -- "$OF$(curl -s "$OF/api/v1/tenants/${t}/reports/exports?limit=1" -H "Authorization: Bearer $KEY" | node -pe 'JSON.parse(require("fs").readFileSync(0)).data[0].status_url')" --key $KEY --out /tmp/demo-orders.parquet
  # or streamed as the response, gzip on the fly
  curl -s --compressed -X POST $OF/api/v1/tenants/${t}/reports/export -H "Authorization: Bearer $KEY" \
       -H 'Accept: text/csv' -H 'Content-Type: application/json' -d '{"fields":["order_id","total_cents"]}' | head -3

  # resumable upload (tus): interrupt it and run it again to resume
  npm run -s upload -- ${ordersFile} --url $OF --key $KEY

  # operations
  curl -s $OF/metrics.json
  curl -s $OF/metrics | grep -E '^(ingest_rows_total|db_query_duration_seconds)' | head

  # admin (token printed only here): another tenant and key
  curl -s -X POST $OF/api/v1/admin/tenants -H 'Authorization: Bearer ${adminToken}' \\
       -H 'Content-Type: application/json' -d '{"name":"acme"}'

Ctrl-C stops the server.
`);

const stop = () => {
  server.stop().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
