import {
  Field,
  Int32,
  Int64,
  List,
  makeData,
  makeVector,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampMillisecond,
  Utf8,
  type Vector,
  vectorFromArray,
} from 'apache-arrow';
import type { SearchField, SearchRow } from '../domain/search.js';

/** The Arrow type of each exportable field. Items are a real nested column, not JSON text. */
const ITEM_TYPE = new Struct([
  new Field('product_id', new Int64(), false),
  new Field('quantity', new Int32(), false),
  new Field('unit_price_cents', new Int64(), false),
]);
const ITEMS_TYPE = new List(new Field('item', ITEM_TYPE, false));

type ItemJson = { product_id: number; quantity: number; unit_price_cents: number };

function int64Column(rows: readonly SearchRow[], key: string): Vector {
  const out = new BigInt64Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = BigInt(rows[i]![key] as number);
  return makeVector(out);
}

function int32Column(rows: readonly SearchRow[], key: string): Vector {
  const out = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = rows[i]![key] as number;
  return makeVector(out);
}

/** List<Struct> built from flat child arrays and offsets (the builder API is several times slower). */
function itemsColumn(rows: readonly SearchRow[]): Vector {
  const parsed = rows.map((r) => JSON.parse(r.items ?? '[]') as ItemJson[]);
  const total = parsed.reduce((n, items) => n + items.length, 0);
  const offsets = new Int32Array(rows.length + 1);
  const productIds = new BigInt64Array(total);
  const quantities = new Int32Array(total);
  const prices = new BigInt64Array(total);
  let k = 0;
  for (let i = 0; i < parsed.length; i++) {
    for (const item of parsed[i]!) {
      productIds[k] = BigInt(item.product_id);
      quantities[k] = item.quantity;
      prices[k] = BigInt(item.unit_price_cents);
      k++;
    }
    offsets[i + 1] = k;
  }
  const [productType, quantityType, priceType] = ITEM_TYPE.children.map((f) => f.type);
  const struct = makeData({
    type: ITEM_TYPE,
    length: total,
    nullCount: 0,
    children: [
      makeData({ type: productType as Int64, data: productIds }),
      makeData({ type: quantityType as Int32, data: quantities }),
      makeData({ type: priceType as Int64, data: prices }),
    ],
  });
  return makeVector(
    makeData({ type: ITEMS_TYPE, length: rows.length, nullCount: 0, valueOffsets: offsets, child: struct }),
  );
}

function column(rows: readonly SearchRow[], f: SearchField): Vector {
  switch (f) {
    case 'created_at':
      return vectorFromArray(
        rows.map((r) => r._created_at),
        new TimestampMillisecond('UTC'),
      );
    case 'total_cents':
      return int64Column(rows, f);
    case 'item_count':
      return int32Column(rows, f);
    case 'items':
      return itemsColumn(rows);
    default:
      return vectorFromArray(
        rows.map((r) => r[f] as string),
        new Utf8(),
      );
  }
}

/**
 * One record batch of export rows, columns in the requested field order. Every column is declared
 * non-null, so the schema does not depend on the data (parts written separately must share it).
 */
export function orderTable(rows: readonly SearchRow[], fields: readonly SearchField[]): Table {
  const vectors = fields.map((f) => column(rows, f));
  const schema = new Schema(fields.map((f, i) => new Field(f, vectors[i]!.type, false)));
  const children = vectors.map((vector) => {
    if (vector.data.length !== 1) throw new Error('expected one chunk per column');
    return vector.data[0]!;
  });
  const struct = makeData({ type: new Struct(schema.fields), length: rows.length, nullCount: 0, children });
  return new Table(schema, [new RecordBatch(schema, struct)]);
}
