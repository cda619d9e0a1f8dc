import { newestOrderSql, ordersInRangeSql } from './sales-sql.js';
import type { Db } from './sqlite.js';

/** The orders created in [start, end) (every status). */
export function countOrdersInRange(db: Db, range: { start: number; end: number }): number {
  return (db.prepare(ordersInRangeSql).get(range.start, range.end) as { n: number }).n;
}

/** The shard's newest order_pk: about how many orders it holds (newestOrderSql). */
export function newestOrderPk(db: Db): number {
  return (db.prepare(newestOrderSql).get() as { n: number }).n;
}
