import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './server.js';

/** Runs the built tenant CLI (what `npm run tenant -- <command>` runs) and parses its one JSON line. */
export function tenantTool<T = Record<string, unknown>>(dataDir: string, args: string[]): T {
  const out = execFileSync(
    process.execPath,
    [join(ROOT, 'dist/tools/tenant.js'), ...args, '--data', dataDir],
    {
      encoding: 'utf8',
    },
  );
  const lines = out.trim().split('\n');
  if (lines.length !== 1) throw new Error(`expected one JSON line, got ${lines.length}`);
  return JSON.parse(lines[0]!) as T;
}

export function createTenantOffline(
  dataDir: string,
  name: string,
): { tenant_id: number; name: string; api_key: string } {
  return tenantTool(dataDir, ['create', '--name', name]);
}
