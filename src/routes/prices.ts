import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Context } from 'hono';
import * as v from 'valibot';
import { decodeCursor, encodeCursor, queryFingerprint } from '../domain/cursor.js';
import { DateOrDateTime } from '../domain/dates.js';
import {
  DEFAULT_POLICY,
  PriceEventBody,
  type PriceEventRecord,
  type PriceEventResult,
  type PriceOutcome,
  ReviewBody,
} from '../domain/price.js';
import { Problem } from '../http/problem.js';
import { type Decision, RateLimiter, rateLimitHeaders } from '../http/rate-limit.js';
import { RouteGroup } from '../http/register.js';
import type { AppEnv } from '../http/types.js';
import { pathId, readJsonBody, validate, validateQuery } from '../http/validation.js';
import { GroupCommitter } from '../pool/group-commit.js';
import type { AppDeps } from './deps.js';

const AnomalyListQuery = v.object({
  since: v.optional(DateOrDateTime),
  until: v.optional(DateOrDateTime),
  status: v.optional(v.picklist(['review', 'reviewed', 'dismissed', 'accepted'])),
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,4}$/), v.transform(Number), v.minValue(1), v.maxValue(1000)),
    '100',
  ),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(512))),
});

const ResultDoc = v.object({
  event_id: v.string(),
  product_id: v.number(),
  previous_price_cents: v.nullable(v.number()),
  price_cents: v.number(),
  change_pct: v.nullable(v.number()),
  anomaly: v.boolean(),
  status: v.string(),
});

const SSE_BACKLOG_PAGE = 500;
const SSE_MAX_QUEUED = 1000;
const SSE_HEARTBEAT_MS = 15_000;

export function priceRoutes(deps: AppDeps): RouteGroup {
  const routes = new RouteGroup(deps.spec, '/api/v1/tenants/:tenant_id');
  const { pool, config, cursorSecret } = deps;
  const policy = {
    ...DEFAULT_POLICY,
    thresholdPct: config.prices.thresholdPct,
    medianPct: config.prices.thresholdPct * 2,
  };
  const perProduct = new RateLimiter({
    name: 'product',
    perSecond: config.prices.ratePerProduct,
    burst: config.prices.burstPerProduct,
  });
  const perTenant = new RateLimiter({
    name: 'tenant',
    perSecond: config.prices.ratePerTenant,
    burst: config.prices.burstPerTenant,
  });
  /** New anomalies, per tenant, for the SSE streams of this process. */
  const hub = new EventEmitter().setMaxListeners(0);
  const committer = new GroupCommitter<PriceEventRecord, PriceOutcome>(async (tenantId, events) => {
    const outcomes = await pool.run('priceEvents', {
      requestId: 'group-commit',
      tenantId,
      policy,
      events,
    });
    for (const o of outcomes)
      if (o.kind === 'created' && o.result.anomaly) hub.emit(String(tenantId), o.result);
    return outcomes;
  });
  const publish = (r: PriceEventResult) => {
    const { seq: _seq, reasons, observed_at: _o, ...rest } = r;
    return { ...rest, reasons };
  };

  routes.add(
    {
      method: 'post',
      path: '/api/v1/tenants/:tenant_id/products/:product_id/price-event',
      summary: 'Price webhook: idempotent by event_id, rate limited, anomaly detection, group-committed',
      description: `A change of at least ${config.prices.thresholdPct}% against the last accepted price, or ${config.prices.thresholdPct * 2}% from the rolling median of recent prices, is an anomaly with status review. The same event_id again answers the stored result with Idempotent-Replayed: true; with another body, 422.`,
      tag: 'prices',
      auth: 'api_key',
      headers: { 'Idempotency-Key': 'used as event_id when the body has none' },
      body: [{ contentType: 'application/json', schema: PriceEventBody }],
      responses: {
        201: {
          description: 'Recorded (or replayed)',
          schema: ResultDoc,
          headers: { RateLimit: 'remaining quota', 'RateLimit-Policy': 'quota policy' },
        },
        429: {
          description: 'Rate limited',
          headers: {
            'Retry-After': 'seconds',
            RateLimit: 'remaining quota',
            'RateLimit-Policy': 'quota policy',
          },
        },
      },
      errors: [
        'validation_failed',
        'malformed_json',
        'missing_event_id',
        'event_id_reused',
        'not_found',
        'rate_limited',
        'overloaded',
      ],
    },
    async (c) => {
      const tenantId = c.get('tenantId');
      const productId = pathId(c.req.param('product_id'));
      const body = validate(PriceEventBody, await readJsonBody(c, 64 * 1024));
      const eventId = body.event_id ?? c.req.header('idempotency-key');
      if (!eventId || !/^[\x21-\x7e]{1,128}$/.test(eventId)) {
        throw new Problem(
          400,
          'missing_event_id',
          'Give event_id in the body (or an Idempotency-Key header).',
        );
      }
      const decisions: Decision[] = [
        perProduct.take(`${tenantId}:${productId}`),
        perTenant.take(String(tenantId)),
      ];
      const headers = rateLimitHeaders(decisions);
      if (decisions.some((d) => !d.allowed)) {
        deps.metrics.admissionRejected.inc({ reason: 'rate_limited' });
        throw new Problem(429, 'rate_limited', 'Too many price events; slow down.', { headers });
      }
      deps.admission.check('work');
      const fingerprint = createHash('sha256')
        .update(JSON.stringify([productId, body.price_cents, body.observed_at]))
        .digest('base64url');
      const outcome = await committer.submit(tenantId, {
        event_id: eventId,
        product_id: productId,
        price_cents: body.price_cents,
        observed_at: body.observed_at,
        fingerprint,
      });
      if (!('result' in outcome)) {
        throw outcome.kind === 'unknown_product'
          ? new Problem(404, 'not_found', `No product ${productId}.`, { headers })
          : new Problem(422, 'event_id_reused', 'This event_id was already used with another body.', {
              headers,
            });
      }
      if (outcome.result.anomaly && outcome.kind === 'created')
        c.get('log').info(
          { event_id: eventId, product_id: productId, change_pct: outcome.result.change_pct },
          'price anomaly',
        );
      return c.json(publish(outcome.result), 201, {
        ...headers,
        ...(outcome.kind === 'replayed' ? { 'Idempotent-Replayed': 'true' } : {}),
      });
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/tenants/:tenant_id/products/:product_id/price-anomalies',
      summary: "A product's flagged price events, newest first, cursor-paginated",
      tag: 'prices',
      auth: 'api_key',
      query: AnomalyListQuery,
      responses: { 200: { description: '{"data":[event],"next_cursor":…|null}' } },
      errors: ['validation_failed', 'invalid_cursor', 'cursor_mismatch', 'not_found'],
    },
    async (c) => {
      const tenantId = c.get('tenantId');
      const productId = pathId(c.req.param('product_id'));
      const q = validateQuery(c, AnomalyListQuery);
      const fingerprint = queryFingerprint({ productId, since: q.since, until: q.until, status: q.status });
      let afterSeq: number | null = null;
      if (q.cursor) {
        const decoded = decodeCursor(cursorSecret, q.cursor, tenantId, fingerprint);
        if (!decoded.ok) throw new Problem(400, decoded.code, decoded.detail);
        afterSeq = decoded.position.orderPk;
      }
      const rows = await pool.run('listAnomalies', {
        requestId: c.get('requestId'),
        tenantId,
        productId,
        afterSeq,
        since: q.since,
        until: q.until,
        status: q.status,
        limit: q.limit + 1,
      });
      const more = rows.length > q.limit;
      const page = rows.slice(0, q.limit);
      const last = page.at(-1);
      return c.json({
        data: page.map((r) => ({ ...publish(r), observed_at: r.observed_at })),
        next_cursor:
          more && last
            ? encodeCursor(cursorSecret, tenantId, fingerprint, { createdAt: 0, orderPk: last.seq })
            : null,
      });
    },
  );

  routes.add(
    {
      method: 'patch',
      path: '/api/v1/tenants/:tenant_id/price-events/:event_id',
      summary: 'Close the review loop: mark a flagged event reviewed, dismissed or accepted',
      tag: 'prices',
      auth: 'api_key',
      body: [{ contentType: 'application/json', schema: ReviewBody }],
      responses: { 200: { description: 'The event', schema: ResultDoc } },
      errors: ['validation_failed', 'not_found'],
    },
    async (c) => {
      const body = validate(ReviewBody, await readJsonBody(c, 4096));
      const eventId = c.req.param('event_id');
      const row = await pool.run('reviewPriceEvent', {
        requestId: c.get('requestId'),
        tenantId: c.get('tenantId'),
        eventId,
        status: body.status,
      });
      if (!row) throw new Problem(404, 'not_found', `No price event ${eventId}.`);
      return c.json(publish(row));
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/tenants/:tenant_id/price-anomalies/stream',
      summary:
        'Server-Sent Events: new anomalies live; id is the sequence, Last-Event-ID resumes without gaps',
      tag: 'prices',
      auth: 'api_key',
      headers: { 'Last-Event-ID': 'resume after this sequence (also ?last_event_id=)' },
      responses: {
        200: {
          description: 'text/event-stream: event "anomaly", heartbeats as comments',
          contentType: 'text/event-stream',
        },
      },
      errors: ['not_found'],
    },
    (c) => sseStream(c),
  );

  function sseStream(c: Context<AppEnv>): Response {
    const tenantId = c.get('tenantId');
    const raw = c.req.header('last-event-id') ?? c.req.query('last_event_id') ?? '0';
    let lastSent = /^\d{1,15}$/.test(raw) ? Number(raw) : 0;
    const encoder = new TextEncoder();
    const live: PriceEventResult[] = [];
    let closed = false;
    let listener: ((r: PriceEventResult) => void) | null = null;
    let heartbeat: NodeJS.Timeout | null = null;
    const frame = (r: PriceEventResult) =>
      encoder.encode(`id: ${r.seq}\nevent: anomaly\ndata: ${JSON.stringify(publish(r))}\n\n`);
    const cleanup = () => {
      if (closed) return;
      closed = true;
      deps.metrics.sseClients.dec();
      if (listener) hub.off(String(tenantId), listener);
      if (heartbeat) clearInterval(heartbeat);
    };
    const body = new ReadableStream<Uint8Array>({
      start: async (controller) => {
        // subscribe first, then read the backlog: nothing committed in between is missed
        listener = (r) => {
          live.push(r);
          if (live.length > SSE_MAX_QUEUED) {
            // a reader this slow is dropped; it reconnects with Last-Event-ID and reads from the table
            cleanup();
            controller.close();
          } else flushLive();
        };
        const flushLive = () => {
          if (closed || backlogPending) return;
          while (live.length) {
            const r = live.shift()!;
            if (r.seq <= lastSent) continue;
            controller.enqueue(frame(r));
            lastSent = r.seq;
          }
        };
        let backlogPending = true;
        hub.on(String(tenantId), listener);
        deps.metrics.sseClients.inc();
        controller.enqueue(encoder.encode(': connected\nretry: 2000\n\n'));
        for (;;) {
          const rows = await pool.run('listAnomalies', {
            requestId: c.get('requestId'),
            tenantId,
            productId: null,
            afterSeq: lastSent,
            limit: SSE_BACKLOG_PAGE,
            ascending: true,
          });
          if (closed) return;
          for (const r of rows) {
            controller.enqueue(frame(r));
            lastSent = r.seq;
          }
          if (rows.length < SSE_BACKLOG_PAGE) break;
        }
        backlogPending = false;
        flushLive();
        heartbeat = setInterval(() => {
          if (!closed) controller.enqueue(encoder.encode(': ping\n\n'));
        }, SSE_HEARTBEAT_MS);
      },
      cancel: cleanup,
    });
    return c.body(body, 200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
  }
  return routes;
}
