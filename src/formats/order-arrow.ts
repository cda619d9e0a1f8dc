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
} from 'apache-arrow';
import { rowLayout, type SearchField, type SearchRow } from '../domain/search.js';

/** The Arrow type of each exportable field. Items are a real nested column, not JSON text. */
const ITEM_TYPE = new Struct([
  new Field('product_id', new Int64(), false),
  new Field('quantity', new Int32(), false),
  new Field('unit_price_cents', new Int64(), false),
]);
const ITEMS_TYPE = new List(new Field('item', ITEM_TYPE, false));

function int64Column(rows: readonly SearchRow[], column: number): Vector {
  const out = new BigInt64Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = BigInt(rows[i]![column] as number);
  return makeVector(out);
}

function int32Column(rows: readonly SearchRow[], column: number): Vector {
  const out = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = rows[i]![column] as number;
  return makeVector(out);
}

const utf8 = new TextEncoder();

/**
 * A Utf8 column from offsets and one encoded buffer. When the whole column is ASCII (the common case), it is
 * encoded in one call and each value's byte length is its string length; otherwise value by value.
 */
function utf8Column(values: readonly string[]): Vector {
  const offsets = new Int32Array(values.length + 1);
  const joined = values.join('');
  let data: Uint8Array;
  if (Buffer.byteLength(joined, 'utf8') === joined.length) {
    data = utf8.encode(joined);
    for (let i = 0; i < values.length; i++) offsets[i + 1] = offsets[i]! + values[i]!.length;
  } else {
    data = new Uint8Array(joined.length * 3);
    let at = 0;
    for (let i = 0; i < values.length; i++) {
      at += utf8.encodeInto(values[i]!, data.subarray(at)).written;
      offsets[i + 1] = at;
    }
    data = data.subarray(0, at);
  }
  return makeVector(
    makeData({ type: new Utf8(), length: values.length, nullCount: 0, valueOffsets: offsets, data }),
  );
}

/**
 * The integers of an items JSON text, in order. SQLite builds that text with a fixed shape
 * ([{"product_id":n,"quantity":n,"unit_price_cents":n},…]) and no key holds a digit, so the numbers come in
 * triples: reading them directly avoids allocating an object per item.
 */
function itemNumbers(json: string, out: number[]): void {
  let value = 0;
  let inNumber = false;
  let negative = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      inNumber = true;
    } else if (c === 45) negative = true;
    else if (inNumber) {
      out.push(negative ? -value : value);
      value = 0;
      inNumber = false;
      negative = false;
    }
  }
}

/** List<Struct> built from flat child arrays and offsets (the builder API is several times slower). */
function itemsColumn(rows: readonly SearchRow[], column: number): Vector {
  const numbers: number[] = [];
  const offsets = new Int32Array(rows.length + 1);
  for (let i = 0; i < rows.length; i++) {
    itemNumbers((rows[i]![column] as string | null) ?? '[]', numbers);
    if (numbers.length % 3 !== 0)
      throw new Error('items JSON is not a list of (product_id, quantity, price)');
    offsets[i + 1] = numbers.length / 3;
  }
  const total = numbers.length / 3;
  const productIds = new BigInt64Array(total);
  const quantities = new Int32Array(total);
  const prices = new BigInt64Array(total);
  for (let k = 0; k < total; k++) {
    productIds[k] = BigInt(numbers[3 * k]!);
    quantities[k] = numbers[3 * k + 1]!;
    prices[k] = BigInt(numbers[3 * k + 2]!);
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

function column(rows: readonly SearchRow[], f: SearchField, at: number): Vector {
  switch (f) {
    case 'created_at': {
      const ms = new BigInt64Array(rows.length);
      for (let i = 0; i < rows.length; i++) ms[i] = BigInt(rows[i]![at] as number);
      return makeVector(
        makeData({ type: new TimestampMillisecond('UTC'), length: rows.length, nullCount: 0, data: ms }),
      );
    }
    case 'total_cents':
      return int64Column(rows, at);
    case 'item_count':
      return int32Column(rows, at);
    case 'items':
      return itemsColumn(rows, at);
    default:
      return utf8Column(rows.map((r) => String(r[at] ?? '')));
  }
}

/**
 * One record batch of export rows, columns in the requested field order. Every column is declared
 * non-null, so the schema does not depend on the data (parts written separately must share it).
 */
export function orderTable(rows: readonly SearchRow[], fields: readonly SearchField[]): Table {
  const layout = rowLayout(fields);
  const vectors = fields.map((f, i) => column(rows, f, layout[i]!));
  const schema = new Schema(fields.map((f, i) => new Field(f, vectors[i]!.type, false)));
  const children = vectors.map((vector) => {
    if (vector.data.length !== 1) throw new Error('expected one chunk per column');
    return vector.data[0]!;
  });
  const struct = makeData({ type: new Struct(schema.fields), length: rows.length, nullCount: 0, children });
  return new Table(schema, [new RecordBatch(schema, struct)]);
}
