import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, helpText, loadConfig, OPTIONS, optionsMarkdownTable } from '../../src/config.js';
import { currentOptionsTable } from '../../tools/lib/readme-table.js';
import { ROOT } from '../helpers/server.js';

describe('config', () => {
  it('reads flags over env over defaults', () => {
    const c = loadConfig(['--port', '9000', '--workers=3'], {
      PORT: '7000',
      MAX_QUEUE: '5',
      ADMIN_TOKEN: 't',
    });
    expect(c.port).toBe(9000);
    expect(c.workers).toBe(3);
    expect(c.maxQueue).toBe(5);
    expect(c.adminToken).toBe('t');
    expect(loadConfig([], {}).adminToken).toBeNull();
  });

  it('rejects unknown flags, missing values and bad numbers', () => {
    expect(() => loadConfig(['--nope', '1'], {})).toThrow(ConfigError);
    expect(() => loadConfig(['--port'], {})).toThrow(ConfigError);
    expect(() => loadConfig(['--workers', '0'], {})).toThrow(/workers/);
    expect(() => loadConfig(['--port', '12abc'], {})).toThrow(/port/);
    expect(() => loadConfig(['--log-level', 'loud'], {})).toThrow(/log-level/);
  });

  it('documents every option with its env variable in --help', () => {
    const text = helpText();
    for (const o of OPTIONS) {
      expect(text).toContain(`--${o.flag}`);
      expect(text).toContain(o.env);
    }
  });
});

describe('the README configuration table', () => {
  it('is the one generated from the option declarations (node dist/tools/config-table.js rewrites it)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(currentOptionsTable(readme)).toBe(optionsMarkdownTable());
    for (const o of OPTIONS) expect(readme).toContain(`| \`--${o.flag}\` | \`${o.env}\` |`);
  });
});
