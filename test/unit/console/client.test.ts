import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError, problemOf, withQuery } from '../../../console/lib/api.js';
import { History, slowest } from '../../../console/lib/operations.js';
import { pageFromHash } from '../../../console/lib/pages.js';
import { type KeyValueStore, Session } from '../../../console/lib/session.js';
import {
  isTenantUpload,
  uploadFingerprint,
  uploadMetadata,
  uploadPath,
} from '../../../console/lib/uploads.js';

function memoryStore(): KeyValueStore & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  };
}

describe('console API client', () => {
  it("keeps the API's problem, and makes one from the status line when the body is not a problem", async () => {
    const problem = {
      type: 'about:blank',
      title: 'Not valid',
      status: 400,
      detail: 'bad',
      code: 'validation_failed',
      request_id: 'r-1',
    };
    expect(await problemOf(new Response(JSON.stringify(problem), { status: 400 }))).toEqual(problem);
    const bare = await problemOf(
      new Response('<html>bad gateway</html>', {
        status: 502,
        statusText: 'Bad Gateway',
        headers: { 'x-request-id': 'r-2' },
      }),
    );
    expect(bare).toMatchObject({ title: 'Bad Gateway', status: 502, request_id: 'r-2' });
  });

  it('sends the bearer token, throws ApiError on failure and on a network error', async () => {
    const seen: Headers[] = [];
    const client = new ApiClient(
      () => 'of_key',
      async (_url, init) => {
        seen.push(new Headers(init?.headers));
        return new Response(JSON.stringify({ title: 'Gone', status: 404, code: 'not_found' }), {
          status: 404,
        });
      },
    );
    const error = await client.json('/x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).problem.code).toBe('not_found');
    expect(seen[0]!.get('authorization')).toBe('Bearer of_key');
    const down = new ApiClient(
      () => null,
      async () => {
        throw new TypeError('fetch failed');
      },
    );
    const failure = (await down.json('/x').catch((e: unknown) => e)) as ApiError;
    expect(failure.problem).toMatchObject({ code: 'network_error', status: 0, detail: 'fetch failed' });
  });

  it('tells its owner when the token is refused (401), and only then', async () => {
    const refused: string[] = [];
    const answers = [
      { status: 403, code: 'forbidden' },
      { status: 401, code: 'invalid_api_key' },
    ];
    const client = new ApiClient(
      () => 'k',
      async () => {
        const a = answers.shift()!;
        return new Response(JSON.stringify({ title: 't', status: a.status, code: a.code }), {
          status: a.status,
        });
      },
    );
    client.onUnauthorized = (p) => refused.push(p.code ?? '');
    await expect(client.json('/a')).rejects.toBeInstanceOf(ApiError);
    expect(refused).toEqual([]);
    await expect(client.json('/b')).rejects.toBeInstanceOf(ApiError);
    expect(refused).toEqual(['invalid_api_key']);
  });

  it('builds queries without empty parameters', () => {
    expect(withQuery('/p', { a: 1, b: '', c: undefined, d: null, e: 'x y' })).toBe('/p?a=1&e=x+y');
    expect(withQuery('/p', {})).toBe('/p');
  });
});

describe('console session', () => {
  it('keeps the key and identity in the given (session) store and forgets all on sign-out', () => {
    const store = memoryStore();
    const session = new Session(store);
    expect(session.identity).toBeNull();
    expect(() => session.tenantPath('/x')).toThrow();
    session.signIn('of_key', { tenant_id: 7, tenant_name: 'acme', key_id: 3 });
    session.setAdminToken('adm');
    expect(session.tenantPath('/orders/search')).toBe('/api/v1/tenants/7/orders/search');
    expect(session.apiKey).toBe('of_key');
    session.signOut();
    expect(store.data.size).toBe(0);
    // a damaged identity is no identity
    store.setItem('orderflow.api_key', 'k');
    store.setItem('orderflow.identity', '{not json');
    expect(session.identity).toBeNull();
  });
});

describe('console pages, uploads and operations', () => {
  it('routes hashes to pages, unknown ones to sales', () => {
    expect(pageFromHash('#/orders')).toBe('orders');
    expect(pageFromHash('#/exports?x=1')).toBe('exports');
    expect(pageFromHash('')).toBe('sales');
    expect(pageFromHash('#/nope')).toBe('sales');
  });

  it("keeps each tenant's resumable uploads apart and marks gzip files", () => {
    const file = { name: 'orders.ndjson.gz', size: 10, lastModified: 5 };
    const key = `tus::${uploadFingerprint(1, file)}::123`;
    expect(isTenantUpload(1, key)).toBe(true);
    expect(isTenantUpload(11, key)).toBe(false);
    expect(uploadFingerprint(1, file)).not.toBe(uploadFingerprint(2, file));
    expect(uploadMetadata(file.name)).toEqual({
      filename: file.name,
      filetype: 'application/x-ndjson',
      encoding: 'gzip',
    });
    expect(uploadMetadata('a.ndjson').encoding).toBeUndefined();
    expect(uploadPath('http://h:1/api/v1/ingest/orders/uploads/abc')).toBe(
      '/api/v1/ingest/orders/uploads/abc',
    );
    expect(uploadPath('/api/v1/ingest/orders/uploads/abc')).toBe('/api/v1/ingest/orders/uploads/abc');
  });

  it('lists the slowest routes by p95 and keeps a bounded history', () => {
    const rows = slowest(
      {
        '/a': { count: 3, p50_ms: 1, p95_ms: 5 },
        '/b': { count: 1, p50_ms: 9, p95_ms: 20 },
        '/c': { count: 0 },
        '': { count: 9, p95_ms: 99 },
      },
      5,
    );
    expect(rows.map((r) => r.name)).toEqual(['/b', '/a']);
    const h = new History(2);
    for (const t of [1, 2, 3]) h.push(t, t * 10);
    expect(h.times).toEqual([2, 3]);
    expect(h.values).toEqual([20, 30]);
  });
});
