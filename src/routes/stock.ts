import * as v from 'valibot';
import { requestErrors, StockBulkBody } from '../domain/stock.js';
import { Problem } from '../http/problem.js';
import { RouteGroup } from '../http/register.js';
import { pathId, readJsonBody, validate } from '../http/validation.js';
import type { AppDeps } from './deps.js';

const ResultDoc = v.object({
  product_id: v.number(),
  status: v.picklist(['applied', 'rejected', 'stale', 'failed']),
  quantity: v.nullable(v.number()),
  version: v.nullable(v.number()),
  events_applied: v.number(),
  events_duplicate: v.number(),
  error: v.optional(v.object({ code: v.string(), message: v.string(), event_id: v.optional(v.string()) })),
});
const BulkResponseDoc = v.object({
  mode: v.string(),
  results: v.array(ResultDoc),
  summary: v.record(v.string(), v.number()),
});
const ProductDoc = v.object({
  product_id: v.number(),
  sku: v.string(),
  name: v.string(),
  category: v.string(),
  price_cents: v.number(),
  currency: v.string(),
  stock: v.number(),
  stock_version: v.number(),
  updated_at: v.string(),
});

type Result = v.InferOutput<typeof ResultDoc>;

export function stockRoutes(deps: AppDeps): RouteGroup {
  const routes = new RouteGroup(deps.openapi, '/api/v1/tenants/:tenant_id');
  const { pool, config, admission } = deps;
  routes.add(
    {
      method: 'put',
      path: '/api/v1/tenants/:tenant_id/stock/bulk_update',
      summary: 'Apply stock events, atomically per product, with a conflict mode',
      description:
        'merge adds deltas; last_write_wins sets quantity unless a newer write landed (stale); reject needs expected_version = the current stock_version. Stock never goes negative (insufficient_stock fails the product). A repeated event_id is skipped. Concurrent requests serialise.',
      tag: 'stock',
      auth: 'api_key',
      body: [{ contentType: 'application/json', schema: StockBulkBody }],
      responses: { 200: { description: 'Per-product results and a summary', schema: BulkResponseDoc } },
      errors: ['validation_failed', 'malformed_json', 'body_too_large', 'overloaded', 'not_found'],
    },
    async (c) => {
      const body = validate(StockBulkBody, await readJsonBody(c, config.body.maxJsonBytes));
      const errors = requestErrors(body, config.stock.maxEvents);
      if (errors.length)
        throw new Problem('validation_failed', 'The batch has invalid events.', {
          errors: errors.slice(0, 100),
        });
      admission.check('work', c.get('tenantId'));
      // typed as the documented result: the worker's answer must match what /openapi.json promises
      const results: Result[] = await pool.run('stockBulk', {
        requestId: c.get('requestId'),
        tenantId: c.get('tenantId'),
        mode: body.mode,
        events: body.events,
      });
      const count = (status: string) => results.filter((r) => r.status === status).length;
      const summary = {
        products: results.length,
        applied: count('applied'),
        rejected: count('rejected'),
        stale: count('stale'),
        failed: count('failed'),
        events: body.events.length,
        events_applied: results.reduce((n, r) => n + r.events_applied, 0),
        events_duplicate: results.reduce((n, r) => n + r.events_duplicate, 0),
      };
      c.get('log').info({ mode: body.mode, ...summary }, 'stock bulk update');
      return c.json({ mode: body.mode, results, summary });
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/tenants/:tenant_id/products/:product_id',
      summary: 'A product with its stock and stock_version',
      tag: 'stock',
      auth: 'api_key',
      responses: { 200: { description: 'The product', schema: ProductDoc } },
      errors: ['not_found'],
    },
    async (c) => {
      const productId = pathId(c.req.param('product_id'));
      const product = await pool.run('getProduct', {
        requestId: c.get('requestId'),
        tenantId: c.get('tenantId'),
        productId,
      });
      if (!product) throw new Problem('not_found', `No product ${productId}.`);
      return c.json(product);
    },
  );
  return routes;
}
