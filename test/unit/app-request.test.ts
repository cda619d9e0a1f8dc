import { afterEach, describe, expect, it } from 'vitest';
import { type InProcessApp, inProcessApp } from '../helpers/app.js';

let app: InProcessApp;
afterEach(() => app?.close());

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const productPath = (tenantId: number) => `/api/v1/tenants/${tenantId}/products/7`;

async function problem(res: Response) {
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const body = (await res.json()) as Record<string, unknown>;
  expect(body.request_id).toBe(res.headers.get('x-request-id'));
  expect(body.type).toBe(`urn:orderflow:problem:${body.code}`);
  expect(body.status).toBe(res.status);
  return body;
}

describe('middleware, in process (app.request)', () => {
  it('keeps a sane X-Request-Id, replaces an insane one, and answers one on every response', async () => {
    app = inProcessApp();
    const kept = await app.request('/healthz', { headers: { 'x-request-id': 'abc-123' } });
    expect(kept.headers.get('x-request-id')).toBe('abc-123');
    const replaced = await app.request('/healthz', { headers: { 'x-request-id': 'bad id\u0001' } });
    // a fresh UUID (checking for the word "bad" failed once: a UUID's hex held "8bad")
    expect(replaced.headers.get('x-request-id')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    expect((await app.request('/nowhere')).headers.get('x-request-id')).toBeTruthy();
  });

  it('answers unknown paths 404 and known paths with another method 405 with Allow', async () => {
    app = inProcessApp();
    const missing = await app.request('/api/v1/nothing');
    expect(missing.status).toBe(404);
    expect(await problem(missing)).toMatchObject({ code: 'not_found', title: 'Not found' });
    const wrong = await app.request(productPath(app.tenant.tenant_id), {
      method: 'DELETE',
      headers: bearer(app.tenant.api_key),
    });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toContain('GET');
    expect(await problem(wrong)).toMatchObject({ code: 'method_not_allowed' });
  });

  it('authenticates: no key 401 with a challenge, a bad key 401, another tenant 404', async () => {
    app = inProcessApp(() => ({ product_id: 7 }));
    const path = productPath(app.tenant.tenant_id);
    const none = await app.request(path);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await problem(none)).toMatchObject({ code: 'missing_api_key' });
    const bad = await app.request(path, { headers: bearer('of_nope') });
    expect(await problem(bad)).toMatchObject({ code: 'invalid_api_key', status: 401 });
    const other = await app.request(productPath(app.tenant.tenant_id + 1), {
      headers: bearer(app.tenant.api_key),
    });
    expect(await problem(other)).toMatchObject({ code: 'not_found', status: 404 });
    const ok = await app.request(path, { headers: bearer(app.tenant.api_key) });
    expect(await ok.json()).toEqual({ product_id: 7 });
  });

  it('answers 503 tenant_unavailable for a tenant whose shard is down, and serves after it is back', async () => {
    app = inProcessApp(() => ({ product_id: 7 }));
    app.deps.health.tenantDown(app.tenant.tenant_id, 'SQLITE_NOTADB: file is not a database');
    const down = await app.request(productPath(app.tenant.tenant_id), {
      headers: bearer(app.tenant.api_key),
    });
    expect(down.headers.get('retry-after')).toBe('60');
    expect(await problem(down)).toMatchObject({ code: 'tenant_unavailable', status: 503 });
    app.deps.health.tenantUp(app.tenant.tenant_id);
    const up = await app.request(productPath(app.tenant.tenant_id), { headers: bearer(app.tenant.api_key) });
    expect(up.status).toBe(200);
  });

  it('admin endpoints need the admin token', async () => {
    app = inProcessApp();
    const res = await app.request('/api/v1/admin/tenants', { headers: bearer('wrong') });
    expect(await problem(res)).toMatchObject({ code: 'invalid_admin_token', status: 401 });
    const listed = await app.request('/api/v1/admin/tenants', { headers: bearer('admin-token') });
    expect(listed.status).toBe(200);
  });

  it('refuses work with 429 overloaded, Retry-After and the expected delay when the pool queue is at its bound', async () => {
    app = inProcessApp(() => ({ product_id: 7 }), ['--max-queue', '2']);
    Object.assign(app.pool, { activeTasks: 4, queueSize: 2 });
    const res = await app.request(`/api/v1/tenants/${app.tenant.tenant_id}/stock/bulk_update`, {
      method: 'PUT',
      headers: { ...bearer(app.tenant.api_key), 'content-type': 'application/json' },
      body: JSON.stringify({
        mode: 'merge',
        events: [{ event_id: 'e1', product_id: 7, delta: 1, occurred_at: '2026-01-01T00:00:00Z' }],
      }),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBeTruthy();
    expect(await problem(res)).toMatchObject({
      code: 'overloaded',
      queue_length: 2,
      expected_delay_s: 3,
      reason: 'queue_full',
      scope: 'server',
    });
  });

  it("refuses a tenant's work with 429 once its own tasks fill its share of the queue, though the queue has room", async () => {
    app = inProcessApp(() => [], ['--max-queue', '64', '--max-queue-per-tenant', '3']);
    const bulk = () =>
      app.request(`/api/v1/tenants/${app.tenant.tenant_id}/stock/bulk_update`, {
        method: 'PUT',
        headers: { ...bearer(app.tenant.api_key), 'content-type': 'application/json' },
        body: JSON.stringify({
          mode: 'merge',
          events: [{ event_id: 'e1', product_id: 7, delta: 1, occurred_at: '2026-01-01T00:00:00Z' }],
        }),
      });
    Object.assign(app.pool, { activeTasks: 4, queueSize: 5, queuedForTenant: 2 });
    expect((await bulk()).status).toBe(200);
    Object.assign(app.pool, { queuedForTenant: 3 });
    const res = await bulk();
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(await problem(res)).toMatchObject({
      code: 'overloaded',
      queue_length: 5,
      reason: 'tenant_queue_full',
      scope: 'tenant',
    });
    // a free worker slot: nothing waits, nothing is refused
    Object.assign(app.pool, { activeTasks: 3 });
    expect((await bulk()).status).toBe(200);
  });

  it('reads JSON bodies strictly: not JSON is 400 malformed_json, another type 415', async () => {
    app = inProcessApp();
    const path = `/api/v1/tenants/${app.tenant.tenant_id}/stock/bulk_update`;
    const headers = { ...bearer(app.tenant.api_key), 'content-type': 'application/json' };
    const broken = await app.request(path, { method: 'PUT', headers, body: '{"mode":' });
    expect(await problem(broken)).toMatchObject({ code: 'malformed_json', status: 400 });
    const text = await app.request(path, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'text/plain' },
      body: '{}',
    });
    expect(await problem(text)).toMatchObject({ code: 'unsupported_media_type', status: 415 });
  });
});

describe('error paths, in process', () => {
  it('a storage failure from a worker task answers its problem (disk full: 507) and is logged once', async () => {
    app = inProcessApp(() => {
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    });
    const res = await app.request(productPath(app.tenant.tenant_id), { headers: bearer(app.tenant.api_key) });
    const body = await problem(res);
    expect(body).toMatchObject({ code: 'insufficient_storage', status: 507 });
    const lines = app.logs.filter((l) => l.msg === 'storage failure');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ req_id: body.request_id, code: 'insufficient_storage' });
  });

  it('an unexpected error answers 500 internal_error with the request id, and one log line with its cause', async () => {
    app = inProcessApp(() => {
      throw new TypeError('x is not a function');
    });
    const res = await app.request(productPath(app.tenant.tenant_id), { headers: bearer(app.tenant.api_key) });
    const body = await problem(res);
    expect(body).toMatchObject({ code: 'internal_error', status: 500, title: 'Internal error' });
    expect(JSON.stringify(body)).not.toContain('x is not a function');
    const lines = app.logs.filter((l) => l.msg === 'unhandled error');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ req_id: body.request_id, err: { message: 'x is not a function' } });
  });

  it('a problem code its operation does not document is answered, logged and counted', async () => {
    const { Problem } = await import('../../src/http/problem.js');
    app = inProcessApp(() => {
      throw new Problem('tenant_exists', 'not a thing this route can say');
    });
    const res = await app.request(productPath(app.tenant.tenant_id), { headers: bearer(app.tenant.api_key) });
    expect(res.status).toBe(409);
    expect(app.logs.filter((l) => l.msg === 'problem code not documented for its operation')).toEqual([
      expect.objectContaining({
        code: 'tenant_exists',
        operation: 'get /api/v1/tenants/:tenant_id/products/:product_id',
      }),
    ]);
    expect(
      await app.deps.metrics.registry.getSingleMetricAsString('http_undocumented_problems_total'),
    ).toContain('code="tenant_exists"} 1');
  });
});
