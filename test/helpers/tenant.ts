import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './server.js';

/** Runs the built tenant CLI (what `npm run tenant -- create` runs) and parses its one JSON line. */
export function createTenantOffline(
  dataDir: string,
  name: string,
): { tenant_id: number; name: string; api_key: string } {
  const out = execFileSync(
    process.execPath,
    [join(ROOT, 'dist/tools/tenant.js'), 'create', '--name', name, '--data', dataDir],
    { encoding: 'utf8' },
  );
  const lines = out.trim().split('\n');
  expectOneLine(lines);
  return JSON.parse(lines[0]!);
}

function expectOneLine(lines: string[]): void {
  if (lines.length !== 1) throw new Error(`expected one JSON line, got ${lines.length}`);
}
