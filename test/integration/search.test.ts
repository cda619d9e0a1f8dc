import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PreparedBackend, SERVER_BACKENDS } from '../helpers/backends.js';
import { makeOrders, ndjson, type Order, product, STATUSES, shardQuery } from '../helpers/data.js';
import { auth, eventually, queryString, removeDir, startServer, type TestServer } from '../helpers/server.js';

for (const backend of SERVER_BACKENDS)
  describe.skipIf(backend.skip !== null)(`search on ${backend.name}`, () => {
    let prepared: PreparedBackend;
    let server: TestServer;
    let tenant: { tenant_id: number; api_key: string };
    let other: { tenant_id: number; api_key: string };
    const orders = makeOrders(2500, 'S');

    async function ingest(key: string, path: string, rows: unknown[]) {
      const res = await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: auth(key, { 'content-type': 'application/x-ndjson' }),
        body: ndjson(rows),
      });
      expect(res.status).toBe(200);
      return res.json();
    }

    beforeAll(async () => {
      prepared = await backend.prepare();
      server = await startServer({
        args: ['--stream-chunk-bytes', '4096', '--export-parts', '2', ...prepared.args],
      });
      tenant = await server.createTenant('search');
      other = await server.createTenant('search-other');
      for (const t of [tenant, other])
        await ingest(
          t.api_key,
          '/api/v1/ingest/products/',
          Array.from({ length: 8 }, (_, i) => product(i + 1)),
        );
      await ingest(tenant.api_key, '/api/v1/ingest/orders/', orders);
      await ingest(other.api_key, '/api/v1/ingest/orders/', makeOrders(50, 'OTHER', 9));
    });
    afterAll(async () => {
      await server?.stop();
      if (server) removeDir(server.dataDir);
      await prepared?.cleanup();
    });

    const searchUrl = (params: Record<string, string | number>, tenantId = tenant.tenant_id) =>
      `${server.url}/api/v1/tenants/${tenantId}/orders/search?${queryString(params)}`;

    async function page(
      params: Record<string, string | number>,
      key = tenant.api_key,
      tenantId = tenant.tenant_id,
    ) {
      const res = await fetch(searchUrl(params, tenantId), { headers: auth(key) });
      expect(res.status, await res.clone().text()).toBe(200);
      expect(res.headers.get('content-type')).toContain('application/x-ndjson');
      const lines = (await res.text())
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l));
      const meta = lines.pop()._meta as { next_cursor: string | null; count: number };
      expect(meta.count).toBe(lines.length);
      return { rows: lines as Record<string, unknown>[], meta };
    }

    async function all(
      params: Record<string, string | number>,
      limit = 250,
    ): Promise<Record<string, unknown>[]> {
      const out: Record<string, unknown>[] = [];
      let cursor: string | null = null;
      do {
        const { rows, meta } = await page({ ...params, limit, ...(cursor ? { cursor } : {}) });
        out.push(...rows);
        cursor = meta.next_cursor;
      } while (cursor);
      return out;
    }

    /** The expected order: created_at desc, then insertion order desc (order_pk follows ingest order). */
    function expected(filter: (o: Order) => boolean): string[] {
      const index = new Map(orders.map((o, i) => [o.order_id, i]));
      return orders
        .filter(filter)
        .sort(
          (a, b) =>
            b.created_at.localeCompare(a.created_at) || index.get(b.order_id)! - index.get(a.order_id)!,
        )
        .map((o) => o.order_id);
    }

    describe('keyset pagination', () => {
      it('pages through every order exactly once, newest first with a stable tiebreak', async () => {
        const rows = await all({ fields: 'order_id' }, 333);
        expect(rows.map((r) => r.order_id)).toEqual(expected(() => true));
      });

      it('visits every pre-existing order exactly once while new orders are being inserted', async () => {
        const seen = new Map<string, number>();
        let cursor: string | null = null;
        let round = 0;
        do {
          const { rows, meta }: { rows: Record<string, unknown>[]; meta: { next_cursor: string | null } } =
            await page({
              fields: 'order_id',
              limit: 200,
              status: STATUSES.join(','),
              ...(cursor ? { cursor } : {}),
            });
          for (const r of rows) seen.set(r.order_id as string, (seen.get(r.order_id as string) ?? 0) + 1);
          cursor = meta.next_cursor;
          // concurrent writers: new orders at random times, older and newer than the cursor
          await ingest(
            tenant.api_key,
            '/api/v1/ingest/orders/',
            makeOrders(40, `LIVE${round++}`, round + 100),
          );
        } while (cursor);
        for (const o of orders) expect(seen.get(o.order_id), o.order_id).toBe(1);
        expect([...seen.values()].every((n) => n === 1)).toBe(true);
      });
    });

    describe('filters match an independent computation', () => {
      const ids = (rows: Record<string, unknown>[]) => rows.map((r) => r.order_id);
      const mine = (o: Order) => o.order_id.startsWith('S-');
      const cases: [string, Record<string, string>, (o: Order) => boolean][] = [
        [
          'date range',
          { from: '2026-01-03', to: '2026-01-05T12:00:00Z' },
          (o) => o.created_at >= '2026-01-03T00:00:00.000Z' && o.created_at < '2026-01-05T12:00:00.000Z',
        ],
        ['status list', { status: 'paid,refunded' }, (o) => ['paid', 'refunded'].includes(o.status)],
        [
          'product ids (any)',
          { product_id: '3,7' },
          (o) => o.items.some((i) => i.product_id === 3 || i.product_id === 7),
        ],
        [
          'total range',
          { min_total_cents: '2000', max_total_cents: '6000' },
          (o) => o.total_cents >= 2000 && o.total_cents <= 6000,
        ],
        ['text: name prefix', { q: 'grac' }, (o) => o.customer_name.startsWith('Grace')],
        [
          'text: accent-insensitive name and number',
          { q: 'edith 3' },
          (o) => o.customer_name.startsWith('Édith') && /\b3\d*$/.test(o.customer_name),
        ],
        [
          'text: email',
          { q: 'cust7@shop1' },
          (o) => o.customer_email.startsWith('cust7') && o.customer_email.includes('@shop1'),
        ],
        [
          'exact email',
          { customer_email: 'cust12@shop0.example' },
          (o) => o.customer_email === 'cust12@shop0.example',
        ],
        [
          'combined',
          { from: '2026-01-02', status: 'paid,shipped,delivered', product_id: '1,2', min_total_cents: '500' },
          (o) =>
            o.created_at >= '2026-01-02' &&
            ['paid', 'shipped', 'delivered'].includes(o.status) &&
            o.items.some((i) => i.product_id <= 2) &&
            o.total_cents >= 500,
        ],
      ];
      for (const [name, params, filter] of cases) {
        it(name, async () => {
          const want = expected(filter);
          expect(want.length).toBeGreaterThan(0);
          const got = (await all({ ...params, fields: 'order_id' }, 97)).filter((r) =>
            (r.order_id as string).startsWith('S-'),
          );
          expect(ids(got)).toEqual(want.filter((id) => mine(orders.find((o) => o.order_id === id)!)));
        });
      }
    });

    describe('projection and formats', () => {
      it('returns exactly the requested fields in order, with nested items and item_count', async () => {
        const { rows } = await page({ fields: 'total_cents,order_id,items,item_count,created_at', limit: 5 });
        const want = expected(() => true).slice(0, 5);
        expect(rows.map((r) => r.order_id)).toEqual(want);
        for (const r of rows) {
          expect(Object.keys(r)).toEqual(['total_cents', 'order_id', 'items', 'item_count', 'created_at']);
          const source = orders.find((o) => o.order_id === r.order_id)!;
          expect(r.items).toEqual(source.items);
          expect(r.item_count).toBe(source.items.length);
          expect(r.created_at).toBe(source.created_at);
          expect(r.total_cents).toBe(source.total_cents);
        }
      });

      it('all fields by default', async () => {
        const { rows } = await page({ limit: 1 });
        const source = orders.find((o) => o.order_id === rows[0]!.order_id)!;
        expect(rows[0]).toEqual({ ...source, item_count: source.items.length });
      });

      it('format=json is one valid document with data and meta', async () => {
        const res = await fetch(searchUrl({ format: 'json', limit: 10, fields: 'order_id' }), {
          headers: auth(tenant.api_key),
        });
        expect(res.headers.get('content-type')).toContain('application/json');
        const doc = (await res.json()) as {
          data: { order_id: string }[];
          meta: { next_cursor: string; count: number };
        };
        expect(doc.data.map((r) => r.order_id)).toEqual(expected(() => true).slice(0, 10));
        expect(doc.meta.count).toBe(10);
        const next = (await (
          await fetch(
            searchUrl({ format: 'json', limit: 10, fields: 'order_id', cursor: doc.meta.next_cursor }),
            { headers: auth(tenant.api_key) },
          )
        ).json()) as typeof doc;
        expect(next.data.map((r) => r.order_id)).toEqual(expected(() => true).slice(10, 20));
        const empty = (await (
          await fetch(searchUrl({ format: 'json', status: 'paid', from: '2030-01-01' }), {
            headers: auth(tenant.api_key),
          })
        ).json()) as typeof doc;
        expect(empty).toEqual({ data: [], meta: { next_cursor: null, count: 0 } });
      });
    });

    describe('bad input', () => {
      async function problem(
        params: Record<string, string>,
        code: string,
        status = 400,
        key = tenant.api_key,
        tenantId = tenant.tenant_id,
      ) {
        const res = await fetch(searchUrl(params, tenantId), { headers: auth(key) });
        expect(res.status).toBe(status);
        expect(((await res.json()) as { code: string }).code).toBe(code);
      }

      it('rejects forged, altered and mismatched cursors', async () => {
        const { meta } = await page({ limit: 5, status: 'paid' });
        const cursor = meta.next_cursor!;
        await problem({ cursor: 'not-a-cursor' }, 'invalid_cursor');
        await problem(
          {
            cursor: `${cursor.slice(0, 5)}${cursor[5] === 'A' ? 'B' : 'A'}${cursor.slice(6)}`,
            status: 'paid',
          },
          'invalid_cursor',
        );
        const [payload, mac] = cursor.split('.');
        const forged = Buffer.from(
          JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), k: [9e12, 1] }),
        ).toString('base64url');
        await problem({ cursor: `${forged}.${mac}`, status: 'paid' }, 'invalid_cursor');
        await problem({ cursor, status: 'shipped' }, 'cursor_mismatch');
        await problem({ cursor, status: 'paid', fields: 'order_id' }, 'cursor_mismatch');
        await problem({ cursor, status: 'paid' }, 'cursor_mismatch', 400, other.api_key, other.tenant_id);
        // page size may change between pages
        expect((await page({ cursor, status: 'paid', limit: 7 })).rows).toHaveLength(7);
      });

      it('rejects unknown fields, bad values, SQL in parameters and repeated parameters', async () => {
        await problem({ fields: 'order_id,password' }, 'unknown_field');
        await problem({ limit: '0' }, 'validation_failed');
        await problem({ limit: '100001' }, 'validation_failed');
        await problem({ status: "paid' OR '1'='1" }, 'validation_failed');
        await problem({ product_id: '1;DROP TABLE orders' }, 'validation_failed');
        await problem({ from: 'yesterday' }, 'validation_failed');
        await problem({ min_total_cents: '-1' }, 'validation_failed');
        await problem({ format: 'xml' }, 'validation_failed');
        await problem({ q: '"*()' }, 'validation_failed');
        const res = await fetch(`${searchUrl({ status: 'paid' })}&status=shipped`, {
          headers: auth(tenant.api_key),
        });
        expect(res.status).toBe(400);
      });

      it('is safe against FTS syntax in q', async () => {
        for (const q of [
          '" OR 1=1 --',
          'name:ada',
          'ada NEAR turing',
          'ada*',
          "o'brien",
          'NOT ada',
          '^ada',
        ]) {
          const res = await fetch(searchUrl({ q, fields: 'order_id', limit: 5 }), {
            headers: auth(tenant.api_key),
          });
          expect(res.status, q).toBe(200);
          await res.text();
        }
        const obrien = await all({ q: "o'brien", fields: 'order_id,customer_name' });
        expect(obrien.length).toBeGreaterThan(0);
        expect(obrien.every((r) => (r.customer_name as string).includes("O'Brien"))).toBe(true);
      });

      it("another tenant's path is 404 and its rows never appear", async () => {
        await problem({}, 'not_found', 404, tenant.api_key, other.tenant_id);
        const theirs = await all({ fields: 'order_id' }, 1000);
        expect(theirs.some((r) => (r.order_id as string).startsWith('OTHER'))).toBe(false);
      });
    });

    describe('streaming behaviour', () => {
      /** No pool task runs any more: the stream's worker was freed. */
      const streamTaskEnded = () =>
        eventually(
          async () => {
            const digest = (await (await fetch(`${server.url}/metrics.json`)).json()) as {
              pool: { running: number };
            };
            return digest.pool.running === 0;
          },
          5000,
          'the stream task to end',
        );

      it('a client that disconnects mid-stream frees its worker', async () => {
        const controller = new AbortController();
        const res = await fetch(searchUrl({ limit: 100000 }), {
          headers: auth(tenant.api_key),
          signal: controller.signal,
        });
        const reader = res.body!.getReader();
        await reader.read();
        controller.abort();
        await streamTaskEnded();
        // the stream is logged as cancelled (its worker stopped at its next write, or had already written
        // its whole stripe ahead of the socket)
        await eventually(
          () => server.logs().some((l) => l.msg === 'search stream ended early' && l.outcome === 'cancelled'),
          5000,
          'the stream to end as cancelled',
        );
      });

      it('HEAD answers the headers and frees the worker (the dropped body is cancelled, not left waiting)', async () => {
        const before = server.logs().filter((l) => l.msg === 'search stream ended early').length;
        const res = await fetch(searchUrl({ limit: 100000 }), {
          method: 'HEAD',
          headers: auth(tenant.api_key),
        });
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toContain('application/x-ndjson');
        await eventually(
          () =>
            server.logs().filter((l) => l.msg === 'search stream ended early' && l.outcome === 'cancelled')
              .length > before,
          5000,
          'the HEAD stream to be cancelled',
        );
        await streamTaskEnded();
      });

      it('records rows streamed, time to first byte and query timings by filter shape', async () => {
        await page({ status: 'paid', limit: 10 });
        const text = await (await fetch(`${server.url}/metrics`)).text();
        expect(text).toMatch(/stream_rows_total\{route="orders_search"\} [1-9]/);
        expect(text).toMatch(/stream_time_to_first_byte_seconds\{quantile="0\.5",task="search"\} \d/);
        expect(text).toMatch(/db_query_duration_seconds\{quantile="0\.5",query="search:status"\} \d/);
      });
    });

    describe('long pages in stripes', () => {
      it('a page longer than a stripe streams from several workers: the same rows in order, its count and a cursor that continues', async () => {
        const long = await server.createTenant('search-long');
        await ingest(
          long.api_key,
          '/api/v1/ingest/products/',
          Array.from({ length: 8 }, (_, i) => product(i + 1)),
        );
        await ingest(long.api_key, '/api/v1/ingest/orders/', makeOrders(20_000, 'L', 3));
        /** the tenant's order ids in keyset order, read from the backend's own tables */
        const ids = async (statuses?: string[]) => {
          const sold = statuses ? `status IN (${statuses.map((x) => `'${x}'`).join(', ')})` : 'TRUE';
          const rows = prepared.query
            ? await prepared.query<{ order_id: string }>(
                `SELECT order_id FROM orders WHERE tenant_id = $1 AND ${sold} ORDER BY created_at DESC, order_pk DESC`,
                [long.tenant_id],
              )
            : shardQuery<{ order_id: string }>(
                server.dataDir,
                long.tenant_id,
                `SELECT order_id FROM orders WHERE ${sold} ORDER BY created_at DESC, order_pk DESC`,
              );
          return rows.map((r) => r.order_id);
        };
        const want = await ids();
        // streams started per search page: one per stripe
        const streamsStarted = async () =>
          Number(
            /stream_time_to_first_byte_seconds_count\{task="search"\} (\d+)/.exec(
              await (await fetch(`${server.url}/metrics`)).text(),
            )?.[1] ?? 0,
          );
        const before = await streamsStarted();
        const first = await page(
          { limit: 17_000, fields: 'order_id,created_at,items' },
          long.api_key,
          long.tenant_id,
        );
        expect(await streamsStarted()).toBe(before + 5); // 4 × 4,096 + 616 rows
        expect(first.rows.map((r) => r.order_id)).toEqual(want.slice(0, 17_000));
        expect(first.meta.count).toBe(17_000);
        expect(first.meta.next_cursor).not.toBeNull();
        const rest = await page(
          { limit: 17_000, fields: 'order_id,created_at,items', cursor: first.meta.next_cursor! },
          long.api_key,
          long.tenant_id,
        );
        expect(rest.rows.map((r) => r.order_id)).toEqual(want.slice(17_000));
        expect(rest.meta.next_cursor).toBeNull();
        // a page that ends exactly at the last row has no next page
        const whole = await page({ limit: 20_000, fields: 'order_id' }, long.api_key, long.tenant_id);
        expect(whole.rows.map((r) => r.order_id)).toEqual(want);
        expect(whole.meta.next_cursor).toBeNull();
        // JSON: one document across the stripes
        const res = await fetch(
          searchUrl({ limit: 17_000, format: 'json', fields: 'order_id' }, long.tenant_id),
          {
            headers: auth(long.api_key),
          },
        );
        const doc = (await res.json()) as {
          data: { order_id: string }[];
          meta: { count: number; next_cursor: string };
        };
        expect(doc.data.map((r) => r.order_id)).toEqual(want.slice(0, 17_000));
        expect(doc.meta.count).toBe(17_000);
        expect(doc.meta.next_cursor).not.toBeNull();
        // a filter the ordered index serves is striped the same way
        const sold = await page(
          { limit: 9_000, status: 'paid,shipped,delivered', fields: 'order_id,status' },
          long.api_key,
          long.tenant_id,
        );
        const wantSold = await ids(['paid', 'shipped', 'delivered']);
        expect(wantSold.length).toBeGreaterThan(9_000);
        expect(sold.rows.map((r) => r.order_id)).toEqual(wantSold.slice(0, 9_000));
        expect(sold.meta.next_cursor).not.toBeNull();
      });
    });
  });
