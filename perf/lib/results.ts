import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/paths.js';

/** What every result records about the machine it ran on. */
export function machine(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cpus: availableParallelism(),
    cpu: cpus()[0]?.model,
    ram_gb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    ...extra,
  };
}

/** Writes perf/results/<name>.json (the machine-readable record docs/perf.md quotes). */
export function writeResult(name: string, result: unknown): void {
  mkdirSync(join(PROJECT_ROOT, 'perf/results'), { recursive: true });
  writeFileSync(join(PROJECT_ROOT, `perf/results/${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
}

/**
 * Records a benchmark's run: `fields` with its name, the time and the machine, written to
 * perf/results/<name>.json and printed as one JSON line.
 */
export function recordResult(name: string, benchmark: string, fields: Record<string, unknown>): void {
  const out = { benchmark, at: new Date().toISOString(), env: machine(), ...fields };
  writeResult(name, out);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
