import type { IngestKind } from '../domain/ingest-kinds.js';
import { jsonBytes, Utf8Builder } from '../formats/utf8-builder.js';
import { type OrderRecord, toOrderRecord } from '../storage/order-record.js';
import type { OrderRow } from '../storage/order-writer.js';

/** A validated row with where it came from: its line, and the id its row errors name. */
export interface Parsed<T> {
  line: number;
  row: T;
  id: Record<string, unknown>;
}

/**
 * Validated rows in the shape their writer takes. Orders, the hot path, are records (positional arrays,
 * src/storage/order-record.ts) with their line numbers beside them: the writer binds them without
 * building an object per row, item and error id. Other kinds stay the validated objects.
 */
export type RowBatch =
  | { kind: 'orders'; lines: number[]; records: OrderRecord[] }
  | { kind: Exclude<IngestKind, 'orders'>; rows: Parsed<unknown>[] };

export function batchOf(kind: IngestKind, valid: Parsed<unknown>[]): RowBatch {
  if (kind !== 'orders') return { kind, rows: valid };
  return {
    kind,
    lines: valid.map((p) => p.line),
    records: (valid as Parsed<OrderRow>[]).map((p) => toOrderRecord(p.row)),
  };
}

export function batchSize(batch: RowBatch): number {
  return batch.kind === 'orders' ? batch.records.length : batch.rows.length;
}

const decoder = new TextDecoder();

/**
 * Encodes a batch for the trip from the parse stage to the writer lane: bytes the main thread transfers
 * without a copy. Orders go as `[records, lines]` in JSON: a third of the bytes of keyed objects, and the
 * lane, the one thread ingest waits for, decodes them with one JSON.parse (perf/row-transfer).
 */
export function encodeBatch(batch: RowBatch, builder = new Utf8Builder()): Uint8Array {
  if (batch.kind !== 'orders') return jsonBytes(batch.rows, builder, 1);
  return jsonBytes([batch.records, batch.lines], builder, 2);
}

/**
 * encodeBatch, one row at a time as the parse stage accepts it: an order is turned into its record's JSON
 * and written as UTF-8 at once, so the parsed object and its JSON die young instead of surviving the
 * chunk's young-generation collections (a chunk's parsed orders are ~2.5 MB of objects: each scavenge
 * copied them, ~0.8 s per 100k orders in each parse worker, and the parallel collector's threads competed
 * with the writer lane for the cores), and no string of the whole batch is built (src/formats/utf8-builder.ts).
 * finish() gives the bytes encodeBatch makes of the same rows. The builder is the caller's, reused from
 * chunk to chunk: one encoder at a time may use it, from its construction (which empties it) to its finish().
 */
export class RowBatchEncoder {
  private readonly lines: number[] = [];
  private readonly rows: Parsed<unknown>[] = [];

  constructor(
    private readonly kind: IngestKind,
    private readonly builder: Utf8Builder,
  ) {
    builder.reset(); // what a batch that failed half-way (a throw in the parse) left there
    if (kind === 'orders') builder.append('[[');
  }

  get size(): number {
    return this.kind === 'orders' ? this.lines.length : this.rows.length;
  }

  add(valid: Parsed<unknown>): void {
    if (this.kind !== 'orders') {
      this.rows.push(valid);
      return;
    }
    const record = JSON.stringify(toOrderRecord(valid.row as OrderRow));
    this.builder.append(this.lines.length === 0 ? record : `,${record}`);
    this.lines.push(valid.line);
  }

  finish(): Uint8Array {
    if (this.kind !== 'orders') return encodeBatch({ kind: this.kind, rows: this.rows }, this.builder);
    this.builder.append(`],[${this.lines.join(',')}]]`);
    return this.builder.take();
  }
}

/** The batch encodeBatch encoded. */
export function decodeBatch(kind: IngestKind, bytes: Uint8Array): RowBatch {
  const value = JSON.parse(decoder.decode(bytes)) as unknown;
  if (kind !== 'orders') return { kind, rows: value as Parsed<unknown>[] };
  const [records, lines] = value as [OrderRecord[], number[]];
  return { kind, lines, records };
}
