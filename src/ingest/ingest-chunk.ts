import * as v from 'valibot';
import { PriceSampleSchema, StockHistorySchema } from '../domain/history-schema.js';
import { type ChunkSummary, emptySummary, type IngestKind } from '../domain/ingest-kinds.js';
import { fastValidOrder } from '../domain/order-fast-path.js';
import { OrderSchema, ProductSchema, type RowError, rowErrorFromIssues } from '../domain/order-schema.js';
import { Utf8Builder } from '../formats/utf8-builder.js';
import type { ObservationBuffer } from '../obs/observations.js';
import type { TaskBase } from '../pool/protocol.js';
import { HistoryWriter } from '../storage/history-writer.js';
import { R } from '../storage/order-record.js';
import { type OrderBatchOutcome, OrderWriter, ProductWriter } from '../storage/order-writer.js';
import type { Shards } from '../storage/shards.js';
import type { ShardWriteLock } from '../storage/write-lock.js';
import { batchOf, type Parsed, type RowBatch, RowBatchEncoder } from './row-transfer.js';

export interface IngestChunkInput extends TaskBase {
  kind: IngestKind;
  /** Whole lines of NDJSON (UTF-8), transferred from the main thread. */
  bytes: Uint8Array;
  /** 1-based line number of the chunk's first line within the request body. */
  firstLine: number;
  batchRows: number;
  maxErrors: number;
}

/**
 * Each line is decoded on its own (a byte 0x0A never falls inside a UTF-8 sequence): a chunk decoded whole
 * was a 1 MiB string on fresh pages of its own, and the parse of its lines ~40% slower (7.5 → 4.4 ms a
 * 1 MiB chunk of orders, a scratch benchmark). A byte-order mark is dropped at the start of the chunk only,
 * as decoding it whole did.
 */
const lineDecoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
const LF = 0x0a;
const CR = 0x0d;

const SCHEMAS = {
  orders: OrderSchema,
  products: ProductSchema,
  price_history: PriceSampleSchema,
  stock_events: StockHistorySchema,
} as const;

/** A kind's valid rows checked by hand before its schema runs (the schema still decides every failure). */
const FAST_PATHS: Partial<Record<IngestKind, (value: Record<string, unknown>) => unknown>> = {
  orders: fastValidOrder,
};

function identity(kind: IngestKind, value: Record<string, unknown>): Record<string, unknown> {
  if (kind === 'orders' && typeof value.order_id === 'string')
    return { order_id: value.order_id.slice(0, 64) };
  if (kind === 'products' && typeof value.product_id === 'number') return { product_id: value.product_id };
  return {};
}

/** What chunk processing needs: connections, the shard write lock, and somewhere to record metrics. */
export interface ChunkContext {
  obs: ObservationBuffer;
  shards: Shards;
  lock: ShardWriteLock;
}

/** A chunk's lines, parsed and validated: the rows to write (with their line numbers) and the counts so far. */
export interface ParsedChunk {
  valid: Parsed<unknown>[];
  summary: ChunkSummary;
  fail: (e: RowError) => void;
}

/** Counts a failed row in the summary (its detail while under `maxErrors`) and in the metrics. */
export function failureRecorder(ctx: Pick<ChunkContext, 'obs'>, summary: ChunkSummary, maxErrors: number) {
  return (e: RowError) => {
    summary.failed++;
    if (summary.errors.length < maxErrors) summary.errors.push(e);
    ctx.obs.record('ingest_rows_failed_total', { code: e.code }, 1);
  };
}

/**
 * Parses and validates every line of a chunk (no database work); each valid row goes to `accept`, which
 * by default keeps it in `valid`.
 */
export function parseChunk(
  ctx: Pick<ChunkContext, 'obs'>,
  input: IngestChunkInput,
  accept?: (row: Parsed<unknown>) => void,
): ParsedChunk {
  const summary = emptySummary();
  const fail = failureRecorder(ctx, summary, input.maxErrors);
  const schema = SCHEMAS[input.kind];
  const fast = FAST_PATHS[input.kind];
  const valid: Parsed<unknown>[] = [];
  const keep = accept ?? ((row: Parsed<unknown>) => valid.push(row));
  const bytes = input.bytes;
  let line = input.firstLine;
  let start = startsWithBom(bytes) ? 3 : 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(LF, start);
    if (end === -1) end = bytes.length;
    const raw = lineDecoder.decode(
      bytes.subarray(start, end > start && bytes[end - 1] === CR ? end - 1 : end),
    );
    start = end + 1;
    const lineNo = line++;
    if (raw.trim() === '') continue;
    summary.received++;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      fail({ line: lineNo, code: 'invalid_json', message: (error as Error).message });
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      fail({ line: lineNo, code: 'invalid_json', message: 'each line must be a JSON object' });
      continue;
    }
    const obj = value as Record<string, unknown>;
    const id = identity(input.kind, obj);
    if (obj.tenant_id !== undefined && obj.tenant_id !== input.tenantId) {
      fail({
        line: lineNo,
        ...id,
        code: 'tenant_mismatch',
        field: 'tenant_id',
        message: "tenant_id must be the API key's tenant",
      });
      continue;
    }
    const checked = fast?.(obj);
    if (checked !== undefined) {
      keep({ line: lineNo, row: checked, id });
      continue;
    }
    const result = v.safeParse(schema, obj);
    if (!result.success) {
      fail(rowErrorFromIssues(lineNo, result.issues, id));
      continue;
    }
    keep({ line: lineNo, row: result.output, id });
  }
  return { valid, summary, fail };
}

/**
 * Parses and validates every line of a chunk, then inserts its valid rows in batches, each under the
 * shard's write lock: both stages in one thread, as `--ingest-mode inline` runs them on the event loop.
 * (Pool ingest splits them: parseForWrite in a pool worker, writeParsed on the shard's writer lane.)
 */
export function processIngestChunk(ctx: ChunkContext, input: IngestChunkInput): ChunkSummary {
  const { valid, summary, fail } = parseChunk(ctx, input);
  insertInBatches(ctx, input, valid, summary, fail);
  return summary;
}

function startsWithBom(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

/** What the parse stage hands to the write stage: the valid rows, encoded, and the parse counts. */
export interface ParsedForWrite {
  /** The valid rows, encoded (encodeBatch): bytes the main thread transfers to the writer lane. */
  rows: Uint8Array;
  /** how many rows `rows` holds */
  rowCount: number;
  summary: ChunkSummary;
}

/** The parse stage's encoded rows, written into memory kept from chunk to chunk. */
const rowBytes = new Utf8Builder();

/**
 * The parse stage of pool ingest (any pool worker, no database work): validates a chunk and encodes its
 * valid rows for the writer (src/ingest/row-transfer.ts).
 */
export function parseForWrite(ctx: Pick<ChunkContext, 'obs'>, input: IngestChunkInput): ParsedForWrite {
  // synchronous from here to finish(), so one builder per thread serves every chunk
  const encoder = new RowBatchEncoder(input.kind, rowBytes);
  const { summary } = parseChunk(ctx, input, (row) => encoder.add(row));
  return { rows: encoder.finish(), rowCount: encoder.size, summary };
}

/** Inserts valid rows `batchRows` at a time, each batch one transaction under the shard's write lock. */
function insertInBatches(
  ctx: ChunkContext,
  input: Pick<IngestChunkInput, 'tenantId' | 'kind' | 'batchRows'>,
  valid: Parsed<unknown>[],
  summary: ChunkSummary,
  fail: (e: RowError) => void,
): void {
  const db = ctx.shards.db(input.tenantId);
  for (let i = 0; i < valid.length; i += input.batchRows) {
    const batch = batchOf(input.kind, valid.slice(i, i + input.batchRows));
    ctx.lock.withLock(input.tenantId, () =>
      ctx.obs.timeQuery(`insert_${input.kind}_batch`, () => {
        try {
          db.transaction(() => writeRows(ctx, input.tenantId, batch, summary, fail)).immediate();
        } catch (error) {
          rowWriters(ctx, input.tenantId).rolledBack();
          throw error;
        }
      }),
    );
  }
  ctx.obs.record('ingest_rows_total', { table: input.kind }, summary.inserted);
}

/** The shard's row writers, built once per connection. */
export function rowWriters(ctx: Pick<ChunkContext, 'shards'>, tenantId: number) {
  const orders = ctx.shards.cached(tenantId, 'OrderWriter', (db) => new OrderWriter(db));
  return {
    orders,
    products: ctx.shards.cached(tenantId, 'ProductWriter', (db) => new ProductWriter(db)),
    history: ctx.shards.cached(tenantId, 'HistoryWriter', (db) => new HistoryWriter(db)),
    /** a transaction holding their writes was rolled back */
    rolledBack: () => orders.rolledBack(),
  };
}

/** What an order batch's write did, in its chunk's counts and row errors (either backend's writer). */
export function countOrders(
  batch: Extract<RowBatch, { kind: 'orders' }>,
  out: OrderBatchOutcome,
  summary: ChunkSummary,
  fail: (e: RowError) => void,
): void {
  summary.inserted += out.inserted;
  summary.duplicate += out.duplicates.length;
  for (const u of out.unknownProduct) {
    fail({
      line: batch.lines[u.index]!,
      order_id: batch.records[u.index]![R.orderId],
      code: 'unknown_product',
      field: 'items.product_id',
      message: `product ${u.productId} does not exist`,
    });
  }
}

/** Inserts validated rows inside the caller's transaction (the caller holds the shard's write lock). */
export function writeRows(
  ctx: ChunkContext,
  tenantId: number,
  batch: RowBatch,
  summary: ChunkSummary,
  fail: (e: RowError) => void,
): void {
  const writers = rowWriters(ctx, tenantId);
  if (batch.kind === 'orders') {
    countOrders(batch, writers.orders.write(batch.records), summary, fail);
    return;
  }
  const rows = batch.rows.map((p) => p.row);
  const out =
    batch.kind === 'products'
      ? writers.products.write(rows as never)
      : batch.kind === 'price_history'
        ? writers.history.writePrices(rows as never)
        : writers.history.writeStock(rows as never);
  summary.inserted += out.inserted;
  summary.duplicate += rows.length - out.inserted;
}
