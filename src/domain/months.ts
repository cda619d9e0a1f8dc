/**
 * Epoch months (UTC): (year - 1970) * 12 + (month - 1), the key of the month-level pre-aggregates, and
 * how a range of whole days splits into whole months and the days around them.
 */
import { DAY } from './sales.js';

/** The epoch month holding an epoch day. */
export function monthOfDay(day: number): number {
  const d = new Date(day * DAY);
  return (d.getUTCFullYear() - 1970) * 12 + d.getUTCMonth();
}

/** The epoch day a month starts on. */
export function firstDayOfMonth(month: number): number {
  return Date.UTC(1970 + Math.floor(month / 12), ((month % 12) + 12) % 12, 1) / DAY;
}

/** A run of whole months [start, end) read from the month level, or of days [start, end) from the day level. */
export interface RangePart {
  level: 'month' | 'day';
  start: number;
  end: number;
}

/**
 * Days [startDay, endDay) as runs of the month level's clean months and runs of days for the rest: the
 * days before the first whole month and after the last, and every day of a month listed in `dirtyMonths`
 * (whose month row is not valid). Adjacent runs of one level are joined, so a year with nothing dirty is at
 * most three parts.
 */
export function splitIntoMonths(
  startDay: number,
  endDay: number,
  dirtyMonths: ReadonlySet<number>,
): RangePart[] {
  const parts: RangePart[] = [];
  const add = (level: RangePart['level'], start: number, end: number) => {
    if (end <= start) return;
    const last = parts[parts.length - 1];
    if (last?.level === level && last.end === start) last.end = end;
    else parts.push({ level, start, end });
  };
  let month = monthOfDay(startDay);
  if (firstDayOfMonth(month) < startDay) month++;
  const firstWhole = firstDayOfMonth(month);
  if (firstWhole >= endDay) {
    add('day', startDay, endDay);
    return parts;
  }
  add('day', startDay, firstWhole);
  let day = firstWhole;
  for (let next = firstDayOfMonth(month + 1); next <= endDay; month++, next = firstDayOfMonth(month + 1)) {
    if (dirtyMonths.has(month)) add('day', day, next);
    else add('month', month, month + 1);
    day = next;
  }
  add('day', day, endDay);
  return parts;
}
