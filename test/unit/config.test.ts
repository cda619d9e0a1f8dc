import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { optionsMarkdownTable } from '../../src/config/help.js';
import { allOptions, ConfigError, loadConfig } from '../../src/config/load.js';
import { currentOptionsTable } from '../../tools/lib/readme-table.js';
import { ROOT } from '../helpers/server.js';

describe('config', () => {
  it('reads flags over env over defaults, into typed groups', () => {
    const c = loadConfig(['--port', '9000', '--workers=3', '--ingest-mode', 'inline'], {
      PORT: '7000',
      MAX_QUEUE: '5',
      ADMIN_TOKEN: 't',
      DATA_DIR: 'somewhere',
      MAX_BODY_BYTES: '4096',
    });
    expect(c.server.port).toBe(9000);
    expect(c.pool.workers).toBe(3);
    expect(c.pool.maxQueue).toBe(5);
    expect(c.server.adminToken).toBe('t');
    expect(c.server.dataDir).toBe(join(process.cwd(), 'somewhere'));
    expect(c.body.maxBytes).toBe(4096);
    expect(c.ingest.mode).toBe('inline');
  });

  it('has typed defaults, machine-dependent ones from the core count', () => {
    const c = loadConfig([], {}, 6);
    expect(c.server.adminToken).toBeNull();
    expect(c.server.port).toBe(8080);
    expect(c.pool.workers).toBe(6);
    expect(c.pool.writerLanes).toBe(3);
    expect(c.export.parts).toBe(6);
    expect(c.body.maxBytes).toBe(16 * 1024 ** 3);
    expect(c.sqlite.writerSynchronous).toBe('full');
    expect(loadConfig([], {}, 1).pool.writerLanes).toBe(1);
  });

  it('rejects unknown flags, stray words, missing values and bad numbers (strict)', () => {
    expect(() => loadConfig(['--nope', '1'], {})).toThrow(ConfigError);
    expect(() => loadConfig(['--nope', '1'], {})).toThrow(/nope/);
    expect(() => loadConfig(['--port'], {})).toThrow(ConfigError);
    expect(() => loadConfig(['8080'], {})).toThrow(ConfigError);
    expect(() => loadConfig(['--port', '--workers', '2'], {})).toThrow(ConfigError);
    expect(() => loadConfig(['--workers', '0'], {})).toThrow(/workers/);
    expect(() => loadConfig(['--port', '12abc'], {})).toThrow(/port/);
    expect(() => loadConfig([], { PORT: '-1' })).toThrow(/port/);
    expect(() => loadConfig(['--log-level', 'loud'], {})).toThrow(/log-level/);
  });

  it('names every environment variable after its flag, but the one the contract names otherwise', () => {
    for (const o of allOptions()) {
      const expected = o.flag === 'data' ? 'DATA_DIR' : o.flag.toUpperCase().replaceAll('-', '_');
      expect(o.env).toBe(expected);
    }
    expect(new Set(allOptions().map((o) => o.flag)).size).toBe(allOptions().length);
  });

  it('--help, as the built server prints it, shows the options a user is told about, with their defaults', () => {
    const help = execFileSync(process.execPath, [join(ROOT, 'dist/src/server.js'), '--help'], {
      encoding: 'utf8',
    });
    // written by hand from the contract and the README, not generated from the declarations
    const lines = help.split('\n').map((line) => line.replace(/\s+/g, ' ').trim());
    for (const expected of [
      '--port PORT HTTP port; 0 picks a free one [default: 8080]',
      '--data DATA_DIR data directory (catalog, shards, staging) [default: ./data]',
      '--admin-token ADMIN_TOKEN admin bearer token; empty turns admin endpoints off [default: (off)]',
      '--workers WORKERS worker threads in the pool [default: CPU count]',
      '--max-body-bytes MAX_BODY_BYTES largest ingest body on the wire [default: 16 GiB]',
    ])
      expect(lines).toContain(expected);
    expect(lines.filter((line) => line.startsWith('--')).length).toBe(allOptions().length + 1);
  });

  it('every --flag the docs pass to the server is one it accepts', () => {
    const docs = ['README.md', 'docs/perf.md', 'docs/design.md', '../shared/CONTRACT.md']
      .map((file) => {
        try {
          return readFileSync(join(ROOT, file), 'utf8');
        } catch {
          return '';
        }
      })
      .join('\n');
    const commands = docs.match(/(npm start --|dist\/src\/server\.js)[^`|\n]*/g) ?? [];
    expect(commands.length).toBeGreaterThan(2);
    const known = new Set(allOptions().map((o) => o.flag));
    for (const command of commands)
      for (const [, flag] of command.matchAll(/--([a-z][a-z0-9-]*)/g))
        if (flag !== 'help') expect(known, `${command}`).toContain(flag);
  });
});

describe('the README configuration table', () => {
  it('is the one generated from the option declarations (node dist/tools/config-table.js rewrites it)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(currentOptionsTable(readme)).toBe(optionsMarkdownTable());
    for (const o of allOptions()) expect(readme).toContain(`| \`--${o.flag}\` | \`${o.env}\` |`);
  });
});
