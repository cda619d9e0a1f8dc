import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/paths.js';

/** Orders/s of each raw-insert variant (perf/raw-insert.ts), run as a child process on the same rows. */
export function rawInsertRates(dataset: string, variants: string[], limit?: string): Record<string, number> {
  const out = execFileSync(
    process.execPath,
    [
      join(PROJECT_ROOT, 'dist/perf/raw-insert.js'),
      '--dataset',
      dataset,
      '--variants',
      variants.join(','),
      '--out',
      '-',
      ...(limit ? ['--limit', limit] : []),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  const result = JSON.parse(out.trim().split('\n').at(-1)!) as {
    variants: { variant: string; orders_per_sec: number }[];
  };
  return Object.fromEntries(result.variants.map((v) => [v.variant, v.orders_per_sec]));
}
