/**
 * The kinds of server option and their builders. An option is declared once (src/config/options.ts): its
 * flag, its environment variable (the flag in upper snake case unless named), its typed default and its
 * meaning; the `Config` type, `--help` and the README table are derived from the declarations.
 */

/** A default that depends on the machine: computed from its core count, shown to readers as a rule. */
export interface MachineDefault {
  readonly perCores: (cores: number) => number;
  readonly shown: string;
}

interface Common {
  readonly flag: string;
  readonly env: string;
  readonly help: string;
}

/** A whole number at least `min`; `bytes` ones are shown in MiB or GiB. */
export interface IntOption extends Common {
  readonly kind: 'int' | 'bytes';
  readonly default: number | MachineDefault;
  readonly min: number;
}

export interface TextOption extends Common {
  readonly kind: 'text' | 'path' | 'secret';
  readonly default: string;
}

export interface ChoiceOption<C extends string = string> extends Common {
  readonly kind: 'choice';
  readonly default: C;
  readonly choices: readonly C[];
}

export type Option = IntOption | TextOption | ChoiceOption;

/** Whether an option holds a number (TypeScript does not narrow the union on `kind` alone here). */
export function isIntOption(option: Option): option is IntOption {
  return option.kind === 'int' || option.kind === 'bytes';
}

/** What an option's value is once loaded: paths are absolute, an empty secret is null. */
export type OptionValue<O> =
  O extends ChoiceOption<infer C>
    ? C
    : O extends IntOption
      ? number
      : O extends { kind: 'secret' }
        ? string | null
        : string;

interface Naming {
  /** the environment variable when it is not the flag in upper snake case */
  env?: string;
}

const envName = (flag: string, naming: Naming) => naming.env ?? flag.toUpperCase().replaceAll('-', '_');

export function int(
  flag: string,
  value: number | MachineDefault,
  min: number,
  help: string,
  naming: Naming = {},
): IntOption {
  return { kind: 'int', flag, env: envName(flag, naming), default: value, min, help };
}

/** A size in bytes: an int shown in MiB or GiB where it divides evenly. */
export function bytes(flag: string, value: number, min: number, help: string): IntOption {
  return { ...int(flag, value, min, help), kind: 'bytes' };
}

export function text(flag: string, value: string, help: string, naming: Naming = {}): TextOption {
  return { kind: 'text', flag, env: envName(flag, naming), default: value, help };
}

/** A directory or file, resolved against the working directory. */
export function path(flag: string, value: string, help: string, naming: Naming = {}): TextOption {
  return { ...text(flag, value, help, naming), kind: 'path' };
}

/** A token whose empty value means "not set" (null); its default is never shown. */
export function secret(flag: string, help: string): TextOption & { readonly kind: 'secret' } {
  return { ...text(flag, '', help), kind: 'secret' };
}

export function choice<const C extends string>(
  flag: string,
  value: NoInfer<C>,
  choices: readonly C[],
  help: string,
): ChoiceOption<C> {
  return { kind: 'choice', flag, env: envName(flag, {}), default: value, choices, help };
}
