/** What the ingest page knows about uploads without a browser: fingerprints, metadata, summaries. */

export interface UploadSummary {
  state: 'receiving' | 'processing' | 'complete' | 'failed' | 'terminated';
  upload_offset?: number;
  upload_length?: number | null;
  rows_received: number;
  rows_inserted: number;
  rows_duplicate: number;
  rows_failed: number;
  errors: { line: number; order_id?: string; code: string; field?: string; message?: string }[];
  errors_truncated: boolean;
}

export const FINISHED_STATES: ReadonlySet<UploadSummary['state']> = new Set([
  'complete',
  'failed',
  'terminated',
]);

/**
 * The key tus-js-client stores an upload's URL under, per tenant: the same file chosen again (after a
 * reload, or another day) resumes where it stopped, and never into another tenant's upload.
 */
export function uploadFingerprint(
  tenantId: number,
  file: { name: string; size: number; lastModified: number },
): string {
  return ['orderflow', `t${tenantId}`, file.name, file.size, file.lastModified].join('|');
}

/** Whether a stored upload (tus-js-client's storage key starts `tus::<fingerprint>::`) is this tenant's. */
export function isTenantUpload(tenantId: number, urlStorageKey: string): boolean {
  return urlStorageKey.startsWith(`tus::orderflow|t${tenantId}|`);
}

/** tus Upload-Metadata for a file: its name, and `encoding gzip` for a .gz file. */
export function uploadMetadata(fileName: string): Record<string, string> {
  const gzip = /\.gz$/i.test(fileName);
  return {
    filename: fileName,
    filetype: 'application/x-ndjson',
    ...(gzip ? { encoding: 'gzip' } : {}),
  };
}

/** The path of an upload from the Location tus gave (absolute or not), for the summary request. */
export function uploadPath(url: string): string {
  return new URL(url, 'http://x').pathname;
}
