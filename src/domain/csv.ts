/** One RFC 4180 field: quoted only when it holds a quote, comma or line break. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const s = String(value);
  return NEEDS_QUOTES.test(s) ? quoted(s) : s;
}

export function csvRow(values: readonly unknown[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

const NEEDS_QUOTES = /[",\r\n]/;
const quoted = (s: string) => `"${s.replaceAll('"', '""')}"`;

/** What a spreadsheet reads as the start of a formula (OWASP's CSV injection list). */
const FORMULA_START = /^[=+\-@\t\r]/;

/** How one column's values become cells; the export encoder picks one per column, once. */
export type CsvCell = (value: unknown) => string;

/**
 * A text cell from the data that a spreadsheet will not run: one starting with `=`, `+`, `-`, `@`, a tab or
 * a carriage return gets a leading `'`, which spreadsheets show as text (OWASP's advice for CSV
 * injection), then RFC 4180 quoting. Only strings are neutralised (a negative number is not a formula).
 */
export const safeTextCell: CsvCell = (value) =>
  csvField(typeof value === 'string' && FORMULA_START.test(value) ? `'${value}` : value);

/** A number cell: never quoted, never a formula. */
export const numberCell: CsvCell = (value) =>
  typeof value === 'number' ? String(value) : safeTextCell(value);

/** JSON text (an array or object) as one cell: it starts with `[` or `{`, so only quoting applies. */
export const jsonCell: CsvCell = (value) => (typeof value === 'string' ? quoted(value) : safeTextCell(value));
