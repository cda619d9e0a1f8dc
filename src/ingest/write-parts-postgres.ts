/**
 * The writer lane's job on PostgreSQL (issue 17): the parts the write queue gathered, in transactions of up
 * to `commitRows` rows as on SQLite (src/ingest/write-parts.ts), each part's outcome known after its
 * commit; a failed transaction's parts are written again one per transaction, so one bad part fails only
 * its own request. Orders, products, the dataset loader's price and stock history, and uploads' chunks with
 * their cursors (committed with the rows they cover, as on SQLite).
 */
import type pg from 'pg';
import { type ChunkSummary, emptySummary } from '../domain/ingest-kinds.js';
import type { ObservationBuffer } from '../obs/observations.js';
import { serializeError } from '../pool/task-error.js';
import { PgHistoryWriter } from '../storage/postgres/history-writer.js';
import { PgOrderWriter } from '../storage/postgres/order-writer.js';
import { inTransaction } from '../storage/postgres/transaction.js';
import { PgUploadStore } from '../storage/postgres/uploads.js';
import { lostConnection } from '../storage/storage-fault.js';
import { countOrders, failureRecorder } from './ingest-chunk.js';
import { decodeBatch, type RowBatch } from './row-transfer.js';
import {
  type PartOutcome,
  type UploadAdvance,
  UploadCursorGap,
  type WritePart,
  type WritePartsInput,
  type WritePartsResult,
} from './write-parts.js';

/** A tenant's writers on one connection. */
interface PgWriters {
  orders: PgOrderWriter;
  history: PgHistoryWriter;
  uploads: PgUploadStore;
}

function pgWriters(client: pg.PoolClient, tenantId: number): PgWriters {
  return {
    orders: new PgOrderWriter(client, tenantId),
    history: new PgHistoryWriter(client, tenantId),
    uploads: new PgUploadStore(client, tenantId),
  };
}

/** The summary a part's outcome starts from: an upload chunk's carries what parsing it found. */
function startingSummary(part: WritePart): ChunkSummary {
  return part.upload ? { ...part.upload.parsed, errors: [...part.upload.parsed.errors] } : emptySummary();
}

/**
 * The upload chunks' cursors of one transaction. A chunk's cursor is checked before its rows are written
 * and moved (the upload's row locked, checked again) only after every part of the transaction is written:
 * the row is then locked from there to the commit, not for the whole transaction, since a PATCH moves
 * `received_offset` on the same row with every piece it stores (src/uploads/postgres-staging.ts).
 */
class UploadCursors {
  /** where an upload's cursor will stand once this transaction's earlier chunks of it move it */
  private readonly pending = new Map<string, number>();

  constructor(private readonly uploads: PgUploadStore) {}

  private async check(chunk: UploadAdvance, lock: boolean): Promise<boolean> {
    const row = await this.uploads.get(chunk.uploadId, { lock });
    if (!row || row.state === 'terminated') return false; // terminated meanwhile: nothing more is written
    // the cursor moves only from where the chunk before it left it
    const at = lock ? row.processed_offset : (this.pending.get(chunk.uploadId) ?? row.processed_offset);
    if (at !== chunk.startOffset) throw new UploadCursorGap(chunk.uploadId, at, chunk.startOffset);
    return true;
  }

  /** Whether the chunk's rows are to be written (not when its upload was terminated). */
  async admit(chunk: UploadAdvance): Promise<boolean> {
    if (!(await this.check(chunk, false))) return false;
    this.pending.set(chunk.uploadId, chunk.endOffset);
    return true;
  }

  async move(chunk: UploadAdvance, summary: ChunkSummary): Promise<void> {
    if (!(await this.check(chunk, true))) return;
    await this.uploads.advance(
      chunk.uploadId,
      { processedOffset: chunk.endOffset, linesSeen: chunk.firstLine - 1 + chunk.lines },
      summary,
      Date.now(),
    );
  }
}

/** Writes one part (products, or the dataset loader's price and stock history) in the open transaction. */
async function applyPart(writers: PgWriters, part: WritePart, summary: ChunkSummary): Promise<void> {
  const batch = decodeBatch(part.kind, part.rows);
  if (batch.kind === 'orders') throw new Error('orders are written together (writeOrderParts)');
  const rows = batch.rows.map((p) => p.row);
  const out =
    batch.kind === 'products'
      ? await writers.orders.writeProducts(rows as never)
      : batch.kind === 'price_history'
        ? await writers.history.writePrices(rows as never)
        : await writers.history.writeStock(rows as never);
  summary.inserted += out.inserted;
  summary.duplicate += rows.length - out.inserted;
}

/**
 * The parts' orders written by one pass of the writer's statements: every row of the transaction staged
 * together, one customers upsert and one orders insert. Besides saving statements, this is what lets several
 * writers share a tenant: each transaction locks the customers it touches in one ascending sweep, so two
 * transactions cannot wait on each other in a cycle (one upsert per part did, at two writers: deadlocks).
 * The outcome is counted into each part's summary.
 */
async function writeOrderParts(
  writer: PgOrderWriter,
  obs: ObservationBuffer,
  parts: readonly WritePart[],
  summaries: readonly ChunkSummary[],
): Promise<void> {
  const batches = parts.map(
    (part) => decodeBatch('orders', part.rows) as Extract<RowBatch, { kind: 'orders' }>,
  );
  // each record carries its part's arrival sequence: the customers upsert keeps the latest line's values
  const seqs = batches.flatMap((b, i) => b.records.map(() => parts[i]!.seq));
  const out = await writer.write(
    batches.flatMap((b) => b.records),
    Date.now(),
    (index) => seqs[index]!,
  );
  let start = 0;
  for (const [i, batch] of batches.entries()) {
    const end = start + batch.records.length;
    const inPart = (index: number) => index >= start && index < end;
    const duplicates = out.duplicates.filter(inPart).map((index) => index - start);
    const unknownProduct = out.unknownProduct
      .filter((u) => inPart(u.index))
      .map((u) => ({ ...u, index: u.index - start }));
    const summary = summaries[i]!;
    const fail = failureRecorder({ obs }, summary, parts[i]!.maxErrors);
    const inserted = batch.records.length - duplicates.length - unknownProduct.length;
    countOrders(batch, { inserted, duplicates, unknownProduct }, summary, fail);
    start = end;
  }
}

/** Runs `parts` in one transaction on `client`; their summaries, or the error that rolled it back. */
async function inOneTransaction(
  client: pg.PoolClient,
  writers: PgWriters,
  obs: ObservationBuffer,
  parts: readonly WritePart[],
): Promise<ChunkSummary[]> {
  return inTransaction(client, async () => {
    const cursors = new UploadCursors(writers.uploads);
    const summaries = parts.map(startingSummary);
    const written: number[] = [];
    for (const [i, part] of parts.entries())
      if (!part.upload || (await cursors.admit(part.upload))) written.push(i);
    // a write queue task carries one kind of rows; orders, request bodies' and uploads' alike, go together
    if (written.length === 0) return summaries;
    if (parts.every((p) => p.kind === 'orders'))
      await writeOrderParts(
        writers.orders,
        obs,
        written.map((i) => parts[i]!),
        written.map((i) => summaries[i]!),
      );
    else for (const i of written) await applyPart(writers, parts[i]!, summaries[i]!);
    // upload cursors last, in the parts' order (see UploadCursors)
    for (const i of written) {
      const { upload } = parts[i]!;
      if (upload) await cursors.move(upload, summaries[i]!);
    }
    return summaries;
  });
}

export async function writePartsOnPostgres(
  obs: ObservationBuffer,
  pool: pg.Pool,
  input: WritePartsInput,
): Promise<WritePartsResult> {
  const { tenantId, parts } = input;
  const outcomes: PartOutcome[] = new Array(parts.length);
  let client = await pool.connect();
  /** set when the replacement connection was lost too: it is not given back to the pool */
  let broken: Error | undefined;
  let transactions = 0;
  let largest = 0;
  try {
    let writers = pgWriters(client, tenantId);
    /**
     * A connection lost under a transaction is replaced and the transaction run again (a rerun inserts no
     * duplicate): as many times as the pool holds connections, since each idle one may have been dropped
     * with it (a restart drops them all), and the one after those is new.
     */
    const onFreshConnection = async <T>(run: () => Promise<T>): Promise<T> => {
      for (let replaced = 0; ; replaced++) {
        try {
          return await run();
        } catch (error) {
          if (!lostConnection(error)) throw error;
          if (replaced >= (pool.options.max ?? 1)) {
            broken = error as Error;
            throw error;
          }
          client.release(error as Error);
          client = await pool.connect();
          writers = pgWriters(client, tenantId);
        }
      }
    };
    let next = 0;
    while (next < parts.length) {
      // the parts of one transaction: up to commitRows rows
      const group: WritePart[] = [];
      let rows = 0;
      do {
        group.push(parts[next + group.length]!);
        rows += group.at(-1)!.rowCount;
      } while (next + group.length < parts.length && rows < input.commitRows);
      const started = performance.now();
      try {
        const summaries = await onFreshConnection(() => inOneTransaction(client, writers, obs, group));
        summaries.forEach((summary, i) => {
          outcomes[next + i] = { ok: true, summary };
        });
        transactions++;
        largest = Math.max(largest, rows);
        obs.record('ingest_transaction_rows', {}, rows);
      } catch {
        // a rollback takes the session's staging tables with it when its transaction created them: the
        // writers create them again (IF NOT EXISTS) rather than trust that they exist
        writers = pgWriters(client, tenantId);
        for (let i = 0; i < group.length; i++) {
          try {
            const [summary] = await onFreshConnection(() =>
              inOneTransaction(client, writers, obs, [group[i]!]),
            );
            outcomes[next + i] = { ok: true, summary: summary! };
          } catch (error) {
            outcomes[next + i] = { ok: false, error: serializeError(error) };
            writers = pgWriters(client, tenantId);
          }
          transactions++;
        }
      }
      obs.record(
        'db_query_duration_seconds',
        { query: `insert_${group[0]!.kind}_batch` },
        (performance.now() - started) / 1000,
      );
      next += group.length;
    }
  } finally {
    client.release(broken);
  }
  for (let i = 0; i < parts.length; i++) {
    const o = outcomes[i]!;
    if (o.ok) obs.record('ingest_rows_total', { table: parts[i]!.kind }, o.summary.inserted);
  }
  return { outcomes, transactions, largest };
}
