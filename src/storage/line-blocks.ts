/**
 * A day's order lines as one columnar block (sql/shard/018): what a pass over every line of a range
 * (every product's sales) reads instead of joining orders to their items row by row. Each column is a
 * typed array in the platform's byte order (little-endian on every machine Node supports), so a read
 * decodes a block by taking views of its bytes, no per-row object.
 *
 * Layout: a 16-byte header (u8 version, u8 id width: 4 or 8 bytes, u16 0, u32 orders, u32 lines, u32 0),
 * then the columns, the 8-byte ones first so every column is aligned:
 *   f64 total_cents[orders], f64 unit_price_cents[lines],
 *   ids (i32, or f64 when one exceeds 2^31 - 1): order_pk[orders], customer_pk[orders], product_id[lines],
 *   i32 line_end[orders] (the order's lines end there; they start at the previous order's end),
 *   i32 quantity[lines], u8 status[orders] (the index in ORDER_STATUSES).
 * About 21 bytes per order and 16 per line with 32-bit ids.
 */
import { ORDER_STATUSES, type OrderStatus } from '../domain/vocabulary.js';
import { ColumnViews, decodingBytes, encodingBytes, INT32_MAX } from './column-bytes.js';

const VERSION = 1;
/** The bytes of a block's header. */
export const LINE_BLOCK_HEADER = 16;
const HEADER = LINE_BLOCK_HEADER;

/** One order line with what its order brings, its order's lines arriving together. */
export interface BlockLine {
  order_pk: number;
  status: string;
  customer_pk: number;
  total_cents: number;
  product_id: number;
  quantity: number;
  unit_price_cents: number;
}

export type Ids = Int32Array | Float64Array;

/** A decoded block: views of its columns. */
export interface LineBlock {
  orders: number;
  lines: number;
  total: Float64Array;
  unitPrice: Float64Array;
  orderPk: Ids;
  customerPk: Ids;
  productId: Ids;
  lineEnd: Int32Array;
  quantity: Int32Array;
  status: Uint8Array;
}

const STATUS_CODE = new Map<string, number>(ORDER_STATUSES.map((s, i) => [s, i]));

/** A status's code in a block (its index in ORDER_STATUSES). */
export function statusCode(status: string): number {
  const code = STATUS_CODE.get(status);
  if (code === undefined) throw new Error(`unknown order status ${status}`);
  return code;
}

/** The status codes of a block as a lookup table: `table[code]` is 1 for the statuses listed. */
export function statusCodes(statuses: readonly string[]): Uint8Array {
  const table = new Uint8Array(256);
  for (const s of statuses) {
    const code = STATUS_CODE.get(s as OrderStatus);
    if (code !== undefined) table[code] = 1;
  }
  return table;
}

/**
 * The most bytes a stored block takes (~870 orders of 3 lines): a day's lines, or a scan's spilled ones, are
 * stored in pieces of at most this. Reading a BLOB allocates it twice (SQLite's copy, then the Buffer
 * better-sqlite3 returns); at 64 KiB and more each is a fresh mapping under the server's malloc settings
 * (src/node-flags.ts), whose pages fault in one by one (~11 µs each on this machine), and unmapped when
 * freed. Below it both come from malloc's arenas and reuse the same memory block after block (docs/perf.md,
 * "Every product within the memory budget").
 */
export const LINE_BLOCK_MAX_BYTES = 60_000;

/** A code in a block's status column for lines whose status was checked before they were stored. */
export const CHECKED_STATUS = 0;

/** One block of a writer's lines cut into pieces: its orders, its lines, its bytes. */
export interface LineBlockPiece {
  orders: number;
  lines: number;
  bytes: Uint8Array;
}

/** Collects lines (an order's lines together) and blocks, and encodes them as one block or in pieces. */
export class LineBlockWriter {
  private readonly orderCols = { total: [] as number[], pk: [] as number[], customer: [] as number[] };
  private readonly lineEnd: number[] = [];
  private readonly status: number[] = [];
  private readonly lineCols = { price: [] as number[], product: [] as number[], quantity: [] as number[] };
  private wide = false;

  get orders(): number {
    return this.orderCols.pk.length;
  }

  get lines(): number {
    return this.lineCols.product.length;
  }

  /** The size of the block `encode` would make now. */
  get bytes(): number {
    return lineBlockBytes(this.orders, this.lines, this.wide ? 8 : 4);
  }

  add(line: BlockLine): void {
    const o = this.orderCols;
    if (o.pk.length === 0 || o.pk[o.pk.length - 1] !== line.order_pk)
      this.startOrder(line.order_pk, line.customer_pk, line.total_cents, statusCode(line.status));
    this.addLine(line.product_id, line.quantity, line.unit_price_cents);
  }

  /** Every line of a decoded block (compacting a day's blocks into one). */
  addBlock(b: LineBlock): void {
    for (let o = 0, line = 0; o < b.orders; o++) {
      this.startOrder(b.orderPk[o]!, b.customerPk[o]!, b.total[o]!, b.status[o]!);
      for (; line < b.lineEnd[o]!; line++)
        this.addLine(b.productId[line]!, b.quantity[line]!, b.unitPrice[line]!);
    }
  }

  /** An order (its status code: `statusCode`); its lines follow with `addLine`. */
  startOrder(pk: number, customer: number, total: number, status: number): void {
    this.orderCols.pk.push(pk);
    this.orderCols.customer.push(customer);
    this.orderCols.total.push(total);
    this.status.push(status);
    this.lineEnd.push(this.lines);
    if (pk > INT32_MAX || customer > INT32_MAX) this.wide = true;
  }

  /** A line of the order started last. */
  addLine(product: number, quantity: number, price: number): void {
    this.lineCols.product.push(product);
    this.lineCols.quantity.push(quantity);
    this.lineCols.price.push(price);
    this.lineEnd[this.lineEnd.length - 1]!++;
    if (product > INT32_MAX) this.wide = true;
  }

  /**
   * The lines as blocks of at most `maxBytes` each, in order (an order's lines never split: an order larger
   * than that is a block of its own). None for no order.
   */
  pieces(maxBytes: number): LineBlockPiece[] {
    const idBytes = this.wide ? 8 : 4;
    const lineStart = (o: number) => (o === 0 ? 0 : this.lineEnd[o - 1]!);
    const out: LineBlockPiece[] = [];
    for (let first = 0; first < this.orders; ) {
      let end = first + 1;
      while (
        end < this.orders &&
        lineBlockBytes(end + 1 - first, this.lineEnd[end]! - lineStart(first), idBytes) <= maxBytes
      )
        end++;
      const lines = this.lineEnd[end - 1]! - lineStart(first);
      out.push({ orders: end - first, lines, bytes: this.encodeOrders(first, end) });
      first = end;
    }
    return out;
  }

  /** Orders `first` to `end` (exclusive) and their lines as one block. */
  private encodeOrders(first: number, end: number): Uint8Array {
    const from = first === 0 ? 0 : this.lineEnd[first - 1]!;
    const to = this.lineEnd[end - 1]!;
    const c = this.columns();
    return encodeLineBlock(
      {
        total: c.total.slice(first, end),
        unitPrice: c.unitPrice.slice(from, to),
        orderPk: c.orderPk.slice(first, end),
        customerPk: c.customerPk.slice(first, end),
        productId: c.productId.slice(from, to),
        lineEnd: c.lineEnd.slice(first, end).map((e) => e - from),
        quantity: c.quantity.slice(from, to),
        status: c.status.slice(first, end),
      },
      this.wide,
    );
  }

  /** The collected columns, as the block lays them out. */
  private columns(): Record<keyof LineBlockColumns, number[]> {
    return {
      total: this.orderCols.total,
      unitPrice: this.lineCols.price,
      orderPk: this.orderCols.pk,
      customerPk: this.orderCols.customer,
      productId: this.lineCols.product,
      lineEnd: this.lineEnd,
      quantity: this.lineCols.quantity,
      status: this.status,
    };
  }

  /**
   * The block's bytes: a new array, or the start of `into` (whose bytes must start 8-byte aligned) when it
   * is large enough (a writer that stores the block at once and reuses its scratch).
   */
  encode(into?: Uint8Array): Uint8Array {
    return encodeLineBlock(this.columns(), this.wide, into);
  }
}

/** A block's columns before encoding: any array of numbers each (its orders' and its lines' lengths). */
export type LineBlockColumns = { [K in keyof Omit<LineBlock, 'orders' | 'lines'>]: ArrayLike<number> };

/**
 * The block of these columns: a new array, or the start of `into` (8-byte aligned) when it is large
 * enough. `wide`: an id exceeds 2^31 - 1 (the ids are then stored as f64).
 */
export function encodeLineBlock(columns: LineBlockColumns, wide: boolean, into?: Uint8Array): Uint8Array {
  const n = columns.orderPk.length;
  const m = columns.productId.length;
  const idBytes = wide ? 8 : 4;
  const { bytes, header } = encodingBytes(
    lineBlockBytes(n, m, idBytes),
    { bytes: HEADER, version: VERSION, idBytes, orders: n },
    into,
  );
  header.setUint32(8, m, true);
  const b = viewBlock(bytes, n, m, idBytes);
  for (const key of Object.keys(columns) as (keyof LineBlockColumns)[]) b[key].set(columns[key]);
  return bytes;
}

/** The bytes of a block of `orders` and `lines` whose ids take `idBytes` (4, or 8 when one is wide). */
export function lineBlockBytes(orders: number, lines: number, idBytes: 4 | 8 = 8): number {
  return HEADER + 8 * (orders + lines) + idBytes * (2 * orders + lines) + 4 * (orders + lines) + orders;
}

/** A block's columns, as views of its bytes (copied first if they are not 8-byte aligned). */
export function decodeLineBlock(stored: Uint8Array): LineBlock {
  const { bytes, header, idBytes } = decodingBytes(stored, {
    bytes: HEADER,
    version: VERSION,
    what: 'order line block',
  });
  return viewBlock(bytes, header.getUint32(4, true), header.getUint32(8, true), idBytes);
}

function viewBlock(bytes: Uint8Array, n: number, m: number, idBytes: number): LineBlock {
  const c = new ColumnViews(bytes, HEADER);
  const total = c.f64(n);
  const unitPrice = c.f64(m);
  const orderPk = c.ids(n, idBytes);
  const customerPk = c.ids(n, idBytes);
  const productId = c.ids(m, idBytes);
  const lineEnd = c.i32(n);
  const quantity = c.i32(m);
  const status = c.u8(n);
  return { orders: n, lines: m, total, unitPrice, orderPk, customerPk, productId, lineEnd, quantity, status };
}
