import { describe, expect, it } from 'vitest';
import { DAY, HOUR, TIME_GROUPS, timeBucket, timeKey } from '../../src/domain/sales.js';

describe('time buckets', () => {
  it('hold every instant of their span under one key, the instants just outside under others', () => {
    let seed = 7;
    const rand = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const instants = [
      Date.parse('2026-01-01T00:00:00Z'), // a Thursday: ISO week 2026-W01
      Date.parse('2027-01-01T00:00:00Z'), // a Friday in 2026-W53
      Date.parse('2024-02-29T23:59:59.999Z'),
      Date.parse('2025-12-29T00:00:00Z'), // Monday of 2026-W01
      0,
      ...Array.from({ length: 500 }, () => Math.floor(rand() * 60 * 365 * DAY)),
    ];
    for (const g of TIME_GROUPS)
      for (const ms of instants) {
        const b = timeBucket(g, ms);
        expect(b.key).toBe(timeKey(g, ms));
        expect(ms >= b.start && ms < b.end).toBe(true);
        expect(timeKey(g, b.start)).toBe(b.key);
        expect(timeKey(g, b.end - 1)).toBe(b.key);
        if (b.start > 0) expect(timeKey(g, b.start - 1)).not.toBe(b.key);
        expect(timeKey(g, b.end)).not.toBe(b.key);
      }
    expect(timeBucket('hour', Date.parse('2026-03-01T10:30:00Z'))).toEqual({
      key: '2026-03-01T10:00:00Z',
      start: Date.parse('2026-03-01T10:00:00Z'),
      end: Date.parse('2026-03-01T10:00:00Z') + HOUR,
    });
    expect(timeBucket('week', Date.parse('2027-01-01T12:00:00Z')).key).toBe('2026-W53');
  });

  it('key hours, days and months as the ISO string of the instant writes them, in any order of calls', () => {
    // timeKey formats a day once and reuses it while calls stay in that day: jumping between days,
    // backwards and before 1970 must still give what toISOString gives
    let seed = 11;
    const rand = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const instants = Array.from({ length: 5000 }, (_, i) =>
      i % 3 === 0 ? Math.floor((rand() - 0.3) * 200 * 365 * DAY) : Math.floor(rand() * 3 * DAY),
    );
    for (const ms of instants) {
      const iso = new Date(ms).toISOString();
      expect(timeKey('hour', ms)).toBe(`${iso.slice(0, 13)}:00:00Z`);
      expect(timeKey('day', ms)).toBe(iso.slice(0, 10));
      expect(timeKey('month', ms)).toBe(iso.slice(0, 7));
    }
  });
});
