import { newestOrderSql, ordersInRangeSql, ordersInRangeUpToSql } from './sales-sql.js';
import type { Db } from './sqlite.js';

/**
 * The orders created in [start, end) (every status), or `atMost` when there are at least that many: a
 * choice that only asks whether a range reaches a threshold stops counting there (the date index's
 * entries are counted one by one: a year of 1M orders took 60-86 ms on a fresh server's first read).
 */
export function countOrdersInRange(
  db: Db,
  range: { start: number; end: number },
  atMost = Number.POSITIVE_INFINITY,
): number {
  const counted =
    atMost === Number.POSITIVE_INFINITY
      ? db.prepare(ordersInRangeSql).get(range.start, range.end)
      : db.prepare(ordersInRangeUpToSql).get(range.start, range.end, Math.max(0, Math.ceil(atMost)));
  return (counted as { n: number }).n;
}

/** The shard's newest order_pk: about how many orders it holds (newestOrderSql). */
export function newestOrderPk(db: Db): number {
  return (db.prepare(newestOrderSql).get() as { n: number }).n;
}
