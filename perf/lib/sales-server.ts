import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type SpawnedServer, spawnServer } from '../../tools/lib/spawn-server.js';

/** The first tenant of a data directory loaded by `gen-dataset --insert`, and its API key. */
export function firstTenant(dataDir: string): { tenantId: number; apiKey: string } {
  const [first] = JSON.parse(readFileSync(join(dataDir, 'keys.json'), 'utf8')) as {
    tenant_id: number;
    api_key: string;
  }[];
  return { tenantId: first!.tenant_id, apiKey: first!.api_key };
}

/** A server on a data directory with `workers` pool workers, logging warnings only (the metrics harnesses'). */
export function metricsServer(dataDir: string, workers: string): Promise<SpawnedServer> {
  return spawnServer(['--data', dataDir, '--workers', workers, '--log-level', 'warn']);
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
