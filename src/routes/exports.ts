import { statSync } from 'node:fs';
import type { Context } from 'hono';
import * as v from 'valibot';
import { EXPORT_JOB_KEYSET, encodeCursor } from '../domain/cursor.js';
import {
  EXPORT_ID,
  ExportRequest,
  ExportRequestError,
  type ExportSpec,
  exportContentType,
  exportFileName,
  toExportSpec,
} from '../domain/export.js';
import { cursorPosition } from '../http/cursor-param.js';
import { acceptsGzip, directFormat, ExportStatusDoc, exportStatus } from '../http/export-status.js';
import { directExportStream } from '../http/export-stream.js';
import { diskFileReader, type ServedFile, serveFileRange } from '../http/file-range.js';
import { requireFreeDisk } from '../http/free-disk.js';
import { Problem } from '../http/problem.js';
import { RouteGroup } from '../http/register.js';
import type { AppEnv } from '../http/types.js';
import { readJsonBody, validate, validateQuery } from '../http/validation.js';
import { STREAM_PROBLEMS } from '../http/worker-stream.js';
import { type ExportRow, exportFilePath } from '../storage/export-store.js';
import { exportFileRange } from '../storage/postgres/export-file.js';
import type { AppDeps } from './deps.js';

const ListQuery = v.object({
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,3}$/), v.transform(Number), v.minValue(1), v.maxValue(100)),
    '20',
  ),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(512))),
});

const LIST_FINGERPRINT = 'exports-list';

export function exportRoutes(deps: AppDeps): RouteGroup {
  const routes = new RouteGroup(deps.openapi, '/api/v1/tenants/:tenant_id/reports');
  const { pool, config, admission, cursorSecret } = deps;

  const lookup = async (c: Context<AppEnv>, exportId: string): Promise<ExportRow> => {
    const row = EXPORT_ID.test(exportId)
      ? await pool.run('getExport', {
          requestId: c.get('requestId'),
          tenantId: c.get('tenantId'),
          exportId,
        })
      : null;
    if (!row) throw new Problem('not_found', `No export ${exportId}.`);
    return row;
  };

  routes.add(
    {
      method: 'post',
      path: '/api/v1/tenants/:tenant_id/reports/export',
      summary: 'Export orders to CSV or Parquet: a checkpointed background job, or streamed as the response',
      description:
        'Without a file Accept type: 202 and a job (poll status_url, then GET download_url). With `Accept: text/csv` or `application/vnd.apache.parquet`: the export itself, chunked, gzip-encoded when Accept-Encoding allows. filters take the search parameters (strings, or arrays/numbers); fields the search fields. compression: csv none|gzip (default none), parquet zstd|snappy|gzip|none (column codec, default zstd).',
      tag: 'exports',
      auth: 'api_key',
      headers: {
        Accept: 'text/csv or application/vnd.apache.parquet streams the export directly',
        'Accept-Encoding': 'gzip: a direct stream is gzip-encoded on the fly',
      },
      body: [{ contentType: 'application/json', schema: ExportRequest }],
      responses: {
        200: { description: 'The export itself (direct mode)', contentType: 'text/csv' },
        202: { description: 'Job accepted', schema: ExportStatusDoc, headers: { Location: 'status_url' } },
        429: { description: 'Overloaded', headers: { 'Retry-After': 'seconds' } },
      },
      errors: [
        'validation_failed',
        'unknown_field',
        'format_conflict',
        'too_many_exports',
        'export_quota_exceeded',
        ...STREAM_PROBLEMS,
      ],
    },
    async (c) => {
      const body = validate(ExportRequest, await readJsonBody(c, 64 * 1024));
      const direct = directFormat(c.req.header('accept'));
      if (direct && body.format && body.format !== direct) {
        throw new Problem('format_conflict', `Accept asks for ${direct} but the body says ${body.format}.`);
      }
      const format = direct ?? body.format;
      if (!format) {
        throw new Problem('validation_failed', 'Say which format: "csv" or "parquet".', {
          errors: [{ field: 'format', code: 'required', message: 'csv or parquet' }],
        });
      }
      let spec: ExportSpec;
      try {
        spec = toExportSpec(body, format);
      } catch (error) {
        if (error instanceof ExportRequestError)
          throw new Problem(error.code, error.message, { errors: error.issues });
        throw error;
      }
      const tenantId = c.get('tenantId');
      if (direct) return streamDirect(c, spec);
      admission.check('work', tenantId);
      // the file goes to the data directory's disk on SQLite; into the database on PostgreSQL
      if (config.storage.kind === 'sqlite') await requireFreeDisk(deps.health);
      const created = await pool.run('createExport', {
        requestId: c.get('requestId'),
        tenantId,
        spec,
        limits: { jobs: config.export.maxJobsPerTenant, bytes: config.export.maxBytesPerTenant },
        bootId: deps.state.bootId,
      });
      if (!created.ok)
        throw created.quota === 'jobs'
          ? new Problem(
              'too_many_exports',
              `At most ${created.use.limit} export jobs queued or running per tenant.`,
              {
                headers: { 'Retry-After': '10' },
                extra: { ...created.use },
              },
            )
          : new Problem(
              'export_quota_exceeded',
              `Finished exports kept use ${created.use.used} bytes, the tenant's limit is ${created.use.limit}; delete or let some expire.`,
              {
                extra: { ...created.use },
              },
            );
      const row = created.value;
      deps.exports.enqueue(tenantId, row.export_id);
      c.get('log').info({ export_id: row.export_id, format, fields: spec.fields.length }, 'export queued');
      const status = exportStatus(tenantId, row);
      return c.json(status, 202, { Location: status.status_url });
    },
  );

  function streamDirect(c: Context<AppEnv>, spec: ExportSpec): Response {
    const gzip = acceptsGzip(c.req.header('accept-encoding'));
    const { body } = directExportStream(c, deps, spec, gzip);
    const headers: Record<string, string> = {
      'content-type': exportContentType(spec.format, 'none'),
      'content-disposition': `attachment; filename="${exportFileName('stream', spec.format, 'none')}"`,
      'cache-control': 'no-store',
      vary: 'Accept, Accept-Encoding',
    };
    if (gzip) headers['content-encoding'] = 'gzip';
    return c.body(body, 200, headers);
  }

  routes.add(
    {
      method: 'get',
      path: '/api/v1/tenants/:tenant_id/reports/exports',
      summary: "The tenant's exports, newest first",
      tag: 'exports',
      auth: 'api_key',
      query: ListQuery,
      responses: { 200: { description: '{"data":[export status],"next_cursor":…|null}' } },
      errors: ['validation_failed', 'invalid_cursor', 'cursor_mismatch'],
    },
    async (c) => {
      const q = validateQuery(c, ListQuery);
      const tenantId = c.get('tenantId');
      const before = cursorPosition(
        cursorSecret,
        q.cursor || undefined,
        tenantId,
        LIST_FINGERPRINT,
        EXPORT_JOB_KEYSET,
      );
      const rows = await pool.run('listExports', {
        requestId: c.get('requestId'),
        tenantId,
        before,
        limit: q.limit + 1,
      });
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      return c.json({
        data: page.map((r) => exportStatus(tenantId, r)),
        next_cursor:
          rows.length > q.limit && last
            ? encodeCursor(cursorSecret, tenantId, LIST_FINGERPRINT, EXPORT_JOB_KEYSET, last.created_at)
            : null,
      });
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/tenants/:tenant_id/reports/exports/:export_id',
      summary: 'Export status and progress (rows_written and bytes_written grow at each checkpoint)',
      tag: 'exports',
      auth: 'api_key',
      responses: { 200: { description: 'The export', schema: ExportStatusDoc } },
      errors: ['not_found'],
    },
    async (c) => c.json(exportStatus(c.get('tenantId'), await lookup(c, c.req.param('export_id')))),
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/tenants/:tenant_id/reports/exports/:export_id/download',
      summary: 'Download a finished export; byte ranges resume an interrupted download',
      description:
        'ETag is the quoted sha256 of the file. One range (bytes=a-b, a-, -n) answers 206; If-Range with a stale ETag answers the whole file; a range past the end answers 416. If-None-Match answers 304.',
      tag: 'exports',
      auth: 'api_key',
      headers: {
        Range: 'bytes=start-end, start- or -suffix',
        'If-Range': 'the ETag the partial copy came from',
        'If-None-Match': 'an ETag',
      },
      responses: {
        200: {
          description: 'The file',
          contentType: 'application/octet-stream',
          headers: { ETag: 'sha256', 'Accept-Ranges': 'bytes', 'Content-Disposition': 'attachment' },
        },
        206: { description: 'One byte range', headers: { 'Content-Range': 'bytes a-b/size' } },
        304: { description: 'Not modified (If-None-Match)' },
        416: { description: 'Range not satisfiable', headers: { 'Content-Range': 'bytes */size' } },
      },
      errors: ['not_found', 'export_not_ready', 'export_failed', 'export_expired', 'range_not_satisfiable'],
    },
    async (c) => {
      const tenantId = c.get('tenantId');
      const row = await lookup(c, c.req.param('export_id'));
      const status = exportStatus(tenantId, row);
      if (status.state === 'expired')
        throw new Problem('export_expired', `Export ${row.export_id} expired at ${status.expires_at}.`);
      if (row.state === 'failed')
        throw new Problem('export_failed', `Export ${row.export_id} failed: ${row.error}`);
      if (row.state !== 'complete' || row.sha256 === null || row.size === null) {
        throw new Problem('export_not_ready', `Export ${row.export_id} is ${row.state}; poll its status.`, {
          extra: { state: row.state, rows_written: row.rows_written },
        });
      }
      const { postgres } = deps;
      let read: ServedFile['read'];
      if (postgres) {
        read = (start, end) => exportFileRange(postgres, tenantId, row.export_id, start, end);
      } else {
        const path = exportFilePath(
          config.server.dataDir,
          tenantId,
          row.export_id,
          row.format,
          row.compression,
        );
        try {
          statSync(path);
        } catch {
          throw new Problem('export_expired', `The file of export ${row.export_id} is gone.`);
        }
        read = diskFileReader(path);
      }
      return serveFileRange(c, {
        read,
        size: row.size,
        etag: `"${row.sha256}"`,
        lastModified: new Date(row.finished_at ?? row.created_at),
        contentType: exportContentType(row.format, row.compression),
        fileName: exportFileName(row.export_id, row.format, row.compression),
      });
    },
  );
  return routes;
}
