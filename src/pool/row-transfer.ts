import type { IngestKind } from '../domain/ingest-kinds.js';
import type { OrderRow } from '../storage/order-writer.js';

/** A validated row with where it came from: its line, and the id its row errors name. */
export interface Parsed<T> {
  line: number;
  row: T;
  id: Record<string, unknown>;
}

/** An order as it travels: line, the order's fields in a fixed order, items flattened in threes. */
type OrderTuple = [
  line: number,
  order_id: string,
  customer_id: string,
  customer_name: string,
  customer_email: string,
  status: OrderRow['status'],
  currency: string,
  created_at: number,
  total_cents: number,
  items: number[],
];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes validated rows for the trip from the parse stage to the writer lane: bytes the main thread
 * transfers without a copy. Orders, the hot path, go as JSON arrays without key names: a third of the
 * bytes, and decoding them costs the writer lane, the one thread ingest waits for, 2.6 ms per 2,000
 * orders instead of 8.0 ms for keyed JSON or 11 ms for a structured clone (perf/row-transfer).
 * Other kinds go as JSON objects.
 */
export function encodeRows(kind: IngestKind, rows: Parsed<unknown>[]): Uint8Array {
  if (kind !== 'orders') return encoder.encode(JSON.stringify(rows));
  const tuples = (rows as Parsed<OrderRow>[]).map(({ line, row: r }): OrderTuple => {
    const items: number[] = [];
    for (const it of r.items) items.push(it.product_id, it.quantity, it.unit_price_cents);
    return [
      line,
      r.order_id,
      r.customer_id,
      r.customer_name,
      r.customer_email,
      r.status,
      r.currency,
      r.created_at,
      r.total_cents,
      items,
    ];
  });
  return encoder.encode(JSON.stringify(tuples));
}

/** The rows encodeRows encoded, as the parse stage had them. */
export function decodeRows(kind: IngestKind, bytes: Uint8Array): Parsed<unknown>[] {
  const value = JSON.parse(decoder.decode(bytes)) as unknown[];
  if (kind !== 'orders') return value as Parsed<unknown>[];
  return (value as OrderTuple[]).map((t): Parsed<OrderRow> => {
    const flat = t[9];
    const items: OrderRow['items'] = [];
    for (let i = 0; i < flat.length; i += 3)
      items.push({ product_id: flat[i]!, quantity: flat[i + 1]!, unit_price_cents: flat[i + 2]! });
    const row: OrderRow = {
      order_id: t[1],
      customer_id: t[2],
      customer_name: t[3],
      customer_email: t[4],
      status: t[5],
      currency: t[6],
      created_at: t[7],
      total_cents: t[8],
      items,
    };
    return { line: t[0], row, id: { order_id: t[1] } };
  });
}
