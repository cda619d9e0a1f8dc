import { setTimeout as sleep } from 'node:timers/promises';

/** A command-line tool's exit on error: `<tool>: message` on stderr and the exit code. */
export function failWith(tool: string): (message: string, code?: number) => never {
  return (message, code = 1) => {
    process.stderr.write(`${tool}: ${message}\n`);
    process.exit(code);
  };
}

/** A non-negative integer flag, or the tool's usage error. */
export function intFlag(
  raw: string | undefined,
  name: string,
  fail: (m: string, code?: number) => never,
): number {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) fail(`--${name} must be a non-negative integer`, 2);
  return value;
}

/** Sleeps so that `moved` bytes since `startedMs` stay under `bytesPerSecond` (0: no limit). */
export async function pace(bytesPerSecond: number, startedMs: number, moved: number): Promise<void> {
  if (bytesPerSecond <= 0) return;
  const due = (moved / bytesPerSecond) * 1000 - (performance.now() - startedMs);
  if (due > 0) await sleep(due);
}

/** The flags both transfer tools (upload, download) take, with the same meaning and defaults. */
export const TRANSFER_FLAGS = {
  key: { type: 'string', default: process.env.ORDERFLOW_API_KEY },
  'limit-rate': { type: 'string', default: '0' },
  'no-wait': { type: 'boolean', default: false },
  quiet: { type: 'boolean', default: false },
  help: { type: 'boolean' },
} as const;

/** `--help`: the usage line on stdout and exit 0. */
export function helpRequested(help: boolean | undefined, usage: string): void {
  if (!help) return;
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
