import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP } from '../../src/http/console-assets.js';
import { type Problem, problemResponse } from '../../src/http/problem.js';
import type { AppEnv } from '../../src/http/types.js';
import { CONSOLE_BUILD_DIR } from '../../src/paths.js';
import { consoleRoutes } from '../../src/routes/console.js';
import { type InProcessApp, inProcessApp } from '../helpers/app.js';
import { type PreparedBackend, SERVER_BACKENDS } from '../helpers/backends.js';
import {
  ADMIN_TOKEN,
  auth,
  removeDir,
  startServer,
  type TestServer,
  tempDataDir,
} from '../helpers/server.js';

// what the console asks of the API, on each storage backend: the key's tenant, from the catalog
for (const backend of SERVER_BACKENDS)
  describe.skipIf(backend.skip !== null)(`the console's API on ${backend.name}`, () => {
    let prepared: PreparedBackend;
    let server: TestServer;
    beforeAll(async () => {
      prepared = await backend.prepare();
      server = await startServer({ args: prepared.args });
    });
    afterAll(async () => {
      await server?.stop();
      if (server) removeDir(server.dataDir);
      await prepared?.cleanup();
    });

    it('GET /api/v1/me tells a key its tenant, and refuses no key or a revoked one', async () => {
      const tenant = await server.createTenant('acme');
      const me = async (key?: string) => fetch(`${server.url}/api/v1/me`, key ? { headers: auth(key) } : {});
      const res = await me(tenant.api_key);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { tenant_id: number; tenant_name: string; key_id: number };
      expect(body).toMatchObject({ tenant_id: tenant.tenant_id, tenant_name: 'acme' });
      expect(Number.isInteger(body.key_id)).toBe(true);
      expect((await me()).status).toBe(401);
      const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
      const created = await fetch(`${server.url}/api/v1/admin/tenants/${tenant.tenant_id}/keys`, {
        method: 'POST',
        headers: admin,
      });
      expect(created.status).toBe(201);
      const extra = (await created.json()) as { api_key: string; key_id: number };
      expect((await me(extra.api_key)).status).toBe(200);
      const revoked = await fetch(
        `${server.url}/api/v1/admin/tenants/${tenant.tenant_id}/keys/${extra.key_id}`,
        {
          method: 'DELETE',
          headers: admin,
        },
      );
      expect(revoked.ok).toBe(true);
      const refused = await me(extra.api_key);
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { code: string }).code).toBe('invalid_api_key');
      // the tenant's first key still works
      expect((await me(tenant.api_key)).status).toBe(200);
    });
  });

describe('the console and what it needs from the API', () => {
  let a: InProcessApp;
  beforeAll(() => {
    a = inProcessApp();
  });
  afterAll(() => a.close());

  it('serves the page fresh under a strict CSP, and its hashed assets immutable, gzipped and revalidated', async () => {
    const page = await a.request('/console');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toContain('unsafe');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    // no inline script or style: everything the page runs comes from its own assets
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|style="/);
    const js = /src="(\/console\/assets\/main-[A-Z0-9]+\.js)"/.exec(html)?.[1];
    const css = /href="(\/console\/assets\/main-[A-Z0-9]+\.css)"/.exec(html)?.[1];
    expect(js && css).toBeTruthy();
    const plain = await a.request(js!);
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(plain.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const bytes = Buffer.from(await plain.arrayBuffer());
    expect(bytes.equals(readFileSync(join(CONSOLE_BUILD_DIR, js!.replace('/console/', ''))))).toBe(true);
    const zipped = await a.request(js!, { headers: { 'accept-encoding': 'gzip, br' } });
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    const wire = Buffer.from(await zipped.arrayBuffer());
    expect(wire.length).toBeLessThan(bytes.length / 2);
    expect(gunzipSync(wire).equals(bytes)).toBe(true);
    const again = await a.request(js!, { headers: { 'if-none-match': plain.headers.get('etag')! } });
    expect(again.status).toBe(304);
    expect((await a.request(css!)).headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('answers a missing or out-of-folder asset 404 and never reads outside the build', async () => {
    for (const path of [
      '/console/assets/nope-123.js',
      '/console/assets/..%2F..%2Fpackage.json',
      '/console/assets/index',
    ]) {
      const res = await a.request(path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
  });

  it('says the console is not built (503 with a stable code) rather than a blank page', async () => {
    const dir = tempDataDir('orderflow-console-');
    try {
      const app = new Hono<AppEnv>();
      app.onError((error, c) => problemResponse(c, error as Problem));
      consoleRoutes(a.deps, dir).mountOn(app);
      const res = await app.request('/console');
      expect(res.status).toBe(503);
      expect(((await res.json()) as { code: string }).code).toBe('console_not_built');
      // a build that appears later is served without a restart
      mkdirSync(join(dir, 'assets'));
      writeFileSync(join(dir, 'index.html'), '<!doctype html><title>x</title>');
      expect((await app.request('/console')).status).toBe(200);
    } finally {
      removeDir(dir);
    }
  });
});
