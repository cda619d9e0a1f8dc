import type { Context } from 'hono';
import * as v from 'valibot';
import type { ChunkSummary, IngestKind } from '../domain/ingest-kinds.js';
import { LineTooLong } from '../domain/line-chunker.js';
import { OrderSchema, ProductSchema } from '../domain/order-schema.js';
import { bodyDeadlines } from '../http/body-deadline.js';
import {
  checkIdempotencyKey,
  fingerprinter,
  IdempotencyClaim,
  inFlightProblem,
  keyReusedProblem,
} from '../http/idempotency.js';
import { Problem } from '../http/problem.js';
import type { ProblemCode } from '../http/problem-catalog.js';
import { RouteGroup } from '../http/register.js';
import { storageProblem } from '../http/storage-problem.js';
import type { AppEnv } from '../http/types.js';
import { decodeIngestBody, decodeLimits, INGEST_BODY_PROBLEMS } from '../ingest/body-decoder.js';
import { inlineRunner, poolRunner } from '../ingest/chunk-runners.js';
import { dispatchIngest, IngestAborted, RowLimitExceeded } from '../ingest/ingest-dispatch.js';
import { poolUnzipper } from '../ingest/unzipper.js';
import type { AppDeps } from './deps.js';

export const MAX_INLINE_ERRORS = 1000;

const RowErrorDoc = v.object({
  line: v.number(),
  order_id: v.optional(v.string()),
  code: v.string(),
  field: v.optional(v.string()),
  message: v.string(),
});
export const IngestSummaryDoc = v.object({
  idempotency_key: v.nullable(v.string()),
  rows_received: v.number(),
  rows_inserted: v.number(),
  rows_duplicate: v.number(),
  rows_failed: v.number(),
  processing_time_ms: v.number(),
  errors: v.array(RowErrorDoc),
  errors_truncated: v.boolean(),
});
export type IngestSummary = v.InferOutput<typeof IngestSummaryDoc>;

export function summaryBody(key: string | undefined, s: ChunkSummary, ms: number): IngestSummary {
  return {
    idempotency_key: key ?? null,
    rows_received: s.received,
    rows_inserted: s.inserted,
    rows_duplicate: s.duplicate,
    rows_failed: s.failed,
    processing_time_ms: Math.round(ms),
    errors: s.errors,
    errors_truncated: s.failed > s.errors.length,
  };
}

/** Maps a body that failed mid-stream to its problem, carrying the counts committed before the failure. */
export function abortedProblem(error: IngestAborted, key: string | undefined, ms: number): Problem {
  const counts = summaryBody(key, error.summary, ms);
  const cause = error.cause;
  if (cause instanceof Problem) return cause.with({ extra: counts });
  if (cause instanceof LineTooLong) return new Problem('line_too_long', cause.message, { extra: counts });
  if (cause instanceof RowLimitExceeded)
    return new Problem('too_many_rows', cause.message, { extra: counts });
  const storage = storageProblem(cause, counts);
  if (storage) return storage;
  if (cause.message.includes('aborted') || (cause as NodeJS.ErrnoException).code === 'ECONNRESET') {
    return new Problem('body_incomplete', 'The request body ended early (client aborted).', {
      extra: counts,
    });
  }
  return new Problem('ingest_failed', `Ingest stopped: ${cause.message}`, { extra: counts });
}

export function ingestRoutes(deps: AppDeps): RouteGroup {
  const routes = new RouteGroup(deps.openapi, '/api/v1/ingest');
  const { config, pool, admission, metrics } = deps;
  const runChunk =
    config.ingest.mode === 'inline'
      ? inlineRunner(config.server.dataDir, pool.writeLock, metrics)
      : poolRunner(pool, deps.writes);

  const handle = (kind: IngestKind) => async (c: Context<AppEnv>) => {
    const tenantId = c.get('tenantId');
    admission.check('ingest', tenantId);
    const requestId = c.get('requestId');
    const key = checkIdempotencyKey(c.req.header('idempotency-key'));
    const req = c.env.incoming;
    const fingerprint = fingerprinter([
      kind,
      req.headers['content-type'] ?? '',
      req.headers['content-encoding'] ?? '',
    ]);
    const claim = key
      ? new IdempotencyClaim(
          pool,
          { requestId, tenantId },
          `ingest_${kind}`,
          key,
          deps.state.bootId,
          config.ingest.idempotencyTtlHours * 3_600_000,
        )
      : null;

    if (claim) {
      const begun = await claim.begin();
      if (begun.state === 'in_flight') throw inFlightProblem();
      if (begun.state === 'completed') {
        // Same key again: hash the body (nothing is inserted) and replay or refuse.
        for await (const b of req) {
          fingerprint.update(b);
        }
        if (fingerprint.digest() !== begun.fingerprint) throw keyReusedProblem();
        c.get('log').info({ idempotency_key: key, tenant_id: tenantId }, 'idempotent replay');
        return c.body(begun.body, begun.status as 200, {
          'content-type': 'application/json',
          'Idempotent-Replayed': 'true',
        });
      }
    }

    const started = performance.now();
    let summary: ChunkSummary;
    try {
      // the body is hashed only when a key asks for it (a retry is compared by its fingerprint)
      const body = decodeIngestBody(
        req,
        decodeLimits(config.body),
        poolUnzipper(pool, { requestId, tenantId }),
        bodyDeadlines(config.body, 'stream', deps.shutdown),
        claim ? (b) => fingerprint.update(b) : undefined,
      );
      try {
        summary = await dispatchIngest(runChunk, body.bytes, {
          kind,
          tenantId,
          requestId,
          chunkBytes: config.ingest.chunkBytes,
          maxLineBytes: config.body.maxLineBytes,
          batchRows: config.ingest.batchRows,
          maxInFlight: config.ingest.inFlight,
          maxErrors: MAX_INLINE_ERRORS,
          maxRows: config.ingest.maxRowsPerRequest,
          budget: admission.ingestBudget,
        });
      } finally {
        metrics.ingestBytes.inc(body.counter.out);
      }
    } catch (error) {
      await claim?.release();
      if (error instanceof IngestAborted) {
        const problem = abortedProblem(error, key, performance.now() - started);
        const fields = { code: problem.code, ...problem.init.extra, errors: undefined };
        if (problem.status >= 500) {
          c.get('log').error({ ...fields, err: error.cause }, 'ingest failed');
          deps.faults.observe(error.cause, tenantId);
        } else c.get('log').warn(fields, 'ingest aborted');
        throw problem;
      }
      throw error;
    }
    const result = summaryBody(key, summary, performance.now() - started);
    const text = JSON.stringify(result);
    if (claim) await claim.complete(fingerprint.digest(), 200, text);
    c.get('log').info(
      {
        kind,
        rows_received: result.rows_received,
        rows_inserted: result.rows_inserted,
        rows_duplicate: result.rows_duplicate,
        rows_failed: result.rows_failed,
        processing_time_ms: result.processing_time_ms,
      },
      'ingest finished',
    );
    return c.body(text, 200, { 'content-type': 'application/json' });
  };

  const common = {
    tag: 'ingest',
    auth: 'api_key' as const,
    headers: {
      'Idempotency-Key':
        'Makes retries safe: the same key and body replays the stored summary (Idempotent-Replayed: true)',
      'Content-Encoding': 'gzip (optional)',
    },
    responses: {
      200: { description: 'Summary: counts and per-row errors (first 1000)', schema: IngestSummaryDoc },
      409: { description: 'The same key is still in flight', headers: { 'Retry-After': 'seconds' } },
      422: { description: 'The key was used with another body' },
      429: { description: 'Overloaded', headers: { 'Retry-After': 'seconds' } },
    },
    errors: [
      ...INGEST_BODY_PROBLEMS,
      'line_too_long',
      'too_many_rows',
      'ingest_failed',
      'invalid_idempotency_key',
      'idempotency_in_flight',
      'idempotency_key_reused',
      'overloaded',
    ] satisfies ProblemCode[],
  };
  const bodies = (schema: v.GenericSchema) => [
    { contentType: 'application/x-ndjson', schema, description: 'one JSON object per line' },
    { contentType: 'application/octet-stream' },
    { contentType: 'multipart/form-data' },
  ];
  routes.add(
    {
      method: 'post',
      path: '/api/v1/ingest/orders/',
      summary: 'Bulk-ingest orders (NDJSON, gzip, zip or multipart), streamed, with partial success',
      description: 'Row codes: invalid_json, missing_field, invalid_field, tenant_mismatch, unknown_product.',
      body: bodies(OrderSchema),
      ...common,
    },
    handle('orders'),
  );
  routes.add(
    {
      method: 'post',
      path: '/api/v1/ingest/products/',
      summary: 'Bulk-ingest products (same bodies as orders); an existing product_id is a duplicate',
      body: bodies(ProductSchema),
      ...common,
    },
    handle('products'),
  );
  return routes;
}
