import {
  type Data,
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
import { Column } from '../sales/columns.js';
import { ByteWriter } from './byte-writer.js';

/** The Arrow type of each exportable field. Items are a real nested column, not JSON text. */
const ITEM_TYPE = new Struct([
  new Field('product_id', new Int64(), false),
  new Field('quantity', new Int32(), false),
  new Field('unit_price_cents', new Int64(), false),
]);
const ITEMS_TYPE = new List(new Field('item', ITEM_TYPE, false));

const doubles = (n: number) => new Float64Array(n);
const int32s = (n: number) => new Int32Array(n);

/** A column's numbers so far, as a view (valid until the next push after a reset). */
function viewOf<T extends Int32Array | Float64Array>(column: Column<T>): T {
  return column.data.subarray(0, column.length) as T;
}

function bigInts(values: Float64Array): BigInt64Array {
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]!);
  return out;
}

/**
 * One column of a batch, filled a row at a time so a row's values can die young instead of waiting, as a
 * page of rows, for the whole batch to be encoded (issue 21, item 8: a 4,096-row page outlived the young
 * generation and grew each worker's old one by ~8 MB between collections).
 */
interface ColumnBuilder {
  add(value: unknown): void;
  /** Forgets what was added since the last finish. */
  clear(): void;
  /** The column of everything added since the last finish, which starts the next column. */
  finish(rows: number): Vector;
}

/** Text as UTF-8 bytes and offsets, written as it comes (no string is kept). */
class Utf8Builder implements ColumnBuilder {
  private readonly bytes = new ByteWriter();
  private readonly offsets = new Column(new Int32Array(1024), int32s);

  constructor() {
    this.offsets.push(0);
  }

  add(value: unknown): void {
    this.bytes.write(value === null || value === undefined ? '' : String(value));
    this.offsets.push(this.bytes.length);
  }

  clear(): void {
    this.bytes.length = 0;
    this.offsets.length = 1;
  }

  finish(rows: number): Vector {
    const vector = makeVector(
      makeData({
        type: new Utf8(),
        length: rows,
        nullCount: 0,
        valueOffsets: viewOf(this.offsets),
        data: this.bytes.bytes(),
      }),
    );
    this.clear();
    return vector;
  }
}

/** Integers (all below 2^53), kept as doubles while they come and made the column's own type at the end. */
class IntegerBuilder implements ColumnBuilder {
  private readonly values = new Column(new Float64Array(1024), doubles);
  constructor(private readonly column: (values: Float64Array, rows: number) => Data) {}

  add(value: unknown): void {
    this.values.push(value as number);
  }

  clear(): void {
    this.values.length = 0;
  }

  finish(rows: number): Vector {
    const data = this.column(viewOf(this.values), rows);
    this.clear();
    return makeVector(data);
  }
}

const int64Column = (values: Float64Array, rows: number) =>
  makeData({ type: new Int64(), length: rows, nullCount: 0, data: bigInts(values) });
const int32Column = (values: Float64Array, rows: number) =>
  makeData({ type: new Int32(), length: rows, nullCount: 0, data: Int32Array.from(values) });
const timestampColumn = (values: Float64Array, rows: number) =>
  makeData({ type: new TimestampMillisecond('UTC'), length: rows, nullCount: 0, data: bigInts(values) });

/**
 * The integers of an items JSON text, in order. SQLite builds that text with a fixed shape
 * ([{"product_id":n,"quantity":n,"unit_price_cents":n},…]) and no key holds a digit, so the numbers come in
 * triples: reading them directly avoids allocating an object per item.
 */
function itemNumbers(json: string, out: Column<Float64Array>): void {
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
class ItemsBuilder implements ColumnBuilder {
  private readonly numbers = new Column(new Float64Array(4096), doubles);
  private readonly offsets = new Column(new Int32Array(1024), int32s);

  constructor() {
    this.offsets.push(0);
  }

  add(value: unknown): void {
    itemNumbers((value as string | null) ?? '[]', this.numbers);
    if (this.numbers.length % 3 !== 0)
      throw new Error('items JSON is not a list of (product_id, quantity, price)');
    this.offsets.push(this.numbers.length / 3);
  }

  clear(): void {
    this.numbers.length = 0;
    this.offsets.length = 1;
  }

  finish(rows: number): Vector {
    const numbers = viewOf(this.numbers);
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
    const valueOffsets = viewOf(this.offsets);
    this.clear();
    return makeVector(
      makeData({ type: ITEMS_TYPE, length: rows, nullCount: 0, valueOffsets, child: struct }),
    );
  }
}

function columnBuilder(f: SearchField): ColumnBuilder {
  switch (f) {
    case 'created_at':
      return new IntegerBuilder(timestampColumn);
    case 'total_cents':
      return new IntegerBuilder(int64Column);
    case 'item_count':
      return new IntegerBuilder(int32Column);
    case 'items':
      return new ItemsBuilder();
    default:
      return new Utf8Builder();
  }
}

/**
 * Record batches of export rows, columns in the requested field order, filled a row at a time. Every column
 * is declared non-null, so the schema does not depend on the data (parts written separately must share it).
 * A table from `finish` views the builder's buffers: it is valid until the next row is added.
 */
export class OrderTableBuilder {
  private readonly layout: number[];
  private readonly columns: ColumnBuilder[];
  rows = 0;

  constructor(private readonly fields: readonly SearchField[]) {
    this.layout = rowLayout(fields);
    this.columns = fields.map(columnBuilder);
  }

  add(row: SearchRow): void {
    const { layout, columns } = this;
    for (let i = 0; i < columns.length; i++) columns[i]!.add(row[layout[i]!]);
    this.rows++;
  }

  /** Forgets the rows added since the last finish (a batch cut short by a failure). */
  clear(): void {
    for (const c of this.columns) c.clear();
    this.rows = 0;
  }

  /** The rows added since the last finish, as one record batch. */
  finish(): Table {
    const rows = this.rows;
    const vectors = this.columns.map((c) => c.finish(rows));
    this.rows = 0;
    const schema = new Schema(this.fields.map((f, i) => new Field(f, vectors[i]!.type, false)));
    const children = vectors.map((vector) => {
      if (vector.data.length !== 1) throw new Error('expected one chunk per column');
      return vector.data[0]!;
    });
    const struct = makeData({ type: new Struct(schema.fields), length: rows, nullCount: 0, children });
    return new Table(schema, [new RecordBatch(schema, struct)]);
  }
}

/** One record batch of export rows (see OrderTableBuilder). */
export function orderTable(rows: Iterable<SearchRow>, fields: readonly SearchField[]): Table {
  const builder = new OrderTableBuilder(fields);
  for (const row of rows) builder.add(row);
  return builder.finish();
}
