/**
 * Upload bytes in PostgreSQL (issue 17): a PATCH body goes in as pieces of up to PIECE_BYTES, each inserted
 * by the statement that moves the upload's `received_offset` past it, so the offset HEAD reports (on any
 * server) and the bytes it covers are committed together, and two PATCHes at one offset, on one server or
 * two, cannot both land: the second finds the offset moved and stops. The processor, on whichever server
 * claimed the upload, reads the pieces back and polls for what other servers received.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { NamedError } from '../domain/named-error.js';
import { PIECE_BYTES, type StoredPiece, slicePieces } from '../storage/postgres/byte-pieces.js';
import type { Appended } from './append-body.js';
import {
  type ActiveUpload,
  type StagedAppend,
  type StagedReader,
  type UploadStaging,
  woken,
} from './staging.js';

/** How often an idle processor asks for bytes other servers may have received. */
const POLL_MS = 250;

/** Another request moved the upload's offset (or ended the upload) while this PATCH was writing. */
export class UploadOffsetMoved extends NamedError {
  readonly code = 'upload_locked';

  constructor(uploadId: string, offset: number) {
    super(`upload ${uploadId} is no longer at offset ${offset}: another request wrote to it or ended it`);
  }
}

export class PostgresStaging implements UploadStaging {
  constructor(private readonly pool: pg.Pool) {}

  /** Nothing to make: the pieces arrive with the upload's row in place. */
  async create(): Promise<void> {}

  async drop(): Promise<void> {}

  async append(upload: ActiveUpload, body: AsyncIterable<Buffer>, options: StagedAppend): Promise<Appended> {
    let position = options.offset;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let sinceCommit = 0;
    let overflow = false;
    let error: unknown = null;
    const flush = async () => {
      if (pendingBytes === 0) return;
      const piece = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      await this.insertPiece(upload, position, piece);
      position += piece.length;
      // durable now, on every server: this server's processor may read it at once
      upload.received = Math.max(upload.received, position);
      upload.wake();
      sinceCommit += piece.length;
      if (sinceCommit >= options.durableEvery) {
        sinceCommit = 0;
        await options.commit(position);
      }
    };
    try {
      for await (const chunk of body) {
        let bytes = chunk;
        const at = position + pendingBytes;
        if (options.length !== null && at + bytes.length > options.length) {
          bytes = bytes.subarray(0, options.length - at);
          overflow = true;
        }
        if (bytes.length) {
          pending.push(bytes);
          pendingBytes += bytes.length;
        }
        if (pendingBytes >= PIECE_BYTES) await flush();
        if (overflow) break;
      }
    } catch (caught) {
      error = caught;
    }
    // what arrived before an early stop is kept, as a staging file keeps it
    try {
      await flush();
    } catch (caught) {
      error ??= caught;
    }
    return { offset: position, overflow, error };
  }

  private async insertPiece(upload: ActiveUpload, start: number, piece: Buffer): Promise<void> {
    const { rowCount } = await this.pool.query(
      `WITH moved AS (
         UPDATE uploads SET received_offset = $5
          WHERE tenant_id = $1 AND upload_id = $2 AND received_offset = $3 AND state = 'receiving'
         RETURNING 1)
       INSERT INTO upload_bytes (tenant_id, upload_id, start_offset, bytes) SELECT $1, $2, $3, $4 FROM moved`,
      [upload.tenantId, upload.uploadId, start, piece, start + piece.length],
    );
    if (rowCount !== 1) throw new UploadOffsetMoved(upload.uploadId, start);
  }

  async open(upload: ActiveUpload): Promise<StagedReader> {
    const { pool } = this;
    return {
      async read(position, max) {
        const end = position + max;
        if (max <= 0) return new Uint8Array(0);
        // the piece holding `position` and those after it, up to `end`
        const { rows } = await pool.query<StoredPiece>(
          `SELECT start_offset::float8 AS start, bytes FROM upload_bytes
            WHERE tenant_id = $1 AND upload_id = $2 AND start_offset < $4
              AND start_offset >= (SELECT coalesce(max(start_offset), 0) FROM upload_bytes
                                    WHERE tenant_id = $1 AND upload_id = $2 AND start_offset <= $3)
            ORDER BY start_offset`,
          [upload.tenantId, upload.uploadId, position, end],
        );
        const { slices } = slicePieces(rows, position, end);
        return slices.length === 1 ? slices[0]! : Buffer.concat(slices);
      },
      async close() {},
    };
  }

  /** Nothing to cut back: a piece and the offset past it commit together. */
  async restore(): Promise<void> {}

  async waitForMore(upload: ActiveUpload): Promise<void> {
    const timer = new AbortController();
    await Promise.race([
      woken(upload),
      sleep(POLL_MS, undefined, { signal: timer.signal, ref: false }),
    ]).catch(() => {});
    timer.abort();
    if (upload.stopped) return;
    const { rows } = await this.pool.query<{ received: number; length: number | null; state: string }>(
      `SELECT received_offset::float8 AS received, upload_length::float8 AS length, state FROM uploads
        WHERE tenant_id = $1 AND upload_id = $2`,
      [upload.tenantId, upload.uploadId],
    );
    const row = rows[0];
    // terminated or expired on another server, or finished there
    if (!row || (row.state !== 'receiving' && row.state !== 'processing')) {
      upload.stopped = true;
      return;
    }
    upload.received = Math.max(upload.received, row.received);
    upload.length ??= row.length;
  }
}
