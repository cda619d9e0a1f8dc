import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { missingServerSettings, SERVER_MALLOC_ENV, SERVER_NODE_FLAGS } from '../../src/node-flags.js';

const MALLOC = Object.keys(SERVER_MALLOC_ENV);
const ALL_ENV = { ...SERVER_MALLOC_ENV };

describe('recommended server settings', () => {
  it('node flags are found on the command line or in NODE_OPTIONS, with any value the operator chose', () => {
    expect(missingServerSettings([], {})).toEqual([...SERVER_NODE_FLAGS, ...MALLOC]);
    expect(missingServerSettings([...SERVER_NODE_FLAGS], ALL_ENV)).toEqual([]);
    expect(
      missingServerSettings(['--heap-growing-percent=30'], {
        ...ALL_ENV,
        NODE_OPTIONS: '--inspect --max-semi-space-size=2',
      }),
    ).toEqual([]);
    expect(missingServerSettings(['--max-semi-space-size=8', '--heap-growing-percent=50'], ALL_ENV)).toEqual(
      [],
    );
    expect(missingServerSettings(['--max-semi-space-size=2'], ALL_ENV)).toEqual([
      '--heap-growing-percent=30',
    ]);
    expect(
      missingServerSettings(['--max-old-space-size=2'], { ...ALL_ENV, NODE_OPTIONS: '--max-semi' }),
    ).toEqual([...SERVER_NODE_FLAGS]);
    expect(missingServerSettings([...SERVER_NODE_FLAGS], { MALLOC_ARENA_MAX: '4' })).toEqual([
      'MALLOC_MMAP_THRESHOLD_',
    ]);
  });

  it('are set by npm start and npm run demo (an operator may override the malloc values)', () => {
    const { scripts } = JSON.parse(readFileSync('package.json', 'utf8')) as {
      scripts: Record<string, string>;
    };
    for (const script of ['start', 'demo']) {
      for (const flag of SERVER_NODE_FLAGS) expect(scripts[script], script).toContain(` ${flag} `);
      for (const [name, value] of Object.entries(SERVER_MALLOC_ENV))
        expect(scripts[script], script).toContain(`${name}=\${${name}:-${value}}`);
    }
  });
});
