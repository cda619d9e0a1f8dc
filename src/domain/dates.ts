import * as v from 'valibot';

/**
 * ISO-8601 dates and date-times, checked against the calendar. `Date.parse` rolls impossible fields over
 * (2025-02-30 becomes March 2, 24:00 the next day) instead of refusing them; here every field is read and
 * range-checked first, so a date that does not exist is an error, never another date.
 */
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|([+-])(\d{2}):(\d{2})))?$/;

/** Date.UTC without its mapping of years 0 to 99 to 1900 to 1999. */
function utc(year: number, month: number, day: number, h = 0, mi = 0, s = 0, ms = 0): number {
  if (year >= 100) return Date.UTC(year, month - 1, day, h, mi, s, ms);
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(h, mi, s, ms);
  return d.getTime();
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

function daysIn(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!;
}

/**
 * Epoch milliseconds of an ISO date (`YYYY-MM-DD`, midnight UTC) or date-time with zone, or NaN when it is
 * malformed or names a day, hour, minute or zone that does not exist. Date-only input is refused unless
 * `dateOnly` allows it.
 */
export function parseIsoDate(text: string, dateOnly = false): number {
  const m = DATE_TIME.exec(text);
  if (!m) return Number.NaN;
  const [, y, mo, d, h, mi, s, frac, zone, sign, zh, zm] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return Number.NaN;
  if (h === undefined) return dateOnly ? utc(year, month, day) : Number.NaN;
  if (Number(h) > 23 || Number(mi) > 59 || (s !== undefined && Number(s) > 59)) return Number.NaN;
  if (zone !== 'Z' && (Number(zh) > 23 || Number(zm) > 59)) return Number.NaN;
  const offset = zone === 'Z' ? 0 : (sign === '-' ? -1 : 1) * (Number(zh) * 60 + Number(zm)) * 60_000;
  const ms = frac === undefined ? 0 : Math.floor(Number(`0${frac}`) * 1000);
  return utc(year, month, day, Number(h), Number(mi), Number(s ?? 0), ms) - offset;
}

const EARLIEST = Date.UTC(1970, 0, 1);
const LATEST = Date.UTC(2200, 0, 1);

/** Whether parseIsoDate's answer is a date-time the service stores (1970 up to 2200). */
export function isStorableDateTime(ms: number): boolean {
  return Number.isFinite(ms) && ms >= EARLIEST && ms < LATEST;
}

/** An ISO-8601 date-time with an explicit zone (Z or ±hh:mm) that exists, as epoch milliseconds. */
export const IsoDateTime = v.pipe(
  v.string(),
  v.transform((s) => parseIsoDate(s)),
  v.check(
    isStorableDateTime,
    'an ISO-8601 date-time with zone, on a real calendar day (e.g. 2026-03-01T10:15:00Z)',
  ),
);

/** An ISO date (YYYY-MM-DD, midnight UTC) or date-time with zone that exists, as epoch milliseconds. */
export const DateOrDateTime = v.pipe(
  v.string(),
  v.transform((s) => parseIsoDate(s, true)),
  v.check(
    (ms) => Number.isFinite(ms),
    'an ISO date or date-time with zone, on a real calendar day (e.g. 2026-03-01)',
  ),
);
