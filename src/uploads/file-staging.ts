/**
 * Upload bytes in staging files of the data directory (SQLite): one file per upload, appended by its PATCHes
 * (src/uploads/append-body.ts), tailed by its processor, cut back to the committed offset at start.
 */
import { mkdir, open, rm, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { stagingPath, type UploadRow } from '../storage/upload-store.js';
import { appendBody } from './append-body.js';
import { type ActiveUpload, type StagedReader, UploadEnded, type UploadStaging, woken } from './staging.js';

export class FileStaging implements UploadStaging {
  constructor(private readonly dataDir: string) {}

  private path(tenantId: number, uploadId: string): string {
    return stagingPath(this.dataDir, tenantId, uploadId);
  }

  async create(tenantId: number, uploadId: string): Promise<void> {
    const path = this.path(tenantId, uploadId);
    await mkdir(dirname(path), { recursive: true });
    const file = await open(path, 'w');
    await file.sync();
    await file.close();
  }

  async drop(tenantId: number, uploadId: string): Promise<void> {
    await rm(this.path(tenantId, uploadId), { force: true });
  }

  append: UploadStaging['append'] = async (upload, body, options) => {
    try {
      return await appendBody(body, { path: this.path(upload.tenantId, upload.uploadId), ...options });
    } catch (error) {
      // the staging file was deleted between the PATCH's check of the upload's state and its append: the
      // processing ended (complete or failed) in between
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new UploadEnded(upload.uploadId);
      throw error;
    }
  };

  async open(upload: ActiveUpload): Promise<StagedReader> {
    const file = await open(this.path(upload.tenantId, upload.uploadId), 'r');
    return {
      async read(position, max) {
        // fresh each time: the line chunker keeps views into what it is given
        const buffer = Buffer.allocUnsafe(max);
        const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
        return buffer.subarray(0, bytesRead);
      },
      close: () => file.close(),
    };
  }

  async restore(tenantId: number, row: UploadRow): Promise<void> {
    await truncate(this.path(tenantId, row.upload_id), row.received_offset).catch(() => {});
  }

  waitForMore = woken;
}
