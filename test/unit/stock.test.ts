import { describe, expect, it } from 'vitest';
import { applyGroup, requestErrors, type StockEvent } from '../../src/domain/stock.js';

const at = (min: number) => Date.UTC(2026, 0, 1, 0, min);
const ev = (id: string, fields: Partial<StockEvent>): StockEvent => ({
  event_id: id,
  product_id: 1,
  occurred_at: at(0),
  ...fields,
});
const none = new Set<string>();

describe('applyGroup', () => {
  it('merge adds deltas and bumps the version once per group', () => {
    const out = applyGroup(
      'merge',
      { stock: 10, version: 3, writtenAt: null },
      [ev('a', { delta: -4 }), ev('b', { delta: 7 })],
      none,
    );
    expect(out).toMatchObject({ status: 'applied', stock: 13, version: 4 });
    expect(out.applied.map((a) => a.stockAfter)).toEqual([6, 13]);
  });

  it('never goes negative, even in between: the whole group fails and nothing changes', () => {
    const out = applyGroup(
      'merge',
      { stock: 5, version: 1, writtenAt: null },
      [ev('a', { delta: -10 }), ev('b', { delta: 20 })],
      none,
    );
    expect(out).toMatchObject({
      status: 'failed',
      stock: 5,
      version: 1,
      applied: [],
      error: { code: 'insufficient_stock', event_id: 'a' },
    });
  });

  it('last_write_wins applies newer writes and calls older ones stale', () => {
    const current = { stock: 10, version: 2, writtenAt: at(10) };
    expect(
      applyGroup('last_write_wins', current, [ev('old', { quantity: 99, occurred_at: at(5) })], none),
    ).toMatchObject({ status: 'stale', stock: 10, version: 2 });
    expect(
      applyGroup('last_write_wins', current, [ev('same', { quantity: 99, occurred_at: at(10) })], none)
        .status,
    ).toBe('stale');
    const mixed = applyGroup(
      'last_write_wins',
      current,
      [
        ev('n1', { quantity: 3, occurred_at: at(20) }),
        ev('o', { quantity: 50, occurred_at: at(15) }),
        ev('n2', { quantity: 4, occurred_at: at(30) }),
      ],
      none,
    );
    expect(mixed).toMatchObject({ status: 'applied', stock: 4, version: 3, writtenAt: at(30) });
    expect(mixed.applied.map((a) => a.event.event_id)).toEqual(['n1', 'n2']);
  });

  it('reject applies only when expected_version matches, and reports the current version otherwise', () => {
    const current = { stock: 10, version: 7, writtenAt: null };
    expect(applyGroup('reject', current, [ev('a', { delta: 1, expected_version: 7 })], none)).toMatchObject({
      status: 'applied',
      stock: 11,
      version: 8,
    });
    expect(applyGroup('reject', current, [ev('a', { delta: 1, expected_version: 6 })], none)).toMatchObject({
      status: 'rejected',
      stock: 10,
      version: 7,
      error: { code: 'version_conflict' },
    });
  });

  it('skips events applied before (retries) without changing anything', () => {
    const out = applyGroup(
      'merge',
      { stock: 10, version: 1, writtenAt: null },
      [ev('a', { delta: 5 })],
      new Set(['a']),
    );
    expect(out).toMatchObject({ status: 'applied', stock: 10, version: 1, applied: [], duplicates: ['a'] });
  });
});

describe('requestErrors', () => {
  it('flags mixed delta/quantity, mode mismatches, missing expected_version, repeated ids and oversize batches', () => {
    const errors = requestErrors(
      {
        mode: 'reject',
        events: [ev('a', { delta: 1, quantity: 2 }), ev('b', {}), ev('a', { delta: 1, expected_version: 1 })],
      },
      2,
    );
    const codes = errors.map((e) => `${e.field}:${e.code}`);
    expect(codes).toEqual(
      expect.arrayContaining([
        'events:too_many_events',
        'events.0:delta_xor_quantity',
        'events.1:delta_xor_quantity',
        'events.0.expected_version:required',
        'events.2.event_id:duplicate_event_id',
      ]),
    );
    expect(
      requestErrors({ mode: 'merge', events: [ev('q', { quantity: 3 })] }, 10).map((e) => e.code),
    ).toEqual(['mode_mismatch']);
  });
});
