/** Numbers as people read them. */

const moneyFormats = new Map<string, Intl.NumberFormat>();

/** Minor units in a currency ("USD", 123456) → "$1,234.56"; an unknown code still shows the amount. */
export function money(cents: number, currency = 'USD'): string {
  let format = moneyFormats.get(currency);
  if (!format) {
    try {
      format = new Intl.NumberFormat('en-US', { style: 'currency', currency });
    } catch {
      return `${(cents / 100).toFixed(2)} ${currency}`;
    }
    moneyFormats.set(currency, format);
  }
  return format.format(cents / 100);
}

const integer = new Intl.NumberFormat('en-US');

export function count(n: number): string {
  return integer.format(n);
}

export function bytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function ms(n: number): string {
  if (n < 1) return `${n.toFixed(2)} ms`;
  if (n < 1000) return `${Math.round(n)} ms`;
  return `${(n / 1000).toFixed(1)} s`;
}

export function percent(fraction: number, digits = 1): string {
  return `${(fraction * 100).toFixed(digits)}%`;
}

/** An ISO time as "2026-03-01 10:15 UTC": the API's times are UTC and so are the charts. */
export function utc(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
