import { gzipSync } from 'node:zlib';
import { strToU8, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PreparedBackend, SERVER_BACKENDS } from '../helpers/backends.js';
import { countRows, ndjson, order, product, shardQuery } from '../helpers/data.js';
import { auth, eventually, metricValue, removeDir, startServer, type TestServer } from '../helpers/server.js';

for (const backend of SERVER_BACKENDS)
  describe.skipIf(backend.skip !== null)(`ingest on ${backend.name}`, () => {
    let prepared: PreparedBackend;
    let server: TestServer;
    let tenant: { tenant_id: number; api_key: string };
    let next = 0;
    /** Fresh order numbers per test, so tests do not see each other's rows. */
    const fresh = (count: number) => {
      const start = next;
      next += count;
      return Array.from({ length: count }, (_, i) => order(start + i));
    };

    beforeAll(async () => {
      prepared = await backend.prepare();
      server = await startServer({
        args: [
          ...[
            '--max-line-bytes',
            '65536',
            '--max-rows-per-request',
            '50000',
            '--ingest-chunk-bytes',
            '16384',
          ],
          ...prepared.args,
        ],
      });
      tenant = await server.createTenant('ingest');
      const res = await post('/api/v1/ingest/products/', ndjson([product(1), product(2), product(3)]));
      expect(res.status).toBe(200);
    });
    afterAll(async () => {
      await server?.stop();
      if (server) removeDir(server.dataDir);
      await prepared?.cleanup();
    });
    /** Rows of the tenant's own tables: SQLite reads its shard; PostgreSQL gets the tenant id as $1, then `params`. */
    async function rowsOf<T = Record<string, unknown>>(
      sqlite: string,
      postgres: string,
      ...params: unknown[]
    ): Promise<T[]> {
      return prepared.query
        ? ((await prepared.query(postgres, [tenant.tenant_id, ...params])) as T[])
        : shardQuery<T>(server.dataDir, tenant.tenant_id, sqlite);
    }
    const orderCount = async () =>
      Number(
        (
          await rowsOf<{ n: number }>(
            'SELECT count(*) AS n FROM orders',
            'SELECT count(*)::int AS n FROM orders WHERE tenant_id = $1',
          )
        )[0]!.n,
      );

    function post(
      path: string,
      body: RequestInit['body'],
      headers: Record<string, string> = {},
    ): Promise<Response> {
      return fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: auth(tenant.api_key, { 'content-type': 'application/x-ndjson', ...headers }),
        body,
        duplex: 'half',
      } as RequestInit);
    }
    const ingest = (body: RequestInit['body'], headers: Record<string, string> = {}) =>
      post('/api/v1/ingest/orders/', body, headers);
    type Summary = {
      rows_received: number;
      rows_inserted: number;
      rows_duplicate: number;
      rows_failed: number;
      errors: Record<string, unknown>[];
      errors_truncated: boolean;
      idempotency_key: string | null;
      processing_time_ms: number;
    };

    /** A new tenant on `on` holding products 1 to 3, with its ingest URL and headers. */
    async function tenantWithProducts(on: TestServer, name: string) {
      const tenant = await on.createTenant(name);
      const headers = auth(tenant.api_key, { 'content-type': 'application/x-ndjson' });
      const url = `${on.url}/api/v1/ingest`;
      const res = await fetch(`${url}/products/`, {
        method: 'POST',
        headers,
        body: ndjson([product(1), product(2), product(3)]),
      });
      expect(((await res.json()) as Summary).rows_inserted).toBe(3);
      return { tenant, headers, url };
    }

    describe('partial success', () => {
      it('inserts the valid rows and reports each bad one with line, order_id, field and code', async () => {
        const good = fresh(5);
        const lines = [
          good[0],
          '{"order_id": "broken",',
          { ...good[1], total_cents: -5 },
          good[2],
          { ...good[3], status: 'teleported' },
          { ...good[4], items: [{ product_id: 424242, quantity: 1, unit_price_cents: 1 }] },
          [1, 2, 3],
          { ...good[0] }, // same order_id again in the same body: a duplicate
          (() => {
            const { customer_email: _, ...rest } = fresh(1)[0]!;
            return rest;
          })(),
          { ...fresh(1)[0], created_at: 'yesterday' },
          '',
          { ...fresh(1)[0], items: [{ product_id: 1, quantity: 1.5, unit_price_cents: 10 }] },
        ];
        const res = await ingest(ndjson(lines));
        expect(res.status).toBe(200);
        const s = (await res.json()) as Summary;
        expect(s).toMatchObject({
          rows_received: 11,
          rows_inserted: 2,
          rows_duplicate: 1,
          rows_failed: 8,
          errors_truncated: false,
        });
        const byLine = Object.fromEntries(s.errors.map((e) => [e.line, e]));
        expect(byLine[2]).toMatchObject({ code: 'invalid_json' });
        expect(byLine[3]).toMatchObject({
          code: 'invalid_field',
          field: 'total_cents',
          order_id: good[1]!.order_id,
        });
        expect(byLine[5]).toMatchObject({ code: 'invalid_field', field: 'status' });
        expect(byLine[6]).toMatchObject({
          code: 'unknown_product',
          field: 'items.product_id',
          order_id: good[4]!.order_id,
        });
        expect(byLine[7]).toMatchObject({ code: 'invalid_json' });
        expect(byLine[9]).toMatchObject({ code: 'missing_field', field: 'customer_email' });
        expect(byLine[10]).toMatchObject({ code: 'invalid_field', field: 'created_at' });
        expect(byLine[12]).toMatchObject({ code: 'invalid_field', field: 'items.0.quantity' });
        const stored = await rowsOf<{ order_id: string }>(
          `SELECT order_id FROM orders WHERE order_id IN ('${good[0]!.order_id}', '${good[2]!.order_id}', '${good[1]!.order_id}')`,
          'SELECT order_id FROM orders WHERE tenant_id = $1 AND order_id = ANY($2::text[])',
          [good[0]!.order_id, good[2]!.order_id, good[1]!.order_id],
        );
        expect(stored.map((r) => r.order_id).sort()).toEqual([good[0]!.order_id, good[2]!.order_id].sort());
      });

      it('returns the first 1000 errors inline and says the list is truncated', async () => {
        const res = await ingest(ndjson(Array.from({ length: 1500 }, () => 'nope')));
        const s = (await res.json()) as Summary;
        expect(s.rows_failed).toBe(1500);
        expect(s.errors).toHaveLength(1000);
        expect(s.errors[999]!.line).toBe(1000);
        expect(s.errors_truncated).toBe(true);
      });

      it('stores items and one customer row per customer_id (latest name wins) and indexes them for search', async () => {
        const rows = fresh(3).map((o) => ({
          ...o,
          customer_id: 'C-shared',
          customer_name: 'Grace Hopper',
          customer_email: 'grace@navy.example',
        }));
        rows[2] = { ...rows[2]!, customer_name: 'Grace B. Hopper' };
        await ingest(ndjson(rows));
        const customers = await rowsOf(
          "SELECT name, email FROM customers WHERE customer_id = 'C-shared'",
          "SELECT name, email FROM customers WHERE tenant_id = $1 AND customer_id = 'C-shared'",
        );
        expect(customers).toEqual([{ name: 'Grace B. Hopper', email: 'grace@navy.example' }]);
        const fts = await rowsOf(
          "SELECT rowid FROM customers_fts WHERE customers_fts MATCH 'hopp*'",
          "SELECT customer_pk FROM customers WHERE tenant_id = $1 AND search @@ to_tsquery('simple', 'hopp:*')",
        );
        expect(fts).toHaveLength(1);
        const items = await rowsOf(
          `SELECT i.* FROM order_items i JOIN orders o USING (order_pk) WHERE o.order_id = '${rows[0]!.order_id}'`,
          `SELECT i.order_pk::float8 AS order_pk, i.line_no, i.product_id::float8 AS product_id, i.quantity,
              i.unit_price_cents::float8 AS unit_price_cents
         FROM order_items i JOIN orders o ON o.tenant_id = i.tenant_id AND o.order_pk = i.order_pk
        WHERE o.tenant_id = $1 AND o.order_id = $2`,
          rows[0]!.order_id,
        );
        expect(items).toEqual([
          {
            order_pk: expect.any(Number),
            line_no: 1,
            product_id: rows[0]!.items[0]!.product_id,
            quantity: 2,
            unit_price_cents: 1999,
          },
        ]);
      });
    });

    describe('Idempotency-Key', () => {
      it('replays the stored summary with Idempotent-Replayed and inserts nothing', async () => {
        const body = ndjson(fresh(20));
        const first = await ingest(body, { 'idempotency-key': 'replay-1' });
        const firstText = await first.text();
        expect(JSON.parse(firstText)).toMatchObject({ rows_inserted: 20, idempotency_key: 'replay-1' });
        const before = await orderCount();
        const again = await ingest(body, { 'idempotency-key': 'replay-1' });
        expect(again.status).toBe(200);
        expect(again.headers.get('idempotent-replayed')).toBe('true');
        expect(await again.text()).toBe(firstText);
        expect(await orderCount()).toBe(before);
      });

      it('the same key with another body is 422; keys are per tenant', async () => {
        await ingest(ndjson(fresh(2)), { 'idempotency-key': 'reuse-1' });
        const res = await ingest(ndjson(fresh(2)), { 'idempotency-key': 'reuse-1' });
        expect(res.status).toBe(422);
        expect(((await res.json()) as { code: string }).code).toBe('idempotency_key_reused');
        const other = await server.createTenant('ingest-other');
        await fetch(`${server.url}/api/v1/ingest/products/`, {
          method: 'POST',
          headers: auth(other.api_key, { 'content-type': 'application/x-ndjson' }),
          body: ndjson([product(1), product(2), product(3)]),
        });
        const theirs = await fetch(`${server.url}/api/v1/ingest/orders/`, {
          method: 'POST',
          headers: auth(other.api_key, {
            'content-type': 'application/x-ndjson',
            'idempotency-key': 'reuse-1',
          }),
          body: ndjson(fresh(2)),
        });
        expect(theirs.status).toBe(200);
        expect(theirs.headers.get('idempotent-replayed')).toBeNull();
      });

      it('the same key while the first request is still running is 409 with Retry-After', async () => {
        let controller!: ReadableStreamDefaultController<Uint8Array>;
        const stream = new ReadableStream<Uint8Array>({
          start: (c) => {
            controller = c;
          },
        });
        // the whole chunks of 2,000 orders (--ingest-chunk-bytes 16384 here) commit while the body is still open
        const rows = fresh(2005);
        const first = ingest(stream, { 'idempotency-key': 'slow-1' });
        const before = await metricValue(server.url, 'ingest_rows_total', { table: 'orders' });
        controller.enqueue(new TextEncoder().encode(ndjson(rows.slice(0, 2000))));
        // the first request holds its key once some of its rows are in
        await eventually(
          async () => (await metricValue(server.url, 'ingest_rows_total', { table: 'orders' })) > before,
          10_000,
          "the first request's first chunk committed",
        );
        const second = await ingest(ndjson(rows), { 'idempotency-key': 'slow-1' });
        expect(second.status).toBe(409);
        expect(second.headers.get('retry-after')).toBeTruthy();
        expect(((await second.json()) as { code: string }).code).toBe('idempotency_in_flight');
        controller.enqueue(new TextEncoder().encode(ndjson(rows.slice(2000))));
        controller.close();
        expect(((await (await first).json()) as Summary).rows_inserted).toBe(2005);
        const replay = await ingest(ndjson(rows), { 'idempotency-key': 'slow-1' });
        expect(replay.headers.get('idempotent-replayed')).toBe('true');
      });

      it('rejects a malformed key', async () => {
        const res = await ingest(ndjson(fresh(1)), { 'idempotency-key': 'has space' });
        expect(res.status).toBe(400);
      });
    });

    describe('bodies', () => {
      it('accepts Content-Encoding: gzip, octet-stream gzip, zip with several members, and multipart with several parts', async () => {
        const a = fresh(30);
        const b = fresh(30);
        const c = fresh(30);
        const d = fresh(30);
        const enc = await ingest(gzipSync(ndjson(a)), { 'content-encoding': 'gzip' });
        expect(((await enc.json()) as Summary).rows_inserted).toBe(30);
        const octet = await ingest(gzipSync(ndjson(b)), { 'content-type': 'application/octet-stream' });
        expect(((await octet.json()) as Summary).rows_inserted).toBe(30);
        // the first member lacks a final newline: members must not run into each other
        const zip = zipSync({
          'part1.ndjson': strToU8(ndjson(c.slice(0, 15)).trimEnd()),
          'dir/part2.ndjson': strToU8(ndjson(c.slice(15))),
          'README.md': strToU8('ignored'),
        });
        const zipped = await ingest(zip, { 'content-type': 'application/octet-stream' });
        expect(await zipped.json()).toMatchObject({ rows_received: 30, rows_inserted: 30, rows_failed: 0 });
        const form = new FormData();
        form.append('first', new Blob([ndjson(d.slice(0, 10))]), 'a.ndjson');
        form.append('second', new Blob([gzipSync(ndjson(d.slice(10)))]), 'b.ndjson.gz');
        const multi = await fetch(`${server.url}/api/v1/ingest/orders/`, {
          method: 'POST',
          headers: auth(tenant.api_key),
          body: form,
        });
        expect(await multi.json()).toMatchObject({ rows_received: 30, rows_inserted: 30 });
      });

      it('a corrupt gzip stream is a 400 with the counts so far; intact rows before it stay, and a retry never duplicates them', async () => {
        const rows = fresh(3000);
        const packed = gzipSync(ndjson(rows));
        const corrupt = Buffer.from(packed);
        for (let i = Math.floor(corrupt.length * 0.6); i < Math.floor(corrupt.length * 0.6) + 64; i++)
          corrupt[i] = 0;
        const res = await ingest(corrupt, { 'content-encoding': 'gzip', 'idempotency-key': 'corrupt-1' });
        expect(res.status).toBe(400);
        const p = (await res.json()) as Summary & { code: string };
        expect(p.code).toBe('corrupt_gzip');
        expect(p.rows_inserted).toBeGreaterThan(0);
        // garbage from a corrupt deflate stream may fail to parse or even repeat earlier lines (duplicates)
        expect(p.rows_inserted + p.rows_duplicate + p.rows_failed).toBe(p.rows_received);
        const ids = rows.map((r) => r.order_id);
        const stored = async () =>
          Number(
            (
              await rowsOf<{ n: number }>(
                `SELECT count(*) AS n FROM orders WHERE order_id IN (SELECT value FROM json_each('${JSON.stringify(ids)}'))`,
                'SELECT count(*)::int AS n FROM orders WHERE tenant_id = $1 AND order_id = ANY($2::text[])',
                ids,
              )
            )[0]!.n,
          );
        expect(await stored()).toBe(p.rows_inserted);
        // the failed attempt released its key: the intact retry goes through and inserts only the rest
        const retry = (await (
          await ingest(packed, { 'content-encoding': 'gzip', 'idempotency-key': 'corrupt-1' })
        ).json()) as Summary;
        expect(retry.rows_duplicate).toBe(p.rows_inserted);
        expect(retry.rows_inserted).toBe(3000 - p.rows_inserted);
        expect(await stored()).toBe(3000);
      });

      it('refuses a zip bomb and a gzip bomb by ratio, keeping rows before the bomb', async () => {
        const rows = fresh(10);
        // ~60 MB of whitespace-only lines, each under the line limit: only the ratio guard can stop it
        const bombPayload = `${ndjson(rows)}${`${' '.repeat(60_000)}\n`.repeat(1000)}`;
        const zip = zipSync({ 'bomb.ndjson': strToU8(bombPayload) }, { level: 9 });
        const res = await ingest(zip, { 'content-type': 'application/octet-stream' });
        expect(res.status).toBe(413);
        const p = (await res.json()) as Summary & { code: string };
        expect(p.code).toBe('decompression_ratio_exceeded');
        expect(p.rows_inserted).toBe(10);
        const gz = await ingest(gzipSync(Buffer.from(bombPayload)), { 'content-encoding': 'gzip' });
        expect(gz.status).toBe(413);
        expect(await gz.json()).toMatchObject({ code: 'decompression_ratio_exceeded', rows_duplicate: 10 });
      });

      it('a line over the limit is 400 line_too_long with the counts so far', async () => {
        const rows = fresh(5);
        const res = await ingest(`${ndjson(rows)}{"order_id":"${'x'.repeat(70_000)}"}\n`);
        expect(res.status).toBe(400);
        const p = (await res.json()) as Summary & { code: string; detail: string };
        expect(p.code).toBe('line_too_long');
        expect(p.detail).toContain('line 6');
        expect(p.rows_inserted).toBe(5);
      });

      it('more rows than the per-request limit is 413 too_many_rows', async () => {
        const res = await ingest(ndjson(Array.from({ length: 50_001 }, () => '{}')));
        expect(res.status).toBe(413);
        expect(((await res.json()) as { code: string }).code).toBe('too_many_rows');
      });

      it('unsupported types and encodings are 415', async () => {
        expect((await ingest('x', { 'content-type': 'text/csv' })).status).toBe(415);
        expect((await ingest('x', { 'content-encoding': 'br' })).status).toBe(415);
      });

      it('exposes ingest metrics: rows by table, failures by code, bytes', async () => {
        const text = await (await fetch(`${server.url}/metrics`)).text();
        expect(text).toMatch(/ingest_rows_total\{table="orders"\} [1-9]/);
        expect(text).toMatch(/ingest_rows_failed_total\{code="invalid_json"\} [1-9]/);
        expect(text).toMatch(/ingest_bytes_total [1-9]/);
      });
    });

    // inline ingest writes SQLite shards (refused with --storage postgres); lanes are checked on SQLite
    if (backend.name === 'sqlite')
      describe('--ingest-mode inline', () => {
        it('gives the same answers on the event loop, serialising with pool writers through the shared lock', async () => {
          const inline = await startServer({
            args: ['--ingest-mode', 'inline', '--ingest-chunk-bytes', '8192'],
          });
          try {
            const { tenant: t, headers } = await tenantWithProducts(inline, 'inline');
            const rows = Array.from({ length: 500 }, (_, i) => order(10_000 + i));
            const body = ndjson([...rows, 'oops', { ...rows[0] }]);
            // a pool-side writer (stock) runs on the same shard at the same time
            const [res, stock] = await Promise.all([
              fetch(`${inline.url}/api/v1/ingest/orders/`, { method: 'POST', headers, body }),
              fetch(`${inline.url}/api/v1/tenants/${t.tenant_id}/stock/bulk_update`, {
                method: 'PUT',
                headers: auth(t.api_key, { 'content-type': 'application/json' }),
                body: JSON.stringify({
                  mode: 'merge',
                  events: [
                    { event_id: 'inl-1', product_id: 1, delta: -1, occurred_at: '2026-01-01T00:00:00Z' },
                  ],
                }),
              }),
            ]);
            expect(await res.json()).toMatchObject({
              rows_received: 502,
              rows_inserted: 500,
              rows_duplicate: 1,
              rows_failed: 1,
            });
            expect(stock.status).toBe(200);
            expect(countRows(inline.dataDir, t.tenant_id, 'orders')).toBe(500);
            const text = await (await fetch(`${inline.url}/metrics`)).text();
            expect(text).toMatch(/ingest_rows_total\{table="orders"\} 500/);
          } finally {
            await inline.stop();
            removeDir(inline.dataDir);
          }
        });
      });

    if (backend.name === 'sqlite')
      describe('writer lanes', () => {
        it("one thread writes each shard's chunks; shards spread over the lanes; a chunk is one batch of rows", async () => {
          const lanes = await startServer({
            args: ['--writer-lanes', '2', '--ingest-batch-rows', '50', '--log-level', 'debug'],
          });
          try {
            const setups = [
              await tenantWithProducts(lanes, 'lane-a'),
              await tenantWithProducts(lanes, 'lane-b'),
            ];
            const tenants = setups.map((x) => x.tenant);
            const results = await Promise.all(
              setups.map(async ({ headers, url }) => {
                const rows = Array.from({ length: 500 }, (_, i) => order(20_000 + i));
                const res = await fetch(`${url}/orders/`, { method: 'POST', headers, body: ndjson(rows) });
                return (await res.json()) as Summary;
              }),
            );
            for (const r of results) expect(r).toMatchObject({ rows_received: 500, rows_inserted: 500 });
            const writes = lanes
              .logs()
              .filter((l) => l.msg === 'chunk written' && l.kind === 'orders')
              .map((l) => ({
                tenant: l.tenant_id as number,
                thread: l.thread_id as number,
                rows: l.inserted,
              }));
            const threadsOf = (tenantId: number) =>
              new Set(writes.filter((w) => w.tenant === tenantId).map((w) => w.thread));
            const [a, b] = tenants.map((t) => threadsOf(t.tenant_id));
            expect([a!.size, b!.size]).toEqual([1, 1]);
            expect([...a!]).not.toEqual([...b!]);
            expect(writes.map((w) => w.rows)).toEqual(Array(20).fill(50));
            const text = await (await fetch(`${lanes.url}/metrics`)).text();
            expect(text).toMatch(/pool_write_queue_length 0/);
          } finally {
            await lanes.stop();
            removeDir(lanes.dataDir);
          }
        });

        it("writes a request's chunks in body order even when a later chunk is parsed first", async () => {
          const s = await startServer({ args: ['--ingest-batch-rows', '4000'] });
          try {
            const { tenant: t, headers, url } = await tenantWithProducts(s, 'order');
            const customer = { customer_id: 'C-ORDER', customer_email: 'o@example.com' };
            for (let round = 0; round < 3; round++) {
              // chunk 1: the customer's first name, then 3,999 rows that fail validation (slow to parse);
              // chunk 2: the same customer renamed, one row (parsed at once, on the other worker)
              const first = order(30_000 + round * 2, { ...customer, customer_name: `First ${round}` });
              const slow = Array.from({ length: 3999 }, (_, i) => ({ order_id: `bad-${i}`, items: 'x' }));
              const last = order(30_001 + round * 2, { ...customer, customer_name: `Last ${round}` });
              const res = await fetch(`${url}/orders/`, {
                method: 'POST',
                headers,
                body: ndjson([first, ...slow, last]),
              });
              expect(await res.json()).toMatchObject({ rows_inserted: 2, rows_failed: 3999 });
              const [stored] = shardQuery<{ name: string }>(
                s.dataDir,
                t.tenant_id,
                "SELECT name FROM customers WHERE customer_id = 'C-ORDER'",
              );
              expect(stored!.name).toBe(`Last ${round}`);
            }
          } finally {
            await s.stop();
            removeDir(s.dataDir);
          }
        });
      });
  });
