/**
 * What `--storage postgres` serves so far (issue 17): the catalog (tenants, keys, authentication), ingest
 * of orders and products (with or without an Idempotency-Key, in one request or as a tus upload), order search, direct exports, sales metrics (read
 * from the orders), stock bulk updates, product reads, GDPR erasure, price events with their anomalies and change
 * stream, tenant settings, and the admin check of a tenant's data. Every other request that reaches tenant data answers 501
 * `storage_not_supported` there, at once, instead of reaching for a SQLite shard that does not exist. On
 * SQLite this is a no-op.
 */
import type { MiddlewareHandler } from 'hono';
import { Problem } from './problem.js';
import type { AppEnv } from './types.js';

const BUILT_ON_POSTGRES: readonly [method: string, path: RegExp][] = [
  ['POST', /^\/api\/v1\/ingest\/(orders|products)\/?$/],
  // tus uploads: discovery, creation, offset and summary, append, termination
  ['OPTIONS', /^\/api\/v1\/ingest\/orders\/uploads$/],
  ['POST', /^\/api\/v1\/ingest\/orders\/uploads$/],
  ['GET', /^\/api\/v1\/ingest\/orders\/uploads\/[^/]+$/],
  ['PATCH', /^\/api\/v1\/ingest\/orders\/uploads\/[^/]+$/],
  ['DELETE', /^\/api\/v1\/ingest\/orders\/uploads\/[^/]+$/],
  ['GET', /^\/api\/v1\/tenants\/\d+\/orders\/search$/],
  ['GET', /^\/api\/v1\/tenants\/\d+\/metrics\/sales$/],
  // a direct export (streamed as the response); the route answers 501 itself for an export job
  ['POST', /^\/api\/v1\/tenants\/\d+\/reports\/export$/],
  ['PUT', /^\/api\/v1\/tenants\/\d+\/stock\/bulk_update$/],
  ['GET', /^\/api\/v1\/tenants\/\d+\/products\/\d+$/],
  ['DELETE', /^\/api\/v1\/tenants\/\d+\/customers(\/[^/]+)?$/],
  ['POST', /^\/api\/v1\/tenants\/\d+\/products\/\d+\/price-event$/],
  ['GET', /^\/api\/v1\/tenants\/\d+\/(products\/\d+\/)?price-anomalies$/],
  ['PATCH', /^\/api\/v1\/tenants\/\d+\/price-events\/[^/]+$/],
  ['GET', /^\/api\/v1\/tenants\/\d+\/price-anomalies\/stream$/],
  ['POST', /^\/api\/v1\/admin\/tenants\/\d+\/check$/],
];

/** Whether a request is served on PostgreSQL yet. */
export function servedOnPostgres(method: string, path: string): boolean {
  const asked = method === 'HEAD' ? 'GET' : method; // HEAD is served by the GET route
  return BUILT_ON_POSTGRES.some(([m, pattern]) => m === asked && pattern.test(path));
}

export function storageSupport(kind: 'sqlite' | 'postgres'): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (kind === 'postgres' && !servedOnPostgres(c.req.method, c.req.path))
      throw new Problem(
        'storage_not_supported',
        `${c.req.method} ${c.req.path} does not run on --storage postgres yet; orders and products ingest (idempotent or not, tus uploads too), order search, direct exports, sales metrics, stock, product reads, erasure, prices, tenants and keys and the admin check do (docs/postgres.md).`,
      );
    await next();
  };
}
