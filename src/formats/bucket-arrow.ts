import {
  Field,
  Float64,
  Int64,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  tableToIPC,
  Utf8,
  type Vector,
  vectorFromArray,
} from 'apache-arrow';
import type { Bucket } from '../domain/sales.js';

/** Bytes that end an Arrow IPC stream: continuation marker, then a zero message length. */
const END_OF_STREAM = 8;

const MEASURES = [
  'orders',
  'units',
  'revenue_cents',
  'unique_customers',
  'avg_order_value_cents',
  'p50_order_value_cents',
  'p95_order_value_cents',
  'p99_order_value_cents',
] as const;

/**
 * Sales buckets as one Arrow IPC stream, yielded a record batch at a time: the schema message first
 * (with the answer's meta as JSON in the schema metadata, key `orderflow.meta`), then one record batch
 * message per `batchRows` buckets, then the end-of-stream marker. Each batch is encoded on its own with
 * the same schema, and the repeated schema message and end marker are cut from all but the first and
 * last, so the concatenation is one valid stream while only one batch is ever encoded at a time.
 * Keys are text (day, hour, category) or integers (product ids); percentiles are null when a bucket
 * has no orders. The buckets may come asynchronously (a ranking whose slices are read as it is taken).
 */
export async function* bucketsAsArrowStream(
  buckets: Iterable<Bucket> | AsyncIterable<Bucket>,
  keyKind: 'text' | 'integer',
  meta: Record<string, unknown>,
  batchRows = 8192,
): AsyncGenerator<Uint8Array> {
  const schema = new Schema(
    [
      new Field('key', keyKind === 'text' ? new Utf8() : new Int64(), false),
      ...MEASURES.map(
        (m) => new Field(m, m.startsWith('p') ? new Float64() : new Int64(), m.startsWith('p')),
      ),
    ],
    new Map([['orderflow.meta', JSON.stringify(meta)]]),
  );
  const empty = tableToIPC(new Table(schema), 'stream'); // the schema message and the end marker
  const schemaBytes = empty.length - END_OF_STREAM;
  // a batch is written once the next one has started, so the last one is known to be last
  let pending: Uint8Array | null = null;
  let first = true;
  for await (const part of batchesOf(buckets, batchRows)) {
    if (pending) yield pending;
    const bytes = encodeBatch(schema, part, keyKind);
    pending = bytes.subarray(first ? 0 : schemaBytes, bytes.length - END_OF_STREAM);
    first = false;
  }
  if (pending === null) yield empty;
  else {
    yield pending;
    yield empty.subarray(schemaBytes);
  }
}

/** The items in arrays of `size` (the last one shorter), taken from the iterable as they are needed. */
async function* batchesOf<T>(items: Iterable<T> | AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let batch: T[] = [];
  for await (const item of items) {
    batch.push(item);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** One record batch of buckets as a whole IPC stream (schema message, batch, end marker). */
function encodeBatch(schema: Schema, part: readonly Bucket[], keyKind: 'text' | 'integer'): Uint8Array {
  const columns: Vector[] = [
    keyKind === 'text'
      ? vectorFromArray(
          part.map((b) => String(b.key)),
          new Utf8(),
        )
      : vectorFromArray(BigInt64Array.from(part, (b) => BigInt(b.key))),
    ...MEASURES.map((m) =>
      m.startsWith('p')
        ? vectorFromArray(
            part.map((b) => b[m]),
            new Float64(),
          )
        : vectorFromArray(BigInt64Array.from(part, (b) => BigInt(b[m] ?? 0))),
    ),
  ];
  const batch = new RecordBatch(
    schema,
    makeData({
      type: new Struct(schema.fields),
      length: part.length,
      nullCount: 0,
      children: columns.map((c) => c.data[0]!),
    }),
  );
  return tableToIPC(new Table(schema, [batch]), 'stream');
}
