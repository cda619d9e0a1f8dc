import * as v from 'valibot';

/** A lone UTF-16 surrogate: half of a pair, without its other half. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Text that can be stored as UTF-8: JSON lets a string hold a lone surrogate (`"\ud800x"`), which no UTF-8
 * encoder can write; SQLite would store U+FFFD instead, silently changing the value. Such a field is
 * refused.
 */
export function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

export const wellFormed = v.check<string, string>(
  isWellFormed,
  'well-formed Unicode text (it holds a lone UTF-16 surrogate)',
);

/** Trimmed, well-formed text of 1 to `max` characters. */
export const text = (max: number) =>
  v.pipe(v.string(), wellFormed, v.trim(), v.minLength(1), v.maxLength(max));
