/** `--help` and the README's configuration table, both generated from the option declarations. */
import { allOptions } from './load.js';
import { isIntOption, type Option } from './option.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** An option's default as a reader wants it: machine-dependent ones as a rule, sizes in MiB or GiB. */
export function displayDefault(option: Option): string {
  if (option.kind === 'secret') return '(off)';
  if (!isIntOption(option)) return option.default;
  const value = option.default;
  if (typeof value === 'object') return value.shown;
  if (option.kind === 'bytes' && value >= MiB && value % MiB === 0)
    return value % GiB === 0 ? `${value / GiB} GiB` : `${value / MiB} MiB`;
  return String(value);
}

/** The README's configuration table (test/unit/config.test.ts keeps the two equal). */
export function optionsMarkdownTable(): string {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  return [
    '| flag | env | default | meaning |',
    '|---|---|---|---|',
    ...allOptions().map(
      (o) => `| \`--${o.flag}\` | \`${o.env}\` | ${cell(displayDefault(o))} | ${cell(o.help)} |`,
    ),
  ].join('\n');
}

export function helpText(): string {
  const rows = allOptions().map(
    (o) => `  --${o.flag.padEnd(26)} ${o.env.padEnd(26)} ${o.help} [default: ${displayDefault(o)}]`,
  );
  return [
    'Usage: npm start -- [options]',
    '',
    `  ${'flag'.padEnd(28)} ${'env'.padEnd(26)} meaning`,
    ...rows,
    `  --${'help'.padEnd(26)} ${''.padEnd(26)} this text`,
    '',
  ].join('\n');
}
