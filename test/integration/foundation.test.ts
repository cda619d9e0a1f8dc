import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PreparedBackend, SERVER_BACKENDS } from '../helpers/backends.js';
import { ndjson, order, product } from '../helpers/data.js';
import { ADMIN_TOKEN, auth, eventually, removeDir, startServer, type TestServer } from '../helpers/server.js';

for (const backend of SERVER_BACKENDS)
  describe.skipIf(backend.skip !== null)(`foundation on ${backend.name}`, () => {
    let server: TestServer;
    let prepared: PreparedBackend;
    let a: { tenant_id: number; api_key: string; key_id: number };
    let b: { tenant_id: number; api_key: string; key_id: number };

    beforeAll(async () => {
      prepared = await backend.prepare();
      server = await startServer({ args: prepared.args });
      a = await server.createTenant('alpha');
      b = await server.createTenant('beta');
    });
    afterAll(async () => {
      await server?.stop();
      if (server) removeDir(server.dataDir);
      await prepared?.cleanup();
    });

    const json = (body: unknown, extra: Record<string, string> = {}) => ({
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}`, ...extra },
      body: JSON.stringify(body),
    });

    async function problem(res: Response, status: number, code: string) {
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({
        status,
        code,
        type: expect.any(String),
        title: expect.any(String),
        detail: expect.any(String),
      });
      expect(body.request_id).toBe(res.headers.get('x-request-id'));
      return body;
    }

    describe('health, docs, errors', () => {
      it('answers /healthz and /readyz', async () => {
        expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
        const ready = await fetch(`${server.url}/readyz`);
        expect(ready.status).toBe(200);
        expect(await ready.json()).toMatchObject({ status: 'ready', workers: 2 });
      });

      it('echoes a sane X-Request-Id and replaces an insane one', async () => {
        const res = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'client-req-42' } });
        expect(res.headers.get('x-request-id')).toBe('client-req-42');
        const bad = await fetch(`${server.url}/healthz`, {
          headers: { 'x-request-id': 'evil\u0001id'.replace('\u0001', '%01') + ' <script>' },
        });
        expect(bad.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      });

      it('unknown routes are 404 and wrong methods 405 with Allow, as problem+json', async () => {
        await problem(await fetch(`${server.url}/nope`), 404, 'not_found');
        const res = await fetch(`${server.url}/healthz`, { method: 'DELETE' });
        expect(res.headers.get('allow')).toContain('GET');
        await problem(res, 405, 'method_not_allowed');
      });

      it('serves OpenAPI 3.1 listing every route, and an offline HTML reference', async () => {
        const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as {
          openapi: string;
          paths: Record<string, Record<string, unknown>>;
        };
        expect(doc.openapi).toBe('3.1.0');
        for (const [path, method] of [
          ['/api/v1/admin/tenants', 'post'],
          ['/api/v1/admin/tenants/{tenant_id}/keys', 'post'],
          ['/api/v1/admin/tenants/{tenant_id}/keys/{key_id}', 'delete'],
          ['/api/v1/ingest/orders/', 'post'],
          ['/api/v1/ingest/products/', 'post'],
          ['/metrics', 'get'],
        ] as const) {
          expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
        }
        const html = await (await fetch(`${server.url}/docs`)).text();
        expect(html).toContain('/api/v1/ingest/orders/');
        expect(html).not.toMatch(/<script|https?:\/\/cdn/i);
      });
    });

    describe('admin and auth', () => {
      it('admin endpoints need the admin token', async () => {
        await problem(
          await fetch(
            `${server.url}/api/v1/admin/tenants`,
            json({ name: 'x' }, { authorization: 'Bearer wrong' }),
          ),
          401,
          'invalid_admin_token',
        );
        await problem(
          await fetch(
            `${server.url}/api/v1/admin/tenants`,
            json({ name: 'x' }, { authorization: `Bearer ${a.api_key}` }),
          ),
          401,
          'invalid_admin_token',
        );
      });

      it('validates tenant creation: bad JSON, wrong type, bad fields, duplicate name', async () => {
        await problem(
          await fetch(`${server.url}/api/v1/admin/tenants`, { ...json({}), body: '{"name":' }),
          400,
          'malformed_json',
        );
        await problem(
          await fetch(`${server.url}/api/v1/admin/tenants`, {
            ...json({}),
            headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'text/plain' },
          }),
          415,
          'unsupported_media_type',
        );
        const body = await problem(
          await fetch(`${server.url}/api/v1/admin/tenants`, json({ name: "x'; DROP TABLE tenants;--" })),
          400,
          'validation_failed',
        );
        expect(body.errors).toEqual([expect.objectContaining({ field: 'name' })]);
        await problem(
          await fetch(`${server.url}/api/v1/admin/tenants`, json({ name: 42 })),
          400,
          'validation_failed',
        );
        await problem(
          await fetch(`${server.url}/api/v1/admin/tenants`, json({ name: 'alpha' })),
          409,
          'tenant_exists',
        );
        await problem(
          await fetch(`${server.url}/api/v1/admin/tenants`, json({ name: 'y'.repeat(20_000_000) })),
          413,
          'body_too_large',
        );
      });

      it('no key 401, bad key 401, revoked key 401, a new key works', async () => {
        const url = `${server.url}/api/v1/ingest/products/`;
        const post = (key?: string) =>
          fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/x-ndjson', ...(key ? auth(key) : {}) },
            body: ndjson([product(900)]),
          });
        const noKey = await post();
        expect(noKey.headers.get('www-authenticate')).toContain('Bearer');
        await problem(noKey, 401, 'missing_api_key');
        await problem(await post('of_AAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'), 401, 'invalid_api_key');
        // Change the secret's last character to a different one (a fixed 'x' is the real key 1 time in 64).
        const last = a.api_key.at(-1) === 'x' ? 'y' : 'x';
        await problem(await post(`${a.api_key.slice(0, -1)}${last}`), 401, 'invalid_api_key');
        const issued = (await (
          await fetch(`${server.url}/api/v1/admin/tenants/${a.tenant_id}/keys`, json({}))
        ).json()) as { api_key: string; key_id: number };
        expect((await post(issued.api_key)).status).toBe(200);
        const revoke = await fetch(
          `${server.url}/api/v1/admin/tenants/${a.tenant_id}/keys/${issued.key_id}`,
          {
            method: 'DELETE',
            headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
          },
        );
        expect(revoke.status).toBe(204);
        await problem(await post(issued.api_key), 401, 'invalid_api_key');
        // Revoking another tenant's key through the wrong tenant path does nothing.
        const wrong = await fetch(`${server.url}/api/v1/admin/tenants/${b.tenant_id}/keys/${a.key_id}`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        });
        await problem(wrong, 404, 'not_found');
        expect((await post(a.api_key)).status).toBe(200);
      });
    });

    describe('tenant isolation', () => {
      it("every tenant route: another tenant's id, a missing one, or garbage is 404 (existence not revealed)", async () => {
        await fetch(`${server.url}/api/v1/ingest/products/`, {
          method: 'POST',
          headers: auth(a.api_key, { 'content-type': 'application/x-ndjson' }),
          body: ndjson([product(1)]),
        });
        const routes: [string, string, string?][] = [
          ['GET', 'orders/search'],
          ['GET', 'metrics/sales?group_by=day&start_date=2026-01-01&end_date=2026-02-01'],
          ['GET', 'products/1'],
          ['GET', 'products/1/price-anomalies'],
          [
            'POST',
            'products/1/price-event',
            JSON.stringify({ event_id: 'iso-p1', price_cents: 1000, observed_at: '2026-01-01T00:00:00Z' }),
          ],
          ['PATCH', 'price-events/iso-p1', JSON.stringify({ status: 'reviewed' })],
          [
            'PUT',
            'stock/bulk_update',
            JSON.stringify({
              mode: 'merge',
              events: [{ event_id: 'iso-1', product_id: 1, delta: 1, occurred_at: '2026-01-01T00:00:00Z' }],
            }),
          ],
        ];
        for (const [method, path, body] of routes) {
          const call = (id: string) =>
            fetch(`${server.url}/api/v1/tenants/${id}/${path}`, {
              method,
              headers: auth(a.api_key, { 'content-type': 'application/json' }),
              ...(body ? { body } : {}),
            });
          // the route works for the key's own tenant ...
          const own = await call(String(a.tenant_id));
          expect([200, 201], `${method} ${path}`).toContain(own.status);
          await own.arrayBuffer();
          // ... and another tenant's id answers exactly like an id that does not exist
          for (const id of [
            String(b.tenant_id),
            '999999',
            'abc',
            '1%20OR%201=1',
            "1';--",
            '0',
            '-1',
            '1e3',
          ]) {
            const p = await problem(await call(id), 404, 'not_found');
            expect(p.detail).toBe('No such resource.');
          }
          // without a key: 401
          const anonymous = await fetch(`${server.url}/api/v1/tenants/${a.tenant_id}/${path}`, {
            method,
            ...(body ? { body, headers: { 'content-type': 'application/json' } } : {}),
          });
          expect(anonymous.status).toBe(401);
        }
      });

      it("rows naming another tenant are rejected, and one tenant's products are invisible to another", async () => {
        const headers = auth(a.api_key, { 'content-type': 'application/x-ndjson' });
        await fetch(`${server.url}/api/v1/ingest/products/`, {
          method: 'POST',
          headers,
          body: ndjson([product(1), product(2), product(3)]),
        });
        const res = await fetch(`${server.url}/api/v1/ingest/orders/`, {
          method: 'POST',
          headers,
          body: ndjson([order(1, { tenant_id: b.tenant_id }), order(2)]),
        });
        const body = (await res.json()) as {
          rows_inserted: number;
          errors: { code: string; line: number }[];
        };
        expect(body.rows_inserted).toBe(1);
        expect(body.errors).toEqual([
          expect.objectContaining({ line: 1, code: 'tenant_mismatch', field: 'tenant_id' }),
        ]);
        // beta has no products 1..3: the same order is a row error there
        const other = await fetch(`${server.url}/api/v1/ingest/orders/`, {
          method: 'POST',
          headers: auth(b.api_key, { 'content-type': 'application/x-ndjson' }),
          body: ndjson([order(2)]),
        });
        expect(((await other.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe(
          'unknown_product',
        );
      });
    });

    describe('logs and metrics', () => {
      it('writes one JSON log line per request with id, tenant, route, status, duration, idempotency key', async () => {
        const res = await fetch(`${server.url}/api/v1/ingest/products/`, {
          method: 'POST',
          headers: auth(a.api_key, {
            'content-type': 'application/x-ndjson',
            'x-request-id': 'log-check-1',
            'idempotency-key': 'idem-log-1',
          }),
          body: ndjson([product(77)]),
        });
        expect(res.status).toBe(200);
        const logged = () => server.logs().filter((l) => l.req_id === 'log-check-1' && l.msg === 'request');
        await eventually(() => logged().length > 0, 5000, 'the request line');
        const lines = logged();
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatchObject({
          route: '/api/v1/ingest/products/',
          method: 'POST',
          status: 200,
          tenant_id: a.tenant_id,
          idempotency_key: 'idem-log-1',
          duration_ms: expect.any(Number),
        });
        // worker-side lines carry the request id too
        expect(server.logs().some((l) => l.req_id === 'log-check-1' && l.msg === 'ingest finished')).toBe(
          true,
        );
      });

      it('exposes request and worker-side DB query timings, pool, memory and event-loop lag', async () => {
        const text = await (await fetch(`${server.url}/metrics`)).text();
        expect(text).toMatch(/db_query_duration_seconds\{quantile="0\.5",query="insert_orders_batch"\} \d/);
        expect(text).toMatch(
          /db_query_duration_seconds\{quantile="0\.95",query="insert_products_batch"\} \d/,
        );
        // each worker's V8 heap after its latest task
        for (const kind of ['used', 'total', 'external'])
          expect(text).toMatch(new RegExp(`worker_heap_bytes\\{thread="\\d+",kind="${kind}"\\} [1-9]\\d*`));
        expect(text).toMatch(
          /http_request_duration_seconds\{quantile="0\.95",method="POST",route="\/api\/v1\/ingest\/orders\/"\}/,
        );
        for (const name of [
          'pool_queue_length',
          'pool_utilization_ratio',
          'ingest_rows_per_second',
          'process_resident_memory_bytes',
          'nodejs_eventloop_lag_p99_seconds',
          'ingest_rows_total',
        ]) {
          expect(text).toContain(name);
        }
        const digest = (await (await fetch(`${server.url}/metrics.json`)).json()) as Record<
          string,
          Record<string, unknown>
        >;
        expect(digest.db_queries!.insert_orders_batch).toMatchObject({
          p50_ms: expect.any(Number),
          p95_ms: expect.any(Number),
        });
        expect(digest.memory!.rss_bytes).toBeGreaterThan(0);
        expect(digest.pool).toMatchObject({ workers: 2, queued: 0 });
      });
    });
  });
