/**
 * What a rollup rebuild reads of some days, from the order journal instead of the tables (where the journal
 * holds every order): the blocks of the days' months read once, and of their orders up to the watermark,
 * per hour the orders (the hour level) and per day the lines (the day's line block and its categories).
 * Each is put in (created_at, order_pk) order, the order the date index hands the tables' rows in, so a
 * rebuild from here writes byte for byte what one from the tables writes (t-digests depend on the order
 * values arrive in). The tables hand JavaScript an order at a time through a random lookup per order and
 * its items: 61% of a rebuild's time (a CPU profile of two months, 131k orders, 5.5 s).
 */
import { firstDayOfMonth, monthOfDay } from '../domain/months.js';
import { DAY, HOUR } from '../domain/sales.js';
import { ORDER_STATUSES } from '../domain/vocabulary.js';
import { type JournalBlock, journalBlocks } from './order-journal.js';
import type { Db } from './sqlite.js';

/** An order as the hour level reads it (the tables' `hourOrders` row). */
export interface HourOrder {
  status: string;
  customer_pk: number;
  total_cents: number;
  units: number;
}

/** A line as the tables' `dayLines` query returns it: order_pk, status code, customer, total, product, quantity, price. */
export type DayLine = [number, number, number, number, number, number, number];

interface Timed<T> {
  at: number;
  pk: number;
  item: T;
}

export interface JournalDays {
  /** The hour's orders, in (created_at, order_pk) order (none for an hour not asked for). */
  hourOrders(hour: number): HourOrder[];
  /** The day's lines, an order's together, orders in (created_at, order_pk) order. */
  dayLines(day: number): DayLine[];
}

/**
 * The journal's orders up to a watermark, of the months a rebuild is working through, read once and kept
 * for its batches: a rebuild goes newest day first, two days a transaction (REBUILD_BATCH_DAYS), and each
 * batch read its days' whole months again (a year of 1M orders: 183 reads of a month's blocks, 2.1 s of a
 * 24 s rebuild, and 2.6 s more walking every order of the month to find the batch's days). Kept are the
 * decoded blocks of the months (and of blocks of no single month) and, per day, where its orders are.
 *
 * Valid while the watermark is the one they were read at: every order up to a watermark was committed
 * before the watermark was set, so a snapshot that sees the watermark holds all of them, and orders
 * written later get larger order_pks. A batch under another watermark reads again. The rebuilder clears it
 * once its rebuild ends, so it holds a month's blocks (~8 MB at 1M orders a year) only while it runs.
 */
export class JournalMonths {
  private held: {
    first: number;
    last: number;
    watermark: number;
    blocks: JournalBlock[];
    /** per day, its orders as (block, order) index pairs, flat */
    byDay: Map<number, number[]>;
  } | null = null;

  /** The orders of `days` up to `watermark` (their `hours` for the hour level). */
  days(db: Db, days: ReadonlySet<number>, hours: ReadonlySet<number>, watermark: number): JournalDays {
    const byHour = new Map<number, Timed<HourOrder>[]>();
    const byDay = new Map<number, Timed<DayLine[]>[]>();
    if (days.size > 0) {
      const sorted = [...days].sort((a, b) => a - b);
      const held = this.monthsOf(db, sorted[0]!, sorted[sorted.length - 1]!, watermark);
      for (const day of sorted) {
        const at = held.byDay.get(day) ?? [];
        for (let k = 0; k < at.length; k += 2) {
          const b = held.blocks[at[k]!]!;
          const o = at[k + 1]!;
          const created = b.createdAt[o]!;
          const pk = b.orderPk[o]!;
          const first = o === 0 ? 0 : b.lineEnd[o - 1]!;
          const end = b.lineEnd[o]!;
          const status = b.status[o]!;
          const customer = b.customerPk[o]!;
          const total = b.total[o]!;
          const lines: DayLine[] = [];
          let units = 0;
          for (let i = first; i < end; i++) {
            units += b.quantity[i]!;
            lines.push([pk, status, customer, total, b.productId[i]!, b.quantity[i]!, b.unitPrice[i]!]);
          }
          push(byDay, day, { at: created, pk, item: lines });
          const hour = Math.floor(created / HOUR);
          if (hours.has(hour))
            push(byHour, hour, {
              at: created,
              pk,
              item: { status: ORDER_STATUSES[status]!, customer_pk: customer, total_cents: total, units },
            });
        }
      }
    }
    return {
      hourOrders: (hour) => inIndexOrder(byHour.get(hour)),
      dayLines: (day) => inIndexOrder(byDay.get(day)).flat(),
    };
  }

  /** Lets the months go (the rebuild is over). */
  clear(): void {
    this.held = null;
  }

  /** The months of days [firstDay, lastDay], read unless held under the same watermark. */
  private monthsOf(db: Db, firstDay: number, lastDay: number, watermark: number) {
    const first = monthOfDay(firstDay);
    const last = monthOfDay(lastDay);
    const h = this.held;
    if (h && h.watermark === watermark && h.first <= first && last <= h.last) return h;
    this.held = null; // what it held is not needed past this point: collectable while the months are read
    const blocks: JournalBlock[] = [];
    const byDay = new Map<number, number[]>();
    const range = { start: firstDayOfMonth(first) * DAY, end: firstDayOfMonth(last + 1) * DAY };
    for (const b of journalBlocks(db, 0, range)) {
      const bi = blocks.length;
      let kept = false;
      for (let o = 0; o < b.orders; o++) {
        const at = b.createdAt[o]!;
        if (b.orderPk[o]! > watermark || at < range.start || at >= range.end) continue;
        push(byDay, Math.floor(at / DAY), bi, o);
        kept = true;
      }
      if (kept) blocks.push(b);
    }
    this.held = { first, last, watermark, blocks, byDay };
    return this.held;
  }
}

function push<T>(map: Map<number, T[]>, key: number, ...values: T[]): void {
  const list = map.get(key);
  if (list) list.push(...values);
  else map.set(key, values);
}

/** The items in (created_at, order_pk) order, as the date index (created_at, order_pk, ...) gives them. */
function inIndexOrder<T>(timed: Timed<T>[] | undefined): T[] {
  if (!timed) return [];
  return timed.sort((a, b) => a.at - b.at || a.pk - b.pk).map((t) => t.item);
}
