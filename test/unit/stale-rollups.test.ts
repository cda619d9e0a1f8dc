import { describe, expect, it } from 'vitest';
import { ordersEnoughToDecide, scanInsteadOfRebuild } from '../../src/sales/stale-rollups.js';
import { random } from '../helpers/random.js';

describe('an exact read over stale pre-aggregates', () => {
  // a slice rebuilt two days of a year loaded at ~114 orders an hour
  const afterLoad = { rebuiltHours: 48, rebuiltOrders: 5472, rangeHours: 8760, groupBy: 'day' as const };

  it('reads the orders when finishing the rebuild would cost much more (a year just loaded)', () => {
    // 8,712 hours × 114 orders to rebuild, against 1M orders scanned at a twentieth of the cost each
    expect(scanInsteadOfRebuild({ ...afterLoad, remainingHours: 8712, ordersInRange: 1_000_000 })).toBe(true);
  });

  it('finishes the rebuild when a few hours are left, and never scans with none', () => {
    expect(scanInsteadOfRebuild({ ...afterLoad, remainingHours: 24, ordersInRange: 1_000_000 })).toBe(false);
    expect(scanInsteadOfRebuild({ ...afterLoad, remainingHours: 0, ordersInRange: 10 })).toBe(false);
  });

  it('weighs a scan by the grouping: by category each order costs its lines', () => {
    // 1,000 hours × 114 = 114k orders to rebuild; a scan of 500k orders: 30k by day, 75k by category
    const s = { ...afterLoad, remainingHours: 1000, ordersInRange: 500_000 };
    expect(scanInsteadOfRebuild(s)).toBe(true);
    expect(scanInsteadOfRebuild({ ...s, groupBy: 'category' })).toBe(false);
  });

  it('from the order journal a scan costs a hundredth of a rebuild per order: fewer stale hours are worth scanning', () => {
    // 300 hours × 114 = 34k orders to rebuild; 1M orders scanned: 60k-equivalent from the tables, 10k from the journal
    const s = { ...afterLoad, remainingHours: 300, ordersInRange: 1_000_000 };
    expect(scanInsteadOfRebuild(s)).toBe(false);
    expect(scanInsteadOfRebuild({ ...s, fromJournal: true })).toBe(true);
    expect(scanInsteadOfRebuild({ ...s, remainingHours: 50, fromJournal: true })).toBe(false);
  });

  it('finishes a small rebuild whatever a scan costs: it is kept for every later read', () => {
    const small = { rebuiltHours: 0, rebuiltOrders: 0, rangeHours: 240, groupBy: 'day' as const };
    // a small tenant's whole load: 240 hours, 4,800 orders (a scan of them from the journal: ~100)
    expect(
      scanInsteadOfRebuild({ ...small, remainingHours: 240, ordersInRange: 4800, fromJournal: true }),
    ).toBe(false);
    expect(
      scanInsteadOfRebuild({ ...small, remainingHours: 240, ordersInRange: 6000, fromJournal: true }),
    ).toBe(true);
  });

  it('without a slice to measure, takes the range’s own density of orders per hour', () => {
    const none = { rebuiltHours: 0, rebuiltOrders: 0, rangeHours: 8760, groupBy: 'day' as const };
    expect(scanInsteadOfRebuild({ ...none, remainingHours: 8760, ordersInRange: 1_000_000 })).toBe(true);
    expect(scanInsteadOfRebuild({ ...none, remainingHours: 10, ordersInRange: 1_000_000 })).toBe(false);
  });

  it('decides the same from a count stopped where ordersEnoughToDecide says as from the whole count', () => {
    const next = random(19);
    const groupings = ['day', 'hour', 'category'] as const;
    let scans = 0;
    for (let k = 0; k < 5000; k++) {
      const rangeHours = 1 + Math.floor(next() * 8760);
      const rebuiltHours = next() < 0.5 ? 0 : Math.floor(next() * 48);
      const known = {
        remainingHours: Math.floor(next() * (rangeHours + 1)),
        rebuiltHours,
        rebuiltOrders: rebuiltHours * Math.floor(next() * 300),
        rangeHours,
        groupBy: groupings[k % 3]!,
        fromJournal: next() < 0.5,
      };
      const whole = Math.floor(next() * rangeHours * 300);
      const enough = ordersEnoughToDecide(known);
      const decided = scanInsteadOfRebuild({ ...known, ordersInRange: whole });
      if (decided) scans++;
      expect(scanInsteadOfRebuild({ ...known, ordersInRange: Math.min(whole, enough) })).toBe(decided);
    }
    expect(scans).toBeGreaterThan(500); // both answers were exercised
  });
});
