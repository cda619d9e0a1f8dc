import { type ChunkSummary, emptySummary, type IngestKind } from '../domain/ingest-kinds.js';
import { NamedError } from '../domain/named-error.js';
import type { TaskBase } from '../pool/protocol.js';
import { type SerializedError, serializeError } from '../pool/task-error.js';
import type { Db } from '../storage/sqlite.js';
import { UploadStore } from '../storage/upload-store.js';
import { type ChunkContext, failureRecorder, rowWriters, writeRows } from './ingest-chunk.js';
import { decodeBatch } from './row-transfer.js';

/** An upload chunk's cursor, committed with its rows (see workers/uploads.ts). */
export interface UploadAdvance {
  uploadId: string;
  /** What parsing the chunk found: rows received, failed, and every row error. */
  parsed: ChunkSummary;
  firstLine: number;
  lines: number;
  /** Decompressed-stream offsets of the chunk's first byte and just after its last one. */
  startOffset: number;
  endOffset: number;
}

/** One parsed chunk waiting for its shard's writer: the valid rows, encoded (src/ingest/row-transfer.ts). */
export interface WritePart {
  requestId: string;
  kind: IngestKind;
  rows: Uint8Array;
  /** valid rows in `rows`: what the write queue sizes transactions by */
  rowCount: number;
  maxErrors: number;
  upload?: UploadAdvance;
  /** arrival sequence (src/storage/write-seq.ts), given by the write queue: later lines win over earlier ones */
  seq: number;
}

export type PartOutcome = { ok: true; summary: ChunkSummary } | { ok: false; error: SerializedError };

export interface WritePartsInput extends TaskBase {
  parts: WritePart[];
  /** A transaction takes further parts until it holds this many rows (or another writer waits). */
  commitRows: number;
}

export interface WritePartsResult {
  outcomes: PartOutcome[];
  /** transactions committed, and the rows in the largest one */
  transactions: number;
  largest: number;
}

/**
 * The writer lane's job: several chunks (of one request or of several) written in as few transactions as
 * possible. A transaction takes parts in order until it holds `commitRows` rows or another writer of the
 * shard is waiting for the lock, then commits; each part's outcome is known only after its commit, which is
 * when its request may be answered. Big transactions are the point: every index page a transaction dirties
 * is written to the WAL once per commit, so 25 chunks in one commit write each page once instead of 25 times
 * (perf/raw-insert's breakdown). When a transaction fails, its parts are written again one per transaction,
 * so one bad part fails only its own request.
 */
export function writeParts(ctx: ChunkContext, input: WritePartsInput): WritePartsResult {
  const { tenantId, parts } = input;
  const outcomes: PartOutcome[] = new Array(parts.length);
  const db = ctx.shards.db(tenantId);
  let transactions = 0;
  let largest = 0;
  let next = 0;
  while (next < parts.length) {
    const from = next;
    let rows = 0;
    const kind = parts[from]!.kind;
    try {
      ctx.lock.withLock(tenantId, () =>
        ctx.obs.timeQuery(`insert_${kind}_batch`, () =>
          db
            .transaction(() => {
              do {
                outcomes[next] = { ok: true, summary: applyPart(ctx, tenantId, parts[next]!) };
                rows += parts[next]!.rowCount;
                next++;
              } while (next < parts.length && rows < input.commitRows && !ctx.lock.contended(tenantId));
            })
            .immediate(),
        ),
      );
      transactions++;
      largest = Math.max(largest, rows);
      ctx.obs.record('ingest_transaction_rows', {}, rows);
    } catch {
      rowWriters(ctx, tenantId).rolledBack();
      // one part per transaction: a part that fails again fails alone
      const failedAt = next;
      for (let i = from; i <= Math.min(failedAt, parts.length - 1); i++) {
        outcomes[i] = writeAlone(ctx, db, tenantId, parts[i]!);
        transactions++;
      }
      next = failedAt + 1;
    }
  }
  for (let i = 0; i < parts.length; i++) {
    const o = outcomes[i]!;
    if (o.ok) ctx.obs.record('ingest_rows_total', { table: parts[i]!.kind }, o.summary.inserted);
  }
  return { outcomes, transactions, largest };
}

function writeAlone(ctx: ChunkContext, db: Db, tenantId: number, part: WritePart) {
  try {
    const summary = ctx.lock.withLock(tenantId, () =>
      db.transaction(() => applyPart(ctx, tenantId, part)).immediate(),
    );
    return { ok: true, summary } as const;
  } catch (error) {
    rowWriters(ctx, tenantId).rolledBack();
    return { ok: false, error: serializeError(error) } as const;
  }
}

/**
 * Writes one part inside the open transaction: its rows, and for an upload its errors and cursor. Rows are
 * decoded here, one part at a time, so a big transaction holds one part's rows in the heap, not all of them.
 */
function applyPart(ctx: ChunkContext, tenantId: number, part: WritePart): ChunkSummary {
  const rows = decodeBatch(part.kind, part.rows);
  const upload = part.upload;
  const summary = upload ? { ...upload.parsed, errors: [...upload.parsed.errors] } : emptySummary();
  const fail = failureRecorder(ctx, summary, part.maxErrors);
  if (!upload) {
    writeRows(ctx, tenantId, rows, summary, fail);
    return summary;
  }
  const uploads = ctx.shards.cached(tenantId, 'UploadStore', (d) => new UploadStore(d));
  const row = uploads.get(upload.uploadId);
  if (!row || row.state === 'terminated') return summary; // terminated meanwhile: nothing more is written
  // The chunk before this one must have committed: a chunk written after a failed one would move the cursor
  // past rows that were never written.
  if (row.processed_offset !== upload.startOffset)
    throw new UploadCursorGap(upload.uploadId, row.processed_offset, upload.startOffset);
  writeRows(ctx, tenantId, rows, summary, fail);
  uploads.advance(
    upload.uploadId,
    { processedOffset: upload.endOffset, linesSeen: upload.firstLine - 1 + upload.lines },
    summary,
    Date.now(),
  );
  return summary;
}

/** An upload chunk arrived at the writer while the chunk before it had not committed (it failed). */
export class UploadCursorGap extends NamedError {
  readonly code = 'upload_cursor_gap';

  constructor(uploadId: string, committed: number, start: number) {
    super(`upload ${uploadId}: the cursor is at ${committed}, the chunk starts at ${start}`);
  }
}
