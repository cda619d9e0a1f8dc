import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVER_MALLOC_ENV, SERVER_NODE_FLAGS } from '../../src/node-flags.js';
import { PROJECT_ROOT } from '../../src/paths.js';

export interface SpawnedServer {
  url: string;
  port: number;
  child: ChildProcess;
  /** Every JSON log line printed so far. */
  logs: Record<string, unknown>[];
  /** What it wrote to stderr so far (a crash's stack, say). */
  stderr(): string;
  exited: Promise<number | null>;
}

/** Starts the built server as a child process and resolves once its "listening" log line names the port. */
export async function spawnServer(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<SpawnedServer> {
  const script = [...SERVER_NODE_FLAGS, join(PROJECT_ROOT, 'dist/src/server.js'), '--port', '0', ...args];
  const child = spawn(process.execPath, script, {
    cwd: PROJECT_ROOT,
    env: { ...SERVER_MALLOC_ENV, ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let buffered = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), timeoutMs);
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          logs.push(parsed);
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
  return { url: `http://127.0.0.1:${port}`, port, child, logs, exited, stderr: () => stderr };
}

/** Resident set size of a process in bytes (Linux /proc), or null elsewhere. */
export function rssOf(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** A process's CPU seconds (user + system, every thread) and minor page faults so far (Linux /proc). */
export interface ProcessCounters {
  cpuSeconds: number;
  minorFaults: number;
}

/**
 * ProcessCounters of a process from /proc/<pid>/stat, or null elsewhere. Page faults are worth counting
 * here: on this machine a minor fault costs ~11 µs (docs/perf.md), so fresh memory is a cost of its own.
 */
export function countersOf(pid: number): ProcessCounters | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the fields after the command name (which may hold spaces), from field 3 (state) on
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = 100; // USER_HZ on Linux
    return { minorFaults: Number(f[7]), cpuSeconds: (Number(f[11]) + Number(f[12])) / ticks };
  } catch {
    return null;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; reports the peak and the series. */
export function sampleRss(
  pid: number,
  everyMs = 100,
): { stop(): { peak: number; samples: [number, number][] } } {
  const samples: [number, number][] = [];
  const start = performance.now();
  const timer = setInterval(() => {
    const rss = rssOf(pid);
    if (rss !== null) samples.push([Math.round(performance.now() - start), rss]);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return { peak: samples.reduce((m, [, r]) => Math.max(m, r), 0), samples };
    },
  };
}

/**
 * Waits until a process has used at most `quietCpuMs` of CPU (every thread) in each of `quietSamples`
 * consecutive windows of `everyMs`, or `maxMs` passed: a server just started is still loading its
 * threads' modules, which a read timed then would share the cores with. Resolves to the ms waited, or
 * null where /proc is not there to tell.
 */
export async function waitUntilIdle(
  pid: number,
  { everyMs = 100, quietCpuMs = 10, quietSamples = 3, maxMs = 15_000 } = {},
): Promise<number | null> {
  const start = performance.now();
  let last = countersOf(pid);
  if (last === null) return null;
  for (let quiet = 0; quiet < quietSamples && performance.now() - start < maxMs; ) {
    await new Promise((resolve) => setTimeout(resolve, everyMs));
    const now = countersOf(pid);
    if (now === null) return null;
    quiet = (now.cpuSeconds - last.cpuSeconds) * 1000 <= quietCpuMs ? quiet + 1 : 0;
    last = now;
  }
  return Math.round(performance.now() - start);
}
