import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { NamedError } from '../domain/named-error.js';
import type { IntOption, Option, OptionValue } from './option.js';
import { OPTIONS } from './options.js';

type Groups = typeof OPTIONS;

/** The loaded configuration: one object per group of OPTIONS, each value typed by its option's kind. */
export type Config = {
  readonly [G in keyof Groups]: { readonly [K in keyof Groups[G]]: OptionValue<Groups[G][K]> };
};

export class ConfigError extends NamedError {}

/** Every option in declaration order, for --help, the README table and the parser. */
export function allOptions(): Option[] {
  return Object.values(OPTIONS).flatMap((group) => Object.values(group) as Option[]);
}

/** Flags win over environment variables, which win over defaults. Unknown flags and stray words throw. */
export function loadConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  cores: number = availableParallelism(),
): Config {
  const given = parseFlags(argv);
  const groups = Object.entries(OPTIONS).map(([name, group]) => {
    const values = Object.entries(group).map(([key, option]: [string, Option]) => {
      const text = given[option.flag] ?? env[option.env];
      return [key, text === undefined ? defaultValue(option, cores) : parseValue(option, text)];
    });
    return [name, Object.fromEntries(values)];
  });
  return Object.fromEntries(groups) as Config;
}

function parseFlags(argv: readonly string[]): Record<string, string | boolean | undefined> {
  const options = Object.fromEntries(allOptions().map((o) => [o.flag, { type: 'string' as const }]));
  try {
    return parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | boolean | undefined>;
  } catch (error) {
    throw new ConfigError(`${(error as Error).message} (see --help)`);
  }
}

function defaultValue(option: Option, cores: number): unknown {
  if (option.kind === 'path') return resolve(option.default);
  if (option.kind === 'secret') return null;
  if (typeof option.default === 'object') return option.default.perCores(cores);
  return option.default;
}

function parseValue(option: Option, given: string | boolean): unknown {
  const text = String(given);
  switch (option.kind) {
    case 'int':
    case 'bytes':
      return parseWholeNumber(option, text);
    case 'choice':
      if (!option.choices.includes(text))
        throw new ConfigError(`--${option.flag} must be one of ${option.choices.join(', ')}, got "${text}"`);
      return text;
    case 'path':
      return resolve(text);
    case 'secret':
      return text === '' ? null : text;
    case 'text':
      return text;
  }
}

function parseWholeNumber(option: IntOption, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < option.min)
    throw new ConfigError(`--${option.flag} must be an integer >= ${option.min}, got "${text}"`);
  return value;
}
