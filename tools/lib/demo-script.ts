/**
 * What `npm run demo` sets up and the commands it prints, in one place: the demo prints them and
 * test/integration/printed-commands.test.ts runs every one against a real server, so a newcomer never
 * pastes a broken one.
 */
import { join } from 'node:path';
import { ensureTenants, loadDataset, loadOptions, type TableLoad } from '../gen/load.js';
import { DEFAULT_START, PRESETS } from '../gen/model.js';
import { writeTenantFiles } from '../gen/write-files.js';

export interface DemoData {
  tenantId: number;
  apiKey: string;
  /** the generated orders file (absolute path) */
  ordersFile: string;
  loaded: TableLoad[];
}

/** Writes the tiny dataset to `out` and loads it offline into a fresh tenant of `dataDir`. */
export async function prepareDemoData(dataDir: string, out: string): Promise<DemoData> {
  await writeTenantFiles(
    { ...PRESETS.tiny, tenants: 1, seed: 42, start: DEFAULT_START, days: 365 },
    1,
    out,
    'ndjson',
    false,
  );
  const load = loadOptions({ out, dataDir, tenants: 1 });
  const [key] = await ensureTenants(load);
  const loaded = await loadDataset(load, [key!]);
  return {
    tenantId: key!.tenant_id,
    apiKey: key!.api_key,
    ordersFile: join(key!.dir, 'orders.ndjson'),
    loaded,
  };
}

/**
 * Price webhooks through the API, as a merchant's feed would send them: for each of a few products a small
 * move, then a jump of 40-45% that is flagged for review, so the console's anomaly queue has work in it.
 * Returns how many were flagged.
 */
export async function postDemoPriceEvents(base: string, apiKey: string, tenantId: number): Promise<number> {
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  let flagged = 0;
  for (let productId = 1; productId <= 6; productId++) {
    const res = await fetch(`${base}/api/v1/tenants/${tenantId}/products/${productId}`, { headers });
    if (!res.ok) throw new Error(`demo: product ${productId} answered ${res.status}`);
    const { price_cents: price } = (await res.json()) as { price_cents: number };
    const moves = [1.04, productId % 2 ? 1.45 : 0.6];
    for (const [i, factor] of moves.entries()) {
      const event = await fetch(`${base}/api/v1/tenants/${tenantId}/products/${productId}/price-event`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          event_id: `demo-price-${productId}-${i}`,
          price_cents: Math.round(price * factor * (i ? 1.04 : 1)),
          observed_at: new Date(Date.now() - (moves.length - i) * 60_000).toISOString(),
        }),
      });
      if (!event.ok) throw new Error(`demo: price event answered ${event.status}`);
      if (((await event.json()) as { anomaly: boolean }).anomaly) flagged++;
    }
  }
  return flagged;
}

export interface DemoContext {
  base: string;
  apiKey: string;
  tenantId: number;
  /** as the reader should type it (relative to the repository root) */
  ordersFile: string;
  adminToken: string;
  /** where the commands write their downloads */
  tmp: string;
}

/** One printed step: a comment line and the shell commands under it (a command may span lines with `\`). */
export interface DemoStep {
  comment: string;
  commands: string[];
}

/** The commands the demo prints, with $OF and $KEY set by its first step. */
export function demoSteps(c: DemoContext): DemoStep[] {
  const t = c.tenantId;
  const auth = '-H "Authorization: Bearer $KEY"';
  const ndjson = "-H 'Content-Type: application/x-ndjson'";
  const json = "-H 'Content-Type: application/json'";
  const order =
    '{"order_id":"DEMO-1","customer_id":"C-1","customer_name":"Ada Lovelace","customer_email":"ada@example.com","status":"paid","currency":"USD","created_at":"2026-03-01T10:15:00Z","total_cents":1999,"items":[{"product_id":17,"quantity":1,"unit_price_cents":1999}]}';
  const latestExport = `"$OF$(curl -s "$OF/api/v1/tenants/${t}/reports/exports?limit=1" ${auth} | node -pe 'JSON.parse(require("fs").readFileSync(0)).data[0].status_url')"`;
  return [
    { comment: '', commands: [`export OF=${c.base} KEY=${c.apiKey}`] },
    {
      comment: `health and the API reference (open ${c.base}/docs in a browser)`,
      commands: ['curl -s $OF/healthz', 'curl -s $OF/openapi.json | head -c 300; echo'],
    },
    {
      comment: 'bulk ingest: the same file again is all duplicates; a bad row is reported, the rest inserted',
      commands: [
        `curl -s -X POST $OF/api/v1/ingest/orders/ ${auth} \\\n     ${ndjson} --data-binary @${c.ordersFile}`,
        `printf '%s\\n' '${order}' 'not json' |\n  curl -s -X POST $OF/api/v1/ingest/orders/ ${auth} \\\n     ${ndjson} -H 'Idempotency-Key: demo-1' --data-binary @-`,
      ],
    },
    {
      comment: 'gzip on the wire',
      commands: [
        `gzip -c ${c.ordersFile} | curl -s -X POST $OF/api/v1/ingest/orders/ ${auth} \\\n     -H 'Content-Type: application/octet-stream' --data-binary @-`,
      ],
    },
    {
      comment: 'search, and sales by month and by category',
      commands: [
        `curl -s "$OF/api/v1/tenants/${t}/orders/search?status=paid&fields=order_id,created_at,total_cents&limit=3" ${auth}`,
        `curl -s "$OF/api/v1/tenants/${t}/metrics/sales?group_by=month&start_date=2025-01-01&end_date=2026-01-01" ${auth}`,
        `curl -s "$OF/api/v1/tenants/${t}/metrics/sales?group_by=category&start_date=2025-01-01&end_date=2026-01-01&precision=exact" ${auth}`,
      ],
    },
    {
      comment:
        'a price webhook: a jump of 20% or more is flagged for review (see Price anomalies in the console)',
      commands: [
        `curl -s -X POST $OF/api/v1/tenants/${t}/products/17/price-event ${auth} \\\n     ${json} -d '{"event_id":"demo-cli-1","price_cents":99999,"observed_at":"2026-03-01T10:15:00Z"}'`,
      ],
    },
    {
      comment: 'export to Parquet (a checkpointed job), then download it with resume and sha256 check',
      commands: [
        `curl -s -X POST $OF/api/v1/tenants/${t}/reports/export ${auth} \\\n     ${json} -d '{"format":"parquet"}'`,
        `npm run -s download -- ${latestExport} --key $KEY --out ${c.tmp}/demo-orders.parquet`,
      ],
    },
    {
      comment: 'or streamed as the response, gzip on the fly',
      commands: [
        `curl -s --compressed -X POST $OF/api/v1/tenants/${t}/reports/export ${auth} \\\n     -H 'Accept: text/csv' ${json} -d '{"fields":["order_id","total_cents"]}' | head -3`,
      ],
    },
    {
      comment: 'resumable upload (tus): interrupt it and run it again to resume',
      commands: [`npm run -s upload -- ${c.ordersFile} --url $OF --key $KEY`],
    },
    {
      comment: 'operations',
      commands: [
        'curl -s $OF/metrics.json',
        "curl -s $OF/metrics | grep -E '^(ingest_rows_total|db_query_duration_seconds)' | head",
      ],
    },
    {
      comment: 'admin (token printed only here): another tenant and key',
      commands: [
        `curl -s -X POST $OF/api/v1/admin/tenants -H 'Authorization: Bearer ${c.adminToken}' \\\n     ${json} -d '{"name":"acme"}'`,
      ],
    },
  ];
}

/** The steps as the demo prints them, indented. */
export function formatSteps(steps: DemoStep[]): string {
  const indent = (s: string) => s.replace(/^/gm, '  ');
  return steps
    .map((s) => indent([...(s.comment ? [`# ${s.comment}`] : []), ...s.commands].join('\n')))
    .join('\n\n');
}
