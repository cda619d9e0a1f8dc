import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ADMIN_TOKEN = 'test-admin-token';

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

export function tempDataDir(prefix = 'orderflow-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Starts the built server (dist/) on a free port with a temp data dir and waits for its listening line. */
export async function startServer(
  options: { args?: string[]; dataDir?: string; env?: Record<string, string>; admin?: boolean } = {},
): Promise<TestServer> {
  const dataDir = options.dataDir ?? tempDataDir();
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'dist/src/server.js'),
      ...['--port', '0', '--data', dataDir, '--workers', '2', '--log-level', 'info'],
      ...(options.admin === false ? [] : ['--admin-token', ADMIN_TOKEN]),
      ...(options.args ?? []),
    ],
    { cwd: ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  let buffered = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 20_000);
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl = buffered.indexOf('\n');
      while (nl !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          lines.push(parsed);
          if (parsed.msg === 'listening') {
            clearTimeout(timer);
            resolve(parsed.port as number);
          }
        } catch {
          // not a log line
        }
      }
    });
    exited.then((code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    dataDir,
    child,
    logs: () => lines,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
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
