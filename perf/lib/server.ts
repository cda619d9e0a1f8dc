import { spawnServer } from '../../tools/lib/spawn-server.js';

/** The admin token of a benchmark's own server (tenants are created through the admin API). */
export const PERF_ADMIN = 'perf-admin';

/** The built server on `dataDir` with the admin API on and warnings-only logs, plus `flags`. */
export function startPerfServer(dataDir: string, flags: readonly string[] = []) {
  return spawnServer(['--data', dataDir, '--admin-token', PERF_ADMIN, '--log-level', 'warn', ...flags]);
}
