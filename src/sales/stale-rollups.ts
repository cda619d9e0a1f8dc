/**
 * What an exact read does when the pre-aggregates of its range are still stale after its catch-up slice
 * (a bulk load marks its hours for a rebuild): finish the rebuild, or answer from the orders themselves.
 *
 * Both costs go with the orders they read, so they are compared in orders, whatever the machine: a
 * rebuild reads each order of a stale hour once and costs ~28 µs per order (perf: 1M orders rebuilt in
 * 27–29 s on one thread since the per-day product rollups gave way to line blocks; 60–70 s before), but is
 * kept for every later read; a scan reads every order of the range and costs about a twentieth of that per
 * order by time (~1.5 µs: a walk of the orders in storage order, src/sales/time-walk.ts) and a seventh by
 * category (~4 µs: its lines, src/sales/category-scan.ts), and is not kept (the same tenant, in process:
 * 1.55 s for a year by day, 3.9 s by category). So a few stale hours are rebuilt, and the first exact read
 * after a large load scans, while later reads go on rebuilding a slice each (and the upkeep thread, with
 * `--rollup-refresh background`). (Products never read the rollups: src/sales/product-scan.ts.)
 */
import { type GroupBy, isTimeGroup } from '../domain/sales.js';

/**
 * A scan's cost per order of the range, as a share of a rebuild's per order (rounded up from measurements).
 * From the order journal (every order in columnar blocks, src/storage/order-journal.ts) a year of 1M
 * orders by day takes 0.09–0.24 s and by category 0.5–0.6 s in process (the `small` preset's tenant,
 * 2026-12-01), at most about 0.2 and 0.6 µs per order: a hundredth and a fortieth of a rebuild's.
 */
export function scanCostPerRebuiltOrder(groupBy: GroupBy, fromJournal = false): number {
  if (fromJournal) return isTimeGroup(groupBy) ? 0.01 : 0.025;
  return isTimeGroup(groupBy) ? 0.06 : 0.15;
}

/** A rebuild is worth finishing unless it would cost this many times more than scanning the range. */
const REBUILD_OVER_SCAN_MAX = 2;

/**
 * A rebuild of up to this many orders (~0.15 s) is finished whatever a scan would cost: it is kept for
 * every later read, and a small tenant's whole load is rebuilt by its first read.
 */
export const REBUILD_ALWAYS_MAX_ORDERS = 5000;

export interface StaleRange {
  /** hours of the range still dirty after the read's catch-up slice */
  remainingHours: number;
  /** what that slice rebuilt: hours, and the orders it read for them (their density predicts the rest) */
  rebuiltHours: number;
  rebuiltOrders: number;
  /** orders in the range, every status (what a scan reads), and the range's length in hours */
  ordersInRange: number;
  rangeHours: number;
  groupBy: GroupBy;
  /** the scan reads the order journal (it holds every order), not the tables */
  fromJournal?: boolean;
}

/**
 * How many of the range's orders `scanInsteadOfRebuild` needs counted at most: with nothing rebuilt yet
 * the orders an hour are the range's own, so both costs grow with the count alike and only the
 * small-rebuild rule (REBUILD_ALWAYS_MAX_ORDERS) asks for it, up to where that rule is settled; once a
 * slice rebuilt hours, the scan's cost grows with every order counted (all of them).
 */
export function ordersEnoughToDecide(s: Omit<StaleRange, 'ordersInRange'>): number {
  if (s.remainingHours === 0) return 0;
  if (s.rebuiltHours > 0) return Number.POSITIVE_INFINITY;
  return Math.floor((REBUILD_ALWAYS_MAX_ORDERS * Math.max(1, s.rangeHours)) / s.remainingHours) + 1;
}

/**
 * Whether to answer from the orders instead of finishing the rebuild. `ordersInRange` may be a count
 * stopped at `ordersEnoughToDecide` or later: the answer is the same as with the whole count.
 */
export function scanInsteadOfRebuild(s: StaleRange): boolean {
  if (s.remainingHours === 0) return false;
  const ordersPerHour =
    s.rebuiltHours > 0 ? s.rebuiltOrders / s.rebuiltHours : s.ordersInRange / Math.max(1, s.rangeHours);
  const rebuild = s.remainingHours * ordersPerHour;
  if (rebuild <= REBUILD_ALWAYS_MAX_ORDERS) return false;
  const scan = s.ordersInRange * scanCostPerRebuiltOrder(s.groupBy, s.fromJournal);
  return rebuild > REBUILD_OVER_SCAN_MAX * scan;
}
