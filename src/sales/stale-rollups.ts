/**
 * What an exact read does when the pre-aggregates of its range are still stale after its catch-up slice
 * (a bulk load marks its hours for a rebuild): finish the rebuild, or answer from the orders themselves.
 *
 * A rebuild costs ~110 µs per order (perf: 1M orders rebuilt in 112 s on one thread) but is kept for every
 * later read; a scan of the orders costs ~5 µs per order by time and ~17–25 µs per order by category or
 * product (the same tenant: 4.7 s by day, 16.8 s by category, 25 s for the top products) and is not kept.
 * So a few stale hours are rebuilt, and the first exact read after a large load scans, while later reads
 * go on rebuilding a slice each (and the upkeep thread, with `--rollup-refresh background`).
 */
import { type GroupBy, isTimeGroup } from '../domain/sales.js';

/** Microseconds a scan of the orders spends per order in the range, rounded up from the figures above. */
export function scanMicrosPerOrder(groupBy: GroupBy): number {
  return isTimeGroup(groupBy) ? 6 : 30;
}

/** A rebuild is worth finishing unless it would take this many times longer than scanning the range. */
const REBUILD_OVER_SCAN_MAX = 2;

export interface StaleRange {
  /** hours of the range still dirty after the read's catch-up slice */
  remainingHours: number;
  /** what that slice measured: hours rebuilt and the time it took (its rate predicts the rest) */
  rebuiltHours: number;
  rebuildMs: number;
  /** orders in the range, every status (what a scan reads) */
  ordersInRange: number;
  groupBy: GroupBy;
}

/** Without a slice to measure (nothing rebuilt), a dirty hour is taken to cost this (perf: 12.8 ms). */
const DEFAULT_MS_PER_HOUR = 13;

export function scanInsteadOfRebuild(s: StaleRange): boolean {
  if (s.remainingHours === 0) return false;
  const msPerHour = s.rebuiltHours > 0 ? s.rebuildMs / s.rebuiltHours : DEFAULT_MS_PER_HOUR;
  const rebuildMs = s.remainingHours * msPerHour;
  const scanMs = (s.ordersInRange * scanMicrosPerOrder(s.groupBy)) / 1000;
  return rebuildMs > REBUILD_OVER_SCAN_MAX * scanMs;
}
