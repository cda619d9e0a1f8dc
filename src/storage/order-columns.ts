/**
 * A journal block's order columns: the `created` BLOB of order_journal (sql/shard/020), everything a read by
 * time needs of each order, so it reads this BLOB alone and leaves the lines' (`block`, stored after it in
 * the row: SQLite does not read the overflow pages of a column it is not asked for). Each column is a
 * typed array in the platform's byte order, 8-byte ones first, decoded by taking views.
 *
 * Version 2 layout: an 8-byte header (u8 version 2, u8 id width: 4 or 8, u16 0, u32 orders), then
 *   f64 created_at[orders] (epoch ms), f64 total_cents[orders], ids customer_pk[orders] (i32, or f64 when
 *   one exceeds 2^31 - 1), i32 units[orders] (the order's lines' quantities summed), u8 status[orders].
 * About 25 bytes an order. Version 1 (the journal's first weeks) held created_at alone: 8 bytes an order,
 * told apart by its length (`isCreatedOnly`); its other columns come from the line block.
 */
import { ColumnViews, decodingBytes, encodingBytes, INT32_MAX } from './column-bytes.js';
import type { Ids, LineBlock } from './line-blocks.js';

const VERSION = 2;
const HEADER = 8;

/** Each order of a block: when, how much, who, how many units, which status (its index in ORDER_STATUSES). */
export interface OrderColumns {
  orders: number;
  createdAt: Float64Array;
  total: Float64Array;
  customerPk: Ids;
  units: Int32Array;
  status: Uint8Array;
}

/** The bytes of `orders` orders' columns whose ids take `idBytes`. */
export function orderColumnsBytes(orders: number, idBytes: 4 | 8 = 8): number {
  return HEADER + 16 * orders + idBytes * orders + 4 * orders + orders;
}

/** Whether a stored `created` BLOB is version 1: created_at alone (`length(created) = 8 * orders` in SQL). */
export function isCreatedOnly(created: Uint8Array, orders: number): boolean {
  return created.byteLength === 8 * orders;
}

/** SQL true for a version 1 row of order_journal. */
export const CREATED_ONLY_SQL = 'length(created) = 8 * orders';

/** Collects the columns order by order (units added line by line), then encodes them. */
export class OrderColumnsWriter {
  private readonly created: number[] = [];
  private readonly total: number[] = [];
  private readonly customer: number[] = [];
  private readonly units: number[] = [];
  private readonly status: number[] = [];
  private wide = false;

  get orders(): number {
    return this.created.length;
  }

  order(customerPk: number, totalCents: number, status: number, createdAt: number): void {
    this.created.push(createdAt);
    this.total.push(totalCents);
    this.customer.push(customerPk);
    this.units.push(0);
    this.status.push(status);
    if (customerPk > INT32_MAX) this.wide = true;
  }

  /** A line of the order added last: its quantity counts in its units. */
  line(quantity: number): void {
    this.units[this.units.length - 1]! += quantity;
  }

  /** The encoded columns: a new array, or the start of `into` (8-byte aligned) when it is large enough. */
  encode(into?: Uint8Array): Uint8Array {
    const n = this.orders;
    const idBytes = this.wide ? 8 : 4;
    const { bytes } = encodingBytes(
      orderColumnsBytes(n, idBytes),
      { bytes: HEADER, version: VERSION, idBytes, orders: n },
      into,
    );
    const c = viewColumns(bytes, n, idBytes);
    c.createdAt.set(this.created);
    c.total.set(this.total);
    c.customerPk.set(this.customer);
    c.units.set(this.units);
    c.status.set(this.status);
    return bytes;
  }
}

/** Stored version 2 columns as views of their bytes (copied first if not 8-byte aligned). */
export function decodeOrderColumns(stored: Uint8Array): OrderColumns {
  const { bytes, header, idBytes } = decodingBytes(stored, {
    bytes: HEADER,
    version: VERSION,
    what: 'order columns',
  });
  return viewColumns(bytes, header.getUint32(4, true), idBytes);
}

/** A version 1 row's columns: created_at stored, the rest from its line block (units summed). */
export function orderColumnsOfLineBlock(createdAt: Float64Array, b: LineBlock): OrderColumns {
  const units = new Int32Array(b.orders);
  for (let o = 0, line = 0; o < b.orders; o++)
    for (const end = b.lineEnd[o]!; line < end; line++) units[o]! += b.quantity[line]!;
  return { orders: b.orders, createdAt, total: b.total, customerPk: b.customerPk, units, status: b.status };
}

function viewColumns(bytes: Uint8Array, n: number, idBytes: number): OrderColumns {
  const c = new ColumnViews(bytes, HEADER);
  const createdAt = c.f64(n);
  const total = c.f64(n);
  const customerPk = c.ids(n, idBytes);
  const units = c.i32(n);
  const status = c.u8(n);
  return { orders: n, createdAt, total, customerPk, units, status };
}
