/** One RFC 4180 field: quoted only when it holds a quote, comma or line break. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvRow(values: readonly unknown[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

/** What a spreadsheet reads as the start of a formula (OWASP's CSV injection list). */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * A text cell a spreadsheet will not run: one starting with `=`, `+`, `-`, `@`, a tab or a carriage return
 * gets a leading `'`, which spreadsheets show as text (OWASP's advice for CSV injection). Numbers are left
 * alone (a negative number is not a formula); only strings from the data are neutralised.
 */
export function neutraliseFormula(value: unknown): unknown {
  return typeof value === 'string' && FORMULA_START.test(value) ? `'${value}` : value;
}

/** A CSV row for people's spreadsheets: text cells neutralised, then RFC 4180 quoting. */
export function safeCsvRow(values: readonly unknown[]): string {
  return csvRow(values.map(neutraliseFormula));
}
