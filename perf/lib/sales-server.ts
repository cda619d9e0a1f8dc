import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { ARROW_STREAM_MEDIA_TYPE, MAX_TOP_ARROW } from '../../src/domain/sales.js';
import { type SpawnedServer, spawnServer } from '../../tools/lib/spawn-server.js';
import { round } from './numbers.js';

/** The first tenant of a data directory loaded by `gen-dataset --insert`, and its API key. */
export function firstTenant(dataDir: string): { tenantId: number; apiKey: string } {
  const [first] = JSON.parse(readFileSync(join(dataDir, 'keys.json'), 'utf8')) as {
    tenant_id: number;
    api_key: string;
  }[];
  return { tenantId: first!.tenant_id, apiKey: first!.api_key };
}

/**
 * A server on a data directory with `workers` pool workers, logging warnings only (the metrics harnesses'),
 * and any further arguments (`--storage postgres --database-url …`).
 */
export function metricsServer(
  dataDir: string,
  workers: string,
  extra: string[] = [],
): Promise<SpawnedServer> {
  return spawnServer(['--data', dataDir, '--workers', workers, '--log-level', 'warn', ...extra]);
}

/** A grouping as both sides ask it: our query string, and what DuckDB groups by over which range. */
export interface Shape {
  name: string;
  /** our query string (JSON answers); every product is asked as an Arrow stream instead */
  params: string | null;
  time?: 'day' | 'hour' | 'week' | 'month';
  key?: 'category' | 'product_id';
  top?: number;
}
export const YEAR = 'start_date=2025-01-01&end_date=2026-01-01';
/** Every grouping a user can ask, as the metrics harnesses ask it. */
export const EVERY_SHAPE: Shape[] = [
  { name: 'day, one year', params: `group_by=day&${YEAR}`, time: 'day' },
  {
    name: 'hour, one month',
    params: 'group_by=hour&start_date=2025-06-01&end_date=2025-07-01',
    time: 'hour',
  },
  { name: 'week, one year', params: `group_by=week&${YEAR}`, time: 'week' },
  { name: 'month, one year', params: `group_by=month&${YEAR}`, time: 'month' },
  { name: 'category, one year', params: `group_by=category&${YEAR}`, key: 'category' },
  {
    name: 'top 100 products, one year',
    params: `group_by=product&top=100&${YEAR}`,
    key: 'product_id',
    top: 100,
  },
  { name: 'every product, one year', params: null, key: 'product_id' },
];

/** The query string of every product's ranking for the year, asked as an Arrow stream. */
export const EVERY_PRODUCT_PARAMS = `group_by=product&top=${MAX_TOP_ARROW}&${YEAR}`;

/** One sales answer as JSON, timed until it is parsed: its bucket count and meta (throws on a non-200). */
export async function fetchJsonAnswer(url: string, tenantId: number, apiKey: string, params: string) {
  const started = performance.now();
  const response = await fetch(`${url}/api/v1/tenants/${tenantId}/metrics/sales?${params}`, {
    headers: { authorization: `Bearer ${apiKey}` },
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${params}: ${response.status} ${text}`);
  const body = JSON.parse(text) as { data: unknown[]; meta: Record<string, unknown> };
  return {
    status: response.status,
    buckets: body.data.length,
    ms: round(performance.now() - started),
    meta: body.meta,
  };
}

/**
 * One sales answer as an Arrow IPC stream, timed until its last byte is read: its buckets, record batches,
 * size and the meta the stream carries (schema metadata `orderflow.meta`).
 */
export async function fetchArrowAnswer(url: string, tenantId: number, apiKey: string, params: string) {
  const started = performance.now();
  const response = await fetch(`${url}/api/v1/tenants/${tenantId}/metrics/sales?${params}`, {
    headers: { authorization: `Bearer ${apiKey}`, accept: ARROW_STREAM_MEDIA_TYPE },
  });
  const bytes = new Uint8Array(await response.arrayBuffer());
  const ms = round(performance.now() - started);
  if (response.status !== 200)
    throw new Error(`${params}: ${response.status} ${new TextDecoder().decode(bytes)}`);
  const table = tableFromIPC(bytes);
  const meta = JSON.parse(table.schema.metadata.get('orderflow.meta') ?? '{}') as Record<string, unknown>;
  return {
    status: response.status,
    buckets: table.numRows,
    record_batches: table.batches.length,
    mb: round(bytes.length / 2 ** 20),
    ms,
    meta,
  };
}
