import { renderDocsPage } from '../http/docs-page.js';
import { RouteGroup } from '../http/register.js';
import type { AppDeps } from './deps.js';

export function opsRoutes(deps: AppDeps): RouteGroup {
  const routes = new RouteGroup(deps.openapi, '/');
  const { openapi, metrics } = deps;
  let docCache: { json: string; html: string } | null = null;
  const docs = () => {
    if (!docCache) {
      const doc = openapi.document();
      docCache = { json: JSON.stringify(doc), html: renderDocsPage(doc) };
    }
    return docCache;
  };

  routes.add(
    {
      method: 'get',
      path: '/healthz',
      summary: 'Liveness: the process answers',
      tag: 'operations',
      auth: 'none',
      responses: { 200: { description: '{"status":"ok"}' } },
    },
    (c) => c.json({ status: 'ok' }),
  );
  routes.add(
    {
      method: 'get',
      path: '/readyz',
      summary:
        'Readiness: catalog reachable, workers up, not draining, disk writable, pool not saturated; names unavailable tenants',
      tag: 'operations',
      auth: 'none',
      responses: {
        200: {
          description: 'ready (tenants listed in unavailable_tenants answer 503; the others are served)',
        },
        503: { description: 'not ready: starting, draining, out of disk space, or saturated' },
      },
    },
    async (c) => {
      const pool = deps.pool.stats();
      let catalogOk = true;
      try {
        await deps.catalog.ping();
      } catch {
        catalogOk = false;
      }
      const disk = await deps.health.writable().catch(() => ({ writable: false, free_bytes: 0 }));
      const saturated = deps.admission.saturated();
      const ready =
        deps.state.ready &&
        !deps.state.draining &&
        catalogOk &&
        pool.workers > 0 &&
        disk.writable &&
        !saturated;
      return c.json(
        {
          status: ready ? 'ready' : 'not_ready',
          workers: pool.workers,
          catalog: catalogOk,
          draining: deps.state.draining,
          disk,
          pool: { running: pool.running, queued: pool.queued, capacity: deps.pool.capacity, saturated },
          unavailable_tenants: deps.health.unavailableTenants,
        },
        ready ? 200 : 503,
      );
    },
  );
  routes.add(
    {
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics (text exposition format)',
      tag: 'operations',
      auth: 'none',
      responses: { 200: { description: 'metrics', contentType: 'text/plain; version=0.0.4' } },
    },
    async (c) =>
      c.body(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType }),
  );
  routes.add(
    {
      method: 'get',
      path: '/metrics.json',
      summary: 'A JSON digest of the metrics: rates, p50/p95 durations, pool, memory, event-loop lag',
      tag: 'operations',
      auth: 'none',
      responses: { 200: { description: 'digest' } },
    },
    async (c) => c.json(await metrics.snapshot()),
  );
  routes.add(
    {
      method: 'get',
      path: '/openapi.json',
      summary: 'This API as OpenAPI 3.1',
      tag: 'operations',
      auth: 'none',
      responses: { 200: { description: 'OpenAPI document' } },
    },
    (c) => c.body(docs().json, 200, { 'content-type': 'application/json' }),
  );
  routes.add(
    {
      method: 'get',
      path: '/docs',
      summary: 'Readable API reference (HTML, works offline)',
      tag: 'operations',
      auth: 'none',
      responses: { 200: { description: 'HTML', contentType: 'text/html' } },
    },
    (c) => c.html(docs().html),
  );
  return routes;
}
