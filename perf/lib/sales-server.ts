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
