import type { Context } from 'hono';
import * as v from 'valibot';
import { encodeCursor, PRICE_EVENT_KEYSET, queryFingerprint } from '../domain/cursor.js';
import { DateOrDateTime } from '../domain/dates.js';
import { PriceEventBody, publicPriceEvent, ReviewBody } from '../domain/price.js';
import { cursorPosition } from '../http/cursor-param.js';
import type { Operation } from '../http/openapi.js';
import { Problem } from '../http/problem.js';
import { RouteGroup } from '../http/register.js';
import type { AppEnv } from '../http/types.js';
import { pathId, readJsonBody, validate, validateQuery } from '../http/validation.js';
import { anomalyEventStream } from '../prices/anomaly-stream.js';
import { PriceIntake } from '../prices/price-intake.js';
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

export function priceRoutes(deps: AppDeps): RouteGroup {
  const routes = new RouteGroup(deps.openapi, '/api/v1/tenants/:tenant_id');
  const { pool, config, cursorSecret } = deps;
  const intake = new PriceIntake(pool, config.prices, deps.metrics, deps.anomalies, deps.postgres);

  routes.add(
    {
      method: 'post',
      path: '/api/v1/tenants/:tenant_id/products/:product_id/price-event',
      summary: 'Price webhook: idempotent by event_id, rate limited, anomaly detection, group-committed',
      description: `A change of at least ${intake.policy.thresholdPct}% against the last accepted price, or ${intake.policy.medianPct}% from the rolling median of recent prices, is an anomaly with status review. The same event_id again answers the stored result with Idempotent-Replayed: true; with another body, 422.`,
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
        throw new Problem('missing_event_id', 'Give event_id in the body (or an Idempotency-Key header).');
      }
      const { allowed, headers } = await intake.admit(tenantId, productId);
      if (!allowed) throw new Problem('rate_limited', 'Too many price events; slow down.', { headers });
      deps.admission.check('work', tenantId);
      const outcome = await intake.record(tenantId, {
        eventId,
        productId,
        priceCents: body.price_cents,
        observedAt: body.observed_at,
      });
      if (!('result' in outcome)) {
        throw outcome.kind === 'unknown_product'
          ? new Problem('not_found', `No product ${productId}.`, { headers })
          : new Problem('event_id_reused', 'This event_id was already used with another body.', {
              headers,
            });
      }
      if (outcome.result.anomaly && outcome.kind === 'created')
        c.get('log').info(
          { event_id: eventId, product_id: productId, change_pct: outcome.result.change_pct },
          'price anomaly',
        );
      return c.json(publicPriceEvent(outcome.result), 201, {
        ...headers,
        ...(outcome.kind === 'replayed' ? { 'Idempotent-Replayed': 'true' } : {}),
      });
    },
  );

  /** One listing for a product's anomalies and the whole tenant's: the product is a filter. */
  const listAnomalies = async (c: Context<AppEnv>, productId: number | null) => {
    const tenantId = c.get('tenantId');
    const q = validateQuery(c, AnomalyListQuery);
    const fingerprint = queryFingerprint({ productId, since: q.since, until: q.until, status: q.status });
    const afterSeq = cursorPosition(
      cursorSecret,
      q.cursor || undefined,
      tenantId,
      fingerprint,
      PRICE_EVENT_KEYSET,
    );
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
      // seq is the change stream's event id: a client resumes the stream after the newest it listed
      data: page.map((r) => ({ ...publicPriceEvent(r), observed_at: r.observed_at, seq: r.seq })),
      next_cursor:
        more && last ? encodeCursor(cursorSecret, tenantId, fingerprint, PRICE_EVENT_KEYSET, last.seq) : null,
    });
  };
  const anomalyListDoc: Omit<Operation, 'path' | 'summary'> = {
    method: 'get',
    tag: 'prices',
    auth: 'api_key',
    query: AnomalyListQuery,
    responses: { 200: { description: '{"data":[event],"next_cursor":…|null}' } },
    errors: ['validation_failed', 'invalid_cursor', 'cursor_mismatch', 'not_found'],
  };

  routes.add(
    {
      ...anomalyListDoc,
      path: '/api/v1/tenants/:tenant_id/products/:product_id/price-anomalies',
      summary: "A product's flagged price events, newest first, cursor-paginated",
    },
    (c) => listAnomalies(c, pathId(c.req.param('product_id'))),
  );

  routes.add(
    {
      ...anomalyListDoc,
      path: '/api/v1/tenants/:tenant_id/price-anomalies',
      summary: "Every product's flagged price events, newest first, cursor-paginated (the review queue)",
    },
    (c) => listAnomalies(c, null),
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
      if (!row) throw new Problem('not_found', `No price event ${eventId}.`);
      return c.json(publicPriceEvent(row));
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
    (c) => {
      const tenantId = c.get('tenantId');
      const lastEventId = c.req.header('last-event-id') ?? c.req.query('last_event_id') ?? '0';
      const stream = anomalyEventStream(
        {
          backlog: (afterSeq, limit) =>
            pool.run('listAnomalies', {
              requestId: c.get('requestId'),
              tenantId,
              productId: null,
              afterSeq,
              limit,
              ascending: true,
            }),
          live: (listener) => deps.anomalies.subscribe(tenantId, listener),
          opened: () => deps.metrics.sseClients.inc(),
          closed: () => deps.metrics.sseClients.dec(),
        },
        /^\d{1,15}$/.test(lastEventId) ? Number(lastEventId) : 0,
        deps.drain,
      );
      return c.body(stream, 200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
    },
  );

  return routes;
}
