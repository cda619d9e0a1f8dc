import type { IngestKind } from '../domain/ingest-kinds.js';
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

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes a batch for the trip from the parse stage to the writer lane: bytes the main thread transfers
 * without a copy. Orders go as `[lines, records]` in JSON: a third of the bytes of keyed objects, and the
 * lane, the one thread ingest waits for, decodes them with one JSON.parse (perf/row-transfer).
 */
export function encodeBatch(batch: RowBatch): Uint8Array {
  return encoder.encode(JSON.stringify(batch.kind === 'orders' ? [batch.lines, batch.records] : batch.rows));
}

/**
 * encodeBatch, one row at a time as the parse stage accepts it: an order is turned into its record's JSON
 * at once, so the parsed object dies young instead of surviving the chunk's young-generation collections
 * (a chunk's parsed orders are ~2.5 MB of objects: each scavenge copied them, ~0.8 s per 100k orders in
 * each parse worker, and the parallel collector's threads competed with the writer lane for the cores).
 * finish() gives the bytes encodeBatch makes of the same rows.
 */
export class RowBatchEncoder {
  private readonly lines: number[] = [];
  private readonly records: string[] = [];
  private readonly rows: Parsed<unknown>[] = [];

  constructor(private readonly kind: IngestKind) {}

  get size(): number {
    return this.kind === 'orders' ? this.lines.length : this.rows.length;
  }

  add(valid: Parsed<unknown>): void {
    if (this.kind !== 'orders') {
      this.rows.push(valid);
      return;
    }
    this.lines.push(valid.line);
    this.records.push(JSON.stringify(toOrderRecord(valid.row as OrderRow)));
  }

  finish(): Uint8Array {
    if (this.kind !== 'orders') return encodeBatch({ kind: this.kind, rows: this.rows });
    return encoder.encode(`[[${this.lines.join(',')}],[${this.records.join(',')}]]`);
  }
}

/** The batch encodeBatch encoded. */
export function decodeBatch(kind: IngestKind, bytes: Uint8Array): RowBatch {
  const value = JSON.parse(decoder.decode(bytes)) as unknown;
  if (kind !== 'orders') return { kind, rows: value as Parsed<unknown>[] };
  const [lines, records] = value as [number[], OrderRecord[]];
  return { kind, lines, records };
}
