import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnServer } from '../../tools/lib/spawn-server.js';
import { ndjson } from './data.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ADMIN_TOKEN = 'test-admin-token';
/** The server's log message for a problem its operation does not document (src/app.ts). */
const UNDOCUMENTED_PROBLEM = 'problem code not documented for its operation';

export interface TestServer {
  url: string;
  port: number;
  dataDir: string;
  child: ChildProcess;
  /** Every JSON log line printed so far. */
  logs(): Record<string, unknown>[];
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Key of the admin API helper: creates a tenant through HTTP. */
  createTenant(name: string): Promise<{ tenant_id: number; api_key: string; key_id: number }>;
}

/** Servers started by this test file and not yet exited: a failed test leaves its servers behind. */
const running = new Set<ChildProcess>();

/**
 * Kills what a test file left running (test/setup.ts calls it after every file): a test that fails before
 * its `stop()` would otherwise leave a server beating its heartbeat in a dropped schema, taking CPU from
 * the files that follow.
 */
export function killLeftoverServers(): number {
  let killed = 0;
  for (const child of running)
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      killed++;
    }
  running.clear();
  return killed;
}

export function tempDataDir(prefix = 'orderflow-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Starts the built server (dist/) on a free port with a temp data dir and waits for its listening line. */
export async function startServer(
  options: { args?: string[]; dataDir?: string; env?: Record<string, string>; admin?: boolean } = {},
): Promise<TestServer> {
  const dataDir = options.dataDir ?? tempDataDir();
  const spawned = await spawnServer(
    [
      ...['--data', dataDir, '--workers', '2', '--log-level', 'info'],
      ...(options.admin === false ? [] : ['--admin-token', ADMIN_TOKEN]),
      ...(options.args ?? []),
    ],
    options.env,
  );
  const { url, port, child } = spawned;
  running.add(child);
  child.once('exit', () => running.delete(child));
  return {
    url,
    port,
    dataDir,
    child,
    logs: () => spawned.logs,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const code = await spawned.exited;
      // every problem a test provoked must be listed in its operation's OpenAPI entry
      const undocumented = spawned.logs.filter((l) => l.msg === UNDOCUMENTED_PROBLEM);
      if (undocumented.length)
        throw new Error(
          `problem codes not documented for their operation: ${[...new Set(undocumented.map((l) => `${l.operation} -> ${l.code}`))].join('; ')}`,
        );
      return code;
    },
    async createTenant(name: string) {
      const res = await fetch(`${url}/api/v1/admin/tenants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      if (res.status !== 201) throw new Error(`tenant create failed: ${res.status} ${await res.text()}`);
      return (await res.json()) as { tenant_id: number; api_key: string; key_id: number };
    },
  };
}

export { metricValue } from '../../tools/lib/prometheus-text.js';

/** The server's warning and error log lines so far, one JSON per line: what a failed assertion shows. */
export function serverErrors(s: Pick<TestServer, 'logs'>): string {
  return s
    .logs()
    .filter((l) => typeof l.level === 'number' && l.level >= 40)
    .map((l) => JSON.stringify(l))
    .join('\n');
}

/** POSTs rows as NDJSON to an ingest path (`/api/v1/ingest/orders/` by default) and requires a 200. */
export async function ingestRows(
  s: Pick<TestServer, 'url'>,
  apiKey: string,
  rows: readonly unknown[],
  path = '/api/v1/ingest/orders/',
): Promise<void> {
  const res = await fetch(`${s.url}${path}`, {
    method: 'POST',
    headers: auth(apiKey, { 'content-type': 'application/x-ndjson' }),
    body: ndjson(rows),
  });
  if (res.status !== 200) throw new Error(`ingest ${path}: ${res.status} ${await res.text()}`);
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function auth(apiKey: string, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${apiKey}`, ...extra };
}

/** Waits until `check` is true, polling. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A query string from a record of parameters. */
export function queryString(params: Record<string, string | number>): string {
  return new URLSearchParams(
    Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]),
  ).toString();
}
