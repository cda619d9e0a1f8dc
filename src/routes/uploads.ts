/**
 * tus uploads: discovery, creation, offset, append, summary, termination. Over ~300 lines because most of it
 * is the OpenAPI description of six operations; the protocol is in src/uploads/, the work in src/jobs/.
 */
import { randomBytes } from 'node:crypto';
import type { Context } from 'hono';
import * as v from 'valibot';
import { BodyTimeout, bodyDeadlines, ServerShuttingDown, withDeadlines } from '../http/body-deadline.js';
import { requireFreeDisk } from '../http/free-disk.js';
import { RouteGroup } from '../http/register.js';
import type { AppEnv } from '../http/types.js';
import type { UploadRow } from '../storage/upload-store.js';
import { UploadOffsetMoved } from '../uploads/postgres-staging.js';
import { type ActiveUpload, UploadEnded } from '../uploads/staging.js';
import {
  byteCountHeader,
  parseUploadMetadata,
  requireTus,
  TUS_EXTENSIONS,
  TUS_VERSION,
  tusHeaders,
  tusProblem,
  UPLOAD_ID,
} from '../uploads/tus.js';
import type { AppDeps } from './deps.js';
import { IngestSummaryDoc, MAX_INLINE_ERRORS } from './ingest.js';

const BASE = '/api/v1/ingest/orders/uploads';

const UploadSummaryDoc = v.object({
  ...IngestSummaryDoc.entries,
  upload_id: v.string(),
  state: v.picklist(['receiving', 'processing', 'complete', 'failed', 'terminated']),
  upload_offset: v.number(),
  upload_length: v.nullable(v.number()),
  error: v.nullable(v.string()),
});

export function uploadRoutes(deps: AppDeps): RouteGroup {
  const routes = new RouteGroup(deps.openapi, BASE);
  const { pool, config, uploads, admission } = deps;
  const maxSize = config.body.maxBytes;
  const patchDeadlines = bodyDeadlines(config.body, 'stream', deps.shutdown);

  const load = async (c: Context<AppEnv>, uploadId: string): Promise<UploadRow> => {
    const row = UPLOAD_ID.test(uploadId)
      ? await pool.run('getUpload', {
          requestId: c.get('requestId'),
          tenantId: c.get('tenantId'),
          uploadId,
        })
      : null;
    if (!row) throw tusProblem('not_found', `No upload ${uploadId}.`);
    if (row.state === 'terminated')
      throw tusProblem(
        'upload_gone',
        `Upload ${uploadId} was ${row.error === 'expired' ? 'expired' : 'terminated'}.`,
      );
    return row;
  };

  const tusDoc = { tag: 'uploads', auth: 'api_key' as const };

  routes.add(
    {
      method: 'options',
      path: BASE,
      summary: 'tus discovery: version, extensions and maximum size (no key needed)',
      tag: 'uploads',
      auth: 'none',
      responses: {
        204: {
          description: 'Capabilities',
          headers: {
            'Tus-Version': TUS_VERSION,
            'Tus-Extension': TUS_EXTENSIONS,
            'Tus-Max-Size': 'bytes',
          },
        },
      },
    },
    (c) =>
      c.body(null, 204, {
        'Tus-Resumable': TUS_VERSION,
        'Tus-Version': TUS_VERSION,
        'Tus-Extension': TUS_EXTENSIONS,
        'Tus-Max-Size': String(maxSize),
      }),
  );

  routes.add(
    {
      method: 'post',
      path: BASE,
      summary: 'tus creation: a resumable upload of an NDJSON (or gzip NDJSON) orders file',
      description:
        'Headers: Tus-Resumable 1.0.0, Upload-Length or Upload-Defer-Length: 1, optional Upload-Metadata (filename, filetype, encoding gzip). Rows are ingested while bytes arrive.',
      ...tusDoc,
      headers: {
        'Tus-Resumable': '1.0.0',
        'Upload-Length': 'total bytes',
        'Upload-Metadata': 'key base64,…',
      },
      responses: {
        201: { description: 'Created', headers: { Location: 'the upload URL', 'Upload-Expires': 'date' } },
      },
      errors: [
        'tus_version_unsupported',
        'invalid_upload_length',
        'invalid_upload_metadata',
        'upload_too_large',
        'too_many_uploads',
        'upload_quota_exceeded',
        'overloaded',
      ],
    },
    async (c) => {
      requireTus(c);
      admission.check('ingest', c.get('tenantId'));
      const lengthHeader = c.req.header('upload-length');
      const deferred = c.req.header('upload-defer-length');
      const length = byteCountHeader(lengthHeader);
      if (
        (lengthHeader === undefined) === (deferred === undefined) ||
        (deferred !== undefined && deferred !== '1')
      )
        throw tusProblem('invalid_upload_length', 'Send Upload-Length (bytes) or Upload-Defer-Length: 1.');
      if (lengthHeader !== undefined && length === null)
        throw tusProblem('invalid_upload_length', 'Upload-Length must be a non-negative integer.');
      if (length !== null && length > maxSize)
        throw tusProblem('upload_too_large', `Uploads are limited to ${maxSize} bytes.`);
      const metadata = parseUploadMetadata(c.req.header('upload-metadata'));
      if (!metadata)
        throw tusProblem(
          'invalid_upload_metadata',
          'Upload-Metadata is "key base64value" pairs, comma-separated.',
        );
      const tenantId = c.get('tenantId');
      // a staging file needs the room on this server's disk (on PostgreSQL the bytes go to the database)
      if (config.storage.kind === 'sqlite') await requireFreeDisk(deps.health, length ?? 0);
      const uploadId = `upl_${randomBytes(12).toString('base64url')}`;
      await uploads.createStaging(tenantId, uploadId);
      const created = await pool.run('createUpload', {
        requestId: c.get('requestId'),
        tenantId,
        uploadId,
        length,
        metadata,
        ttlMs: uploads.ttlMs,
        limits: { uploads: config.upload.maxOpenPerTenant, bytes: config.upload.maxBytesPerTenant },
      });
      if (!created.ok) {
        await uploads.dropStaging(tenantId, uploadId);
        throw created.quota === 'uploads'
          ? tusProblem(
              'too_many_uploads',
              `At most ${created.use.limit} uploads open per tenant; finish or terminate one.`,
              {
                'Retry-After': '10',
              },
            )
          : tusProblem(
              'upload_quota_exceeded',
              `Open uploads declare ${created.use.used} bytes; the tenant's limit is ${created.use.limit}.`,
            );
      }
      const row = created.value;
      uploads.track(row, tenantId);
      c.get('log').info({ upload_id: uploadId, upload_length: length, metadata }, 'upload created');
      return c.body(null, 201, { ...tusHeaders(row, 0), Location: `${BASE}/${uploadId}` });
    },
  );

  // served by the GET route below (Hono answers HEAD through it)
  routes.documented({
    method: 'head',
    path: `${BASE}/:upload_id`,
    summary: 'tus offset: the durable Upload-Offset to resume from',
    ...tusDoc,
    responses: {
      200: { description: 'Upload-Offset, Upload-Length', headers: { 'Upload-Offset': 'bytes' } },
    },
    errors: ['tus_version_unsupported', 'not_found', 'upload_gone'],
  });

  routes.add(
    {
      method: 'get',
      path: `${BASE}/:upload_id`,
      summary: "The upload's ingest summary (as the single-request endpoint) plus its state",
      description:
        'state: receiving | processing | complete | failed | terminated. errors: the first 1000, all kept.',
      ...tusDoc,
      responses: { 200: { description: 'Summary', schema: UploadSummaryDoc } },
      // HEAD, served here, requires Tus-Resumable
      errors: ['tus_version_unsupported', 'not_found', 'upload_gone'],
    },
    async (c) => {
      if (c.req.method === 'HEAD') {
        requireTus(c);
        const row = await load(c, c.req.param('upload_id'));
        // this server's PATCH may be ahead of the row (its offset committed in the background)
        const received = Math.max(uploads.get(row.upload_id)?.received ?? 0, row.received_offset);
        return c.body(null, 200, tusHeaders(row, received));
      }
      const row = await load(c, c.req.param('upload_id'));
      const errors = await pool.run('uploadErrors', {
        requestId: c.get('requestId'),
        tenantId: c.get('tenantId'),
        uploadId: row.upload_id,
        limit: MAX_INLINE_ERRORS,
      });
      return c.json({
        upload_id: row.upload_id,
        state: row.state,
        upload_offset: row.received_offset,
        upload_length: row.upload_length,
        idempotency_key: null,
        rows_received: row.rows_received,
        rows_inserted: row.rows_inserted,
        rows_duplicate: row.rows_duplicate,
        rows_failed: row.rows_failed,
        processing_time_ms: row.updated_at - row.created_at,
        errors,
        errors_truncated: row.rows_failed > errors.length,
        error: row.error,
      });
    },
  );

  routes.add(
    {
      method: 'patch',
      path: `${BASE}/:upload_id`,
      summary: 'tus append: bytes at Upload-Offset; answers the new durable offset',
      ...tusDoc,
      headers: {
        'Upload-Offset': 'must equal the current offset',
        'Content-Type': 'application/offset+octet-stream',
      },
      body: [{ contentType: 'application/offset+octet-stream' }],
      responses: { 204: { description: 'Appended', headers: { 'Upload-Offset': 'the new durable offset' } } },
      errors: [
        'tus_version_unsupported',
        'unsupported_media_type',
        'invalid_upload_offset',
        'offset_mismatch',
        'upload_locked',
        'upload_ended',
        'exceeds_upload_length',
        'upload_gone',
        'body_timeout',
        'overloaded',
      ],
    },
    async (c) => {
      requireTus(c);
      if ((c.req.header('content-type') ?? '').split(';')[0]!.trim() !== 'application/offset+octet-stream')
        throw tusProblem('unsupported_media_type', 'PATCH bodies are application/offset+octet-stream.');
      const offset = byteCountHeader(c.req.header('upload-offset'));
      if (offset === null)
        throw tusProblem('invalid_upload_offset', 'Upload-Offset must be a non-negative integer.');
      admission.check('ingest', c.get('tenantId'));
      const row = await load(c, c.req.param('upload_id'));
      // its processing is over and its staged bytes are gone: its summary (GET) says how it ended
      if (row.state === 'complete' || row.state === 'failed')
        throw tusProblem('upload_ended', `Upload ${row.upload_id} is ${row.state}; GET it for its summary.`, {
          'Upload-Offset': String(row.received_offset),
        });
      const tenantId = c.get('tenantId');
      const upload = uploads.track(row, tenantId);
      if (upload.writing) throw tusProblem('upload_locked', 'Another PATCH is writing to this upload.');
      if (offset !== upload.received)
        throw tusProblem('offset_mismatch', `The upload is at offset ${upload.received}.`, {
          'Upload-Offset': String(upload.received),
        });
      let length = upload.length;
      const newLength = byteCountHeader(c.req.header('upload-length'));
      if (length === null && newLength !== null) {
        if (newLength < offset || newLength > maxSize)
          throw tusProblem('invalid_upload_length', 'Upload-Length is below the offset or above the limit.');
        length = newLength;
      }
      upload.writing = true;
      try {
        const received = await append(c, upload, offset, length);
        const saved = await uploads.commitOffset(upload, received.offset, length);
        deps.metrics.uploadBytes.inc(received.offset - offset);
        if (received.moved)
          // on PostgreSQL, another request (here or on another server) wrote to the upload or ended it
          throw tusProblem('upload_locked', received.moved.message, {
            'Upload-Offset': String(saved.received_offset),
          });
        if (received.stoppedBy)
          // a stalled body (408) or shutdown (503): what arrived is durable; the offset says how far
          throw received.stoppedBy.with({
            headers: { ...tusHeaders(saved, saved.received_offset), connection: 'close' },
          });
        if (received.overflow)
          throw tusProblem(
            'exceeds_upload_length',
            `The upload is ${length} bytes long; bytes past it were dropped.`,
          );
        return c.body(null, 204, tusHeaders(saved, saved.received_offset));
      } finally {
        upload.writing = false;
      }
    },
  );

  /** Appends the request body at `offset`; an early stop is logged and reported. */
  async function append(c: Context<AppEnv>, upload: ActiveUpload, offset: number, length: number | null) {
    const appended = await uploads
      .append(upload, withDeadlines(c.env.incoming as AsyncIterable<Buffer>, patchDeadlines), offset, length)
      .catch((error: unknown) => {
        // its processing ended between the state check above and the append
        if (error instanceof UploadEnded) throw tusProblem('upload_ended', error.message);
        throw error;
      });
    const { error } = appended;
    if (error !== null)
      // the client went away (or stalled) mid-body: what arrived is kept and reported by HEAD
      c.get('log').info(
        { upload_id: upload.uploadId, offset: appended.offset, err: (error as Error).message },
        'upload PATCH interrupted',
      );
    const stoppedBy = error instanceof BodyTimeout || error instanceof ServerShuttingDown ? error : null;
    const moved = error instanceof UploadOffsetMoved ? error : null;
    return { offset: appended.offset, overflow: appended.overflow, stoppedBy, moved };
  }

  routes.add(
    {
      method: 'delete',
      path: `${BASE}/:upload_id`,
      summary: 'tus termination: stop the upload and delete its staging file (rows already ingested stay)',
      ...tusDoc,
      responses: { 204: { description: 'Terminated' } },
      errors: ['tus_version_unsupported', 'not_found', 'upload_gone'],
    },
    async (c) => {
      requireTus(c);
      const row = await load(c, c.req.param('upload_id'));
      const tenantId = c.get('tenantId');
      const upload = uploads.track(row, tenantId);
      await uploads.terminate(upload);
      c.get('log').info({ upload_id: row.upload_id }, 'upload terminated');
      return c.body(null, 204, { 'Tus-Resumable': TUS_VERSION });
    },
  );
  return routes;
}
