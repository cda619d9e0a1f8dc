/**
 * Where a tus upload's bytes wait between their PATCH and their processing: a file in the data directory on
 * SQLite (src/uploads/file-staging.ts), rows of `upload_bytes` on PostgreSQL, where any server behind a
 * load balancer may take the next PATCH (src/uploads/postgres-staging.ts). The protocol (src/routes/uploads.ts)
 * and the processing (src/jobs/upload-processor.ts) are the same on both.
 */
import { NamedError } from '../domain/named-error.js';
import type { UploadRow } from '../storage/upload-store.js';
import type { Appended } from './append-body.js';

/** What the main thread keeps about an upload that is receiving or processing. */
export interface ActiveUpload {
  tenantId: number;
  uploadId: string;
  /** Durable bytes staged (what HEAD reports). */
  received: number;
  length: number | null;
  metadata: Record<string, string>;
  /** A PATCH is writing: a second one at the same time is refused. */
  writing: boolean;
  stopped: boolean;
  /** Wakes the processor when bytes arrive or the upload ends. */
  wake: () => void;
  processing: Promise<void> | null;
}

export interface StagedAppend {
  /** Where the bytes go: the upload's durable offset. */
  offset: number;
  /** Bytes past this total are dropped (overflow); null: no declared length yet. */
  length: number | null;
  /** Commit at least this often (bytes). */
  durableEvery: number;
  /** Records the durable offset (the upload row), and lets the processor read up to it. */
  commit: (offset: number) => Promise<void>;
}

/** Reads an upload's staged bytes. */
export interface StagedReader {
  /** `max` bytes from `position`, all durable (the caller asks within `received`); fewer if gone. */
  read(position: number, max: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface UploadStaging {
  /** Makes room for a new upload's bytes (before its row exists). */
  create(tenantId: number, uploadId: string): Promise<void>;
  /** Removes what `create` made, for an upload that was then refused. */
  drop(tenantId: number, uploadId: string): Promise<void>;
  /** Appends a PATCH body at `options.offset`; what arrived before an early stop is kept and committed. */
  append(upload: ActiveUpload, body: AsyncIterable<Buffer>, options: StagedAppend): Promise<Appended>;
  open(upload: ActiveUpload): Promise<StagedReader>;
  /** At start, before any request: staged bytes past the durable offset (a write cut by a crash) go. */
  restore(tenantId: number, row: UploadRow): Promise<void>;
  /**
   * Waits until the processor may find more: woken by this server's PATCH, or (where other servers take
   * PATCHes) after a short poll, `upload` brought up to date with what they committed.
   */
  waitForMore(upload: ActiveUpload): Promise<void>;
}

/** The upload ended (its processing completed or failed) while a PATCH was about to append: its bytes are gone. */
export class UploadEnded extends NamedError {
  readonly code = 'upload_ended';

  constructor(uploadId: string) {
    super(`Upload ${uploadId} ended while this PATCH began; GET it for its summary.`);
  }
}

/** Waits for this server's own wake-up call (a PATCH's commit, a termination, the expiry sweep). */
export function woken(upload: ActiveUpload): Promise<void> {
  return new Promise<void>((resolve) => {
    upload.wake = resolve;
  });
}
