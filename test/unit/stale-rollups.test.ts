import { describe, expect, it } from 'vitest';
import { scanInsteadOfRebuild } from '../../src/sales/stale-rollups.js';

describe('an exact read over stale pre-aggregates', () => {
  const afterLoad = { rebuiltHours: 48, rebuildMs: 600, groupBy: 'day' as const };

  it('reads the orders when finishing the rebuild would take much longer (a year just loaded)', () => {
    // 8,712 hours at 12.5 ms: ~109 s to rebuild, against ~6 s to scan 1M orders by day
    expect(scanInsteadOfRebuild({ ...afterLoad, remainingHours: 8712, ordersInRange: 1_000_000 })).toBe(true);
  });

  it('finishes the rebuild when a few hours are left, and never scans with none', () => {
    expect(scanInsteadOfRebuild({ ...afterLoad, remainingHours: 24, ordersInRange: 1_000_000 })).toBe(false);
    expect(scanInsteadOfRebuild({ ...afterLoad, remainingHours: 0, ordersInRange: 10 })).toBe(false);
  });

  it('weighs a scan by the grouping: by category or product each order costs its lines', () => {
    // rebuild 100 hours × 12.5 ms = 1.25 s; scan 100k orders: 0.6 s by day (×2 < 1.25), 3 s by category
    const s = { ...afterLoad, remainingHours: 100, ordersInRange: 100_000 };
    expect(scanInsteadOfRebuild(s)).toBe(true);
    expect(scanInsteadOfRebuild({ ...s, groupBy: 'category' })).toBe(false);
  });

  it('without a measured slice, takes a dirty hour to cost what the perf run measured', () => {
    const none = { rebuiltHours: 0, rebuildMs: 0, groupBy: 'day' as const };
    expect(scanInsteadOfRebuild({ ...none, remainingHours: 8760, ordersInRange: 1_000_000 })).toBe(true);
    expect(scanInsteadOfRebuild({ ...none, remainingHours: 10, ordersInRange: 1_000_000 })).toBe(false);
  });
});
