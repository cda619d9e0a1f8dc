/** An export job as the API shows it (status, list and creation answers), and its OpenAPI schema. */
import * as v from 'valibot';
import { EXPORT_FORMATS, EXPORT_MEDIA_TYPES, type ExportFormat, type ExportSpec } from '../domain/export.js';
import type { ExportRow } from '../storage/export-store.js';
import { accepted } from './accept.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export const ExportStatusDoc = v.object({
  export_id: v.string(),
  state: v.picklist(['queued', 'running', 'complete', 'failed', 'expired']),
  format: v.picklist(EXPORT_FORMATS),
  compression: v.string(),
  fields: v.array(v.string()),
  filters: v.record(v.string(), v.unknown()),
  rows_written: v.number(),
  bytes_written: v.number(),
  size: v.nullable(v.number()),
  sha256: v.nullable(v.string()),
  error: v.nullable(v.string()),
  attempts: v.number(),
  resumed_from_rows: v.nullable(v.number()),
  created_at: v.string(),
  finished_at: v.nullable(v.string()),
  expires_at: v.nullable(v.string()),
  status_url: v.string(),
  download_url: v.string(),
});

const exportsPath = (tenantId: number) => `/api/v1/tenants/${tenantId}/reports/exports`;

/** The job's state as a client sees it: a complete file past its expiry is already "expired". */
export function exportStatus(tenantId: number, row: ExportRow, now = Date.now()) {
  const spec = JSON.parse(row.request) as ExportSpec;
  const expired = row.state === 'expired' || (row.state === 'complete' && (row.expires_at ?? 0) <= now);
  return {
    export_id: row.export_id,
    state: expired ? 'expired' : row.state,
    format: row.format,
    compression: row.compression,
    fields: spec.fields,
    filters: spec.requested_filters,
    rows_written: row.rows_written,
    bytes_written: row.bytes_written,
    size: row.size,
    sha256: row.sha256,
    error: row.error,
    attempts: row.attempts,
    resumed_from_rows: row.attempts > 1 ? row.resumed_from_rows : null,
    created_at: iso(row.created_at)!,
    finished_at: iso(row.finished_at),
    expires_at: iso(row.expires_at),
    status_url: `${exportsPath(tenantId)}/${row.export_id}`,
    download_url: `${exportsPath(tenantId)}/${row.export_id}/download`,
  };
}

/** Which export format an Accept header asks to receive directly, if any (first listed wins). */
export function directFormat(accept: string | undefined): ExportFormat | null {
  for (const type of accepted(accept))
    for (const format of EXPORT_FORMATS) if (type === EXPORT_MEDIA_TYPES[format]) return format;
  return null;
}

export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  return accepted(acceptEncoding).some((coding) => coding === 'gzip' || coding === 'x-gzip');
}
