import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { crc32, gunzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { tableFromIPC } from 'apache-arrow';
import { readParquet } from 'parquet-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PreparedBackend, SERVER_BACKENDS } from '../helpers/backends.js';
import { csvObjects } from '../helpers/csv.js';
import { makeOrders, ndjson, type Order, product, shardQuery } from '../helpers/data.js';
import { createExport, download, finished, type ExportStatus as Status, status } from '../helpers/exports.js';
import { parquetPageOffsetProblems, parquetRowGroups, parquetRowsLiterally } from '../helpers/parquet.js';
import { auth, eventually, ROOT, removeDir, startServer, type TestServer } from '../helpers/server.js';

const orders = makeOrders(2500, 'E');

for (const backend of SERVER_BACKENDS)
  describe.skipIf(backend.skip !== null)(`exports on ${backend.name}`, () => {
    let server: TestServer;
    let prepared: PreparedBackend;
    let tenant: { tenant_id: number; api_key: string };
    let other: { tenant_id: number; api_key: string };

    async function ingest(s: TestServer, key: string, path: string, rows: unknown[]) {
      const res = await fetch(`${s.url}${path}`, {
        method: 'POST',
        headers: auth(key, { 'content-type': 'application/x-ndjson' }),
        body: ndjson(rows),
      });
      expect(res.status).toBe(200);
    }

    async function seed(s: TestServer, t: { api_key: string }, rows: Order[]) {
      await ingest(
        s,
        t.api_key,
        '/api/v1/ingest/products/',
        Array.from({ length: 8 }, (_, i) => product(i + 1)),
      );
      await ingest(s, t.api_key, '/api/v1/ingest/orders/', rows);
    }

    /** The orders a filter keeps, in export order (created_at desc, then the tenant's order_pk desc). */
    async function expected(
      dataDir: string,
      tenantId: number,
      source: Order[],
      keep: (o: Order) => boolean = () => true,
      on: PreparedBackend = prepared,
    ): Promise<Order[]> {
      const rows = on.query
        ? await on.query<{ order_id: string; order_pk: number }>(
            'SELECT order_id, order_pk::float8 AS order_pk FROM orders WHERE tenant_id = $1',
            [tenantId],
          )
        : shardQuery<{ order_id: string; order_pk: number }>(
            dataDir,
            tenantId,
            'SELECT order_id, order_pk FROM orders',
          );
      const pk = new Map(rows.map((r) => [r.order_id, r.order_pk]));
      return source
        .filter(keep)
        .sort(
          (a, b) =>
            Date.parse(b.created_at) - Date.parse(a.created_at) || pk.get(b.order_id)! - pk.get(a.order_id)!,
        );
    }

    /** A server on this backend (PostgreSQL: the suite's schema), with `args`. */
    const start = (options: { args?: string[]; dataDir?: string } = {}, on: PreparedBackend = prepared) =>
      startServer({ ...options, args: [...(options.args ?? []), ...on.args] });

    /** A problem+json body, read loosely: tests check its fields one by one. */
    const problemOf = async (res: Response): Promise<any> => res.json();

    const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

    function parquetRows(bytes: Uint8Array) {
      const table = tableFromIPC(readParquet(bytes).intoIPCStream());
      return table.toArray().map((r) => r.toJSON() as Record<string, unknown>);
    }

    beforeAll(async () => {
      prepared = await backend.prepare();
      server = await start({
        args: ['--export-batch-rows', '300', '--export-parts', '2', '--stream-chunk-bytes', '4096'],
      });
      tenant = await server.createTenant('exports');
      other = await server.createTenant('exports-other');
      await seed(server, tenant, orders);
      await seed(server, other, makeOrders(40, 'OTHER', 5));
    });
    afterAll(async () => {
      await server?.stop();
      if (server) removeDir(server.dataDir);
      await prepared?.cleanup();
    });

    describe('export jobs', () => {
      const window = { from: '2026-01-03', to: '2026-01-12' };
      const inWindow = (o: Order) =>
        o.created_at >= '2026-01-03' && o.created_at < '2026-01-12' && ['paid', 'shipped'].includes(o.status);

      it('CSV with filters and fields: exact rows in keyset order, values, sha256 and size', async () => {
        const created = await createExport(server, tenant, {
          format: 'csv',
          filters: { ...window, status: ['paid', 'shipped'] },
          fields: ['order_id', 'created_at', 'status', 'total_cents', 'customer_email', 'items'],
        });
        expect(created.state).toBe('queued');
        const done = await finished(server, tenant.api_key, created);
        const res = await download(server, tenant.api_key, done);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
        expect(res.headers.get('accept-ranges')).toBe('bytes');
        expect(res.headers.get('etag')).toBe(`"${done.sha256}"`);
        expect(res.headers.get('content-disposition')).toBe(
          `attachment; filename="orders-${done.export_id}.csv"`,
        );
        const bytes = new Uint8Array(await res.arrayBuffer());
        expect(sha256(bytes)).toBe(done.sha256);
        expect(bytes.length).toBe(done.size);
        const rows = csvObjects(Buffer.from(bytes).toString('utf8'));
        const want = await expected(server.dataDir, tenant.tenant_id, orders, inWindow);
        expect(want.length).toBeGreaterThan(300); // several batches
        expect(done.rows_written).toBe(want.length);
        expect(rows.map((r) => r.order_id)).toEqual(want.map((o) => o.order_id));
        for (const [i, o] of want.entries()) {
          const r = rows[i]!;
          expect(Object.keys(r)).toEqual([
            'order_id',
            'created_at',
            'status',
            'total_cents',
            'customer_email',
            'items',
          ]);
          expect(r.created_at).toBe(new Date(o.created_at).toISOString());
          expect(Number(r.total_cents)).toBe(o.total_cents);
          expect(r.status).toBe(o.status);
          expect(r.customer_email).toBe(o.customer_email);
          expect(JSON.parse(r.items!)).toEqual(o.items);
        }
      });

      it('Parquet with every field reads back in Arrow and in DuckDB with the same rows and values', async () => {
        const done = await finished(
          server,
          tenant.api_key,
          await createExport(server, tenant, { format: 'parquet', filters: { min_total_cents: 2000 } }),
        );
        const res = await download(server, tenant.api_key, done);
        expect(res.headers.get('content-type')).toBe('application/vnd.apache.parquet');
        const bytes = new Uint8Array(await res.arrayBuffer());
        expect(sha256(bytes)).toBe(done.sha256);
        const want = await expected(server.dataDir, tenant.tenant_id, orders, (o) => o.total_cents >= 2000);
        const rows = parquetRows(bytes);
        expect(rows.map((r) => r.order_id)).toEqual(want.map((o) => o.order_id));
        for (const [i, o] of want.entries()) {
          const r = rows[i]!;
          expect(r.created_at).toBe(Date.parse(o.created_at));
          expect(Number(r.total_cents)).toBe(o.total_cents);
          expect(r.customer_name).toBe(o.customer_name);
          expect(r.item_count).toBe(o.items.length);
          const items = (r.items as { toArray(): { toJSON(): Record<string, bigint | number> }[] })
            .toArray()
            .map((x) => x.toJSON());
          expect(
            items.map((x) => ({
              product_id: Number(x.product_id),
              quantity: x.quantity,
              unit_price_cents: Number(x.unit_price_cents),
            })),
          ).toEqual(o.items);
        }
        // DuckDB reads the assembled file: row groups, counts and sums agree
        const path = join(server.dataDir, 'check.parquet');
        writeFileSync(path, bytes);
        const duck = await (await DuckDBInstance.create(':memory:')).connect();
        const result = await duck.runAndReadAll(
          `SELECT count(*)::INTEGER, sum(total_cents)::BIGINT, sum(len(items))::INTEGER FROM read_parquet('${path}')`,
        );
        const [n, total, items] = result.getRows()[0]!;
        expect(n).toBe(want.length);
        expect(Number(total)).toBe(want.reduce((s, o) => s + o.total_cents, 0));
        expect(items).toBe(want.reduce((s, o) => s + o.items.length, 0));
        const groups = await duck.runAndReadAll(
          `SELECT count(DISTINCT row_group_id)::INTEGER FROM parquet_metadata('${path}')`,
        );
        expect(groups.getRows()[0]![0]).toBe(Math.ceil(want.length / 300));
        duck.closeSync();
      });

      it('a large job is cut into parts encoded side by side and joined into one file, as one pass writes it', async () => {
        // 2,500 orders, 300-row batches: two parts (the server's default is one per core, at least 4 batches each)
        const plannedParts = (exportId: string) =>
          server.logs().find((l) => l.msg === 'export planned' && l.export_id === exportId)?.parts;
        const csv = await finished(
          server,
          tenant.api_key,
          await createExport(server, tenant, { format: 'csv' }),
        );
        expect(plannedParts(csv.export_id)).toBe(2);
        const streamed = await fetch(`${server.url}/api/v1/tenants/${tenant.tenant_id}/reports/export`, {
          method: 'POST',
          headers: auth(tenant.api_key, { 'content-type': 'application/json', accept: 'text/csv' }),
          body: JSON.stringify({}),
        });
        const fileBytes = new Uint8Array(await (await download(server, tenant.api_key, csv)).arrayBuffer());
        expect(Buffer.from(fileBytes).toString('utf8')).toBe(await streamed.text()); // the stream is one pass
        expect(sha256(fileBytes)).toBe(csv.sha256);
        expect(csv.rows_written).toBe(orders.length);

        const pq = await finished(
          server,
          tenant.api_key,
          await createExport(server, tenant, { format: 'parquet' }),
        );
        expect(plannedParts(pq.export_id)).toBe(2);
        const bytes = new Uint8Array(await (await download(server, tenant.api_key, pq)).arrayBuffer());
        expect(sha256(bytes)).toBe(pq.sha256);
        const want = (await expected(server.dataDir, tenant.tenant_id, orders)).map((o) => o.order_id);
        expect(parquetRows(bytes).map((r) => r.order_id)).toEqual(want);
        // the second part's row groups were moved twice (into its file, then to where it landed)
        expect(parquetRowGroups(bytes)).toEqual([300, 300, 300, 300, 50, 300, 300, 300, 300, 50]);
        expect(parquetPageOffsetProblems(bytes)).toEqual([]);
        expect((await parquetRowsLiterally(bytes)).map((r) => r.order_id)).toEqual(want);
        const path = join(server.dataDir, 'parts.parquet');
        writeFileSync(path, bytes);
        const duck = await (await DuckDBInstance.create(':memory:')).connect();
        const groups = await duck.runAndReadAll(
          `SELECT count(DISTINCT row_group_id)::INTEGER, sum(row_group_num_rows)::INTEGER FROM
         (SELECT DISTINCT row_group_id, row_group_num_rows FROM parquet_metadata('${path}'))`,
        );
        // each part's 1,250 rows in five row groups: both parts' groups are in the footer, at their offsets
        expect(groups.getRows()[0]).toEqual([10, orders.length]);
        const ids = await duck.runAndReadAll(`SELECT order_id FROM read_parquet('${path}')`);
        expect(ids.getRows().map((r) => r[0])).toEqual(want);
        duck.closeSync();
        if (prepared.query) {
          // every piece now sits at its offset in the whole file, and the parts are forgotten
          for (const done of [csv, pq]) {
            const pieces = await prepared.query<{ part: number; start: number; length: number }>(
              `SELECT part, start_offset::float8 AS start, length(bytes) AS length FROM export_bytes
                WHERE tenant_id = $1 AND export_id = $2 ORDER BY start_offset`,
              [tenant.tenant_id, done.export_id],
            );
            expect(new Set(pieces.map((p) => p.part))).toEqual(new Set([0]));
            let at = 0;
            for (const piece of pieces) {
              expect(piece.start).toBe(at);
              at += piece.length;
            }
            expect(at).toBe(done.size);
            const parts = await prepared.query(
              'SELECT 1 FROM export_parts WHERE tenant_id = $1 AND export_id = $2',
              [tenant.tenant_id, done.export_id],
            );
            expect(parts).toEqual([]);
          }
        } else {
          // the part files are gone once joined
          const dir = join(server.dataDir, 'exports', String(tenant.tenant_id));
          expect(readdirSync(dir).filter((f) => f.includes('.part'))).toEqual([]);
        }
      });

      it('CSV gzip is a valid multi-member gzip of the same CSV', async () => {
        const body = {
          format: 'csv',
          filters: { status: 'delivered' },
          fields: ['order_id', 'customer_name'],
        };
        const plain = await finished(server, tenant.api_key, await createExport(server, tenant, body));
        const gz = await finished(
          server,
          tenant.api_key,
          await createExport(server, tenant, { ...body, compression: 'gzip' }),
        );
        const gzRes = await download(server, tenant.api_key, gz);
        expect(gzRes.headers.get('content-type')).toBe('application/gzip');
        expect(gzRes.headers.get('content-disposition')).toContain('.csv.gz"');
        const text = gunzipSync(Buffer.from(await gzRes.arrayBuffer())).toString('utf8');
        expect(text).toBe(await (await download(server, tenant.api_key, plain)).text());
        expect(csvObjects(text).length).toBe(orders.filter((o) => o.status === 'delivered').length);
      });

      it('an empty result is a valid file with just the header (CSV) or schema (Parquet)', async () => {
        for (const format of ['csv', 'parquet']) {
          const done = await finished(
            server,
            tenant.api_key,
            await createExport(server, tenant, { format, filters: { customer_email: 'nobody@nowhere' } }),
          );
          expect(done.rows_written).toBe(0);
          const bytes = new Uint8Array(await (await download(server, tenant.api_key, done)).arrayBuffer());
          if (format === 'csv') expect(Buffer.from(bytes).toString()).toMatch(/^order_id,created_at,.*\r\n$/);
          else expect(parquetRows(bytes)).toEqual([]);
        }
      });

      it('lists the tenant’s exports newest first with a cursor, and no other tenant’s', async () => {
        const mine = await createExport(server, tenant, { format: 'csv', fields: ['order_id'] });
        const theirs = await createExport(server, other, { format: 'csv', fields: ['order_id'] });
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const url = `${server.url}/api/v1/tenants/${tenant.tenant_id}/reports/exports?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
          const page = (await (await fetch(url, { headers: auth(tenant.api_key) })).json()) as {
            data: Status[];
            next_cursor: string | null;
          };
          seen.push(...page.data.map((e) => e.export_id));
          cursor = page.next_cursor;
        } while (cursor);
        expect(seen[0]).toBe(mine.export_id);
        expect(new Set(seen).size).toBe(seen.length);
        expect(seen).not.toContain(theirs.export_id);
        expect(seen.length).toBeGreaterThanOrEqual(6);
      });

      it('another tenant cannot see or download an export (404, as if it did not exist)', async () => {
        const done = await finished(
          server,
          tenant.api_key,
          await createExport(server, tenant, { format: 'csv', fields: ['order_id'] }),
        );
        // other's key on other's own path, with tenant's export id
        const path = `/api/v1/tenants/${other.tenant_id}/reports/exports/${done.export_id}`;
        for (const url of [path, `${path}/download`]) {
          const res = await fetch(`${server.url}${url}`, { headers: auth(other.api_key) });
          expect(res.status).toBe(404);
          expect((await problemOf(res)).code).toBe('not_found');
        }
        // other's key on tenant's path
        const res = await fetch(`${server.url}${done.download_url}`, { headers: auth(other.api_key) });
        expect(res.status).toBe(404);
      });

      it('rejects bad requests with their problem codes, and SQL in filters is only data', async () => {
        const post = (body: unknown, headers: Record<string, string> = {}) =>
          fetch(`${server.url}/api/v1/tenants/${tenant.tenant_id}/reports/export`, {
            method: 'POST',
            headers: auth(tenant.api_key, { 'content-type': 'application/json', ...headers }),
            body: typeof body === 'string' ? body : JSON.stringify(body),
          });
        const cases: [unknown, number, string, string?][] = [
          [{ format: 'csv', fields: ['order_id', 'password'] }, 400, 'unknown_field'],
          [{ format: 'csv', filters: { status: 'lost' } }, 400, 'validation_failed', 'filters.status'],
          [{ format: 'csv', filters: { from: 'yesterday' } }, 400, 'validation_failed', 'filters.from'],
          [{ format: 'csv', filters: { drop: 1 } }, 400, 'validation_failed'],
          [{ format: 'csv', compression: 'zstd' }, 400, 'validation_failed', 'compression'],
          [{ format: 'xlsx' }, 400, 'validation_failed', 'format'],
          [{}, 400, 'validation_failed', 'format'],
          ['{"format":', 400, 'malformed_json'],
        ];
        for (const [body, code, problem, field] of cases) {
          const res = await post(body);
          const json = await problemOf(res);
          expect(res.status, JSON.stringify(json)).toBe(code);
          expect(res.headers.get('content-type')).toContain('application/problem+json');
          expect(json.code).toBe(problem);
          if (field) expect(JSON.stringify(json.errors)).toContain(field);
        }
        const conflict = await post({ format: 'parquet' }, { accept: 'text/csv' });
        expect((await problemOf(conflict)).code).toBe('format_conflict');
        const injected = await finished(
          server,
          tenant.api_key,
          await createExport(server, tenant, {
            format: 'csv',
            filters: { q: "x'); DROP TABLE orders; --", customer_email: "' OR 1=1 --" },
          }),
        );
        expect(injected.rows_written).toBe(0);
        expect(await prepared.rowCount(server.dataDir, tenant.tenant_id, 'orders')).toBe(orders.length);
        const bogus = await fetch(
          `${server.url}/api/v1/tenants/${tenant.tenant_id}/reports/exports/exp_AAAAAAAAAAAAAAAA/download`,
          { headers: auth(tenant.api_key) },
        );
        expect(bogus.status).toBe(404);
      });
    });

    describe('downloads: ranges, validators', () => {
      let done: Status;
      let file: Buffer;
      beforeAll(async () => {
        done = await finished(
          server,
          tenant.api_key,
          await createExport(server, tenant, { format: 'parquet' }),
        );
        file = Buffer.from(await (await download(server, tenant.api_key, done)).arrayBuffer());
      });

      it('serves single ranges as 206 with Content-Range: first bytes, middle, open end, suffix', async () => {
        const size = file.length;
        const cases: [string, number, number][] = [
          ['bytes=0-99', 0, 99],
          [`bytes=1000-${size - 1000}`, 1000, size - 1000],
          [`bytes=${size - 10}-`, size - 10, size - 1],
          ['bytes=-4', size - 4, size - 1],
          [`bytes=5-${size + 500}`, 5, size - 1],
        ];
        for (const [range, start, end] of cases) {
          const res = await download(server, tenant.api_key, done, { range });
          expect(res.status, range).toBe(206);
          expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${size}`);
          expect(res.headers.get('content-length')).toBe(String(end - start + 1));
          expect(Buffer.from(await res.arrayBuffer()).equals(file.subarray(start, end + 1))).toBe(true);
        }
        // the last four bytes of a Parquet file are its magic
        const tail = await download(server, tenant.api_key, done, { range: 'bytes=-4' });
        expect(Buffer.from(await tail.arrayBuffer()).toString()).toBe('PAR1');
      });

      it('If-Range: a stale ETag gets the whole file, the current one gets the range', async () => {
        const stale = await download(server, tenant.api_key, done, {
          range: 'bytes=0-9',
          'if-range': '"0000"',
        });
        expect(stale.status).toBe(200);
        expect(Buffer.from(await stale.arrayBuffer()).equals(file)).toBe(true);
        const fresh = await download(server, tenant.api_key, done, {
          range: 'bytes=0-9',
          'if-range': `"${done.sha256}"`,
        });
        expect(fresh.status).toBe(206);
        expect((await fresh.arrayBuffer()).byteLength).toBe(10);
      });

      it('a range past the end is 416 with Content-Range bytes */size; If-None-Match is 304; HEAD has no body', async () => {
        const res = await download(server, tenant.api_key, done, { range: `bytes=${file.length}-` });
        expect(res.status).toBe(416);
        expect(res.headers.get('content-range')).toBe(`bytes */${file.length}`);
        expect((await problemOf(res)).code).toBe('range_not_satisfiable');
        const same = await download(server, tenant.api_key, done, { 'if-none-match': `"${done.sha256}"` });
        expect(same.status).toBe(304);
        const head = await fetch(`${server.url}${done.download_url}`, {
          method: 'HEAD',
          headers: auth(tenant.api_key),
        });
        expect(head.status).toBe(200);
        expect(head.headers.get('content-length')).toBe(String(file.length));
        expect((await head.arrayBuffer()).byteLength).toBe(0);
      });

      it('a download before the job finishes is 409 export_not_ready', async () => {
        const slow = await start({ args: ['--export-batch-rows', '50', '--export-max-rows-per-s', '500'] });
        try {
          const t = await slow.createTenant('slow');
          await seed(slow, t, orders.slice(0, 600));
          const created = await createExport(slow, t, { format: 'csv' });
          const res = await download(slow, t.api_key, created);
          expect(res.status).toBe(409);
          expect((await problemOf(res)).code).toBe('export_not_ready');
        } finally {
          await slow.stop();
          removeDir(slow.dataDir);
        }
      });
    });

    describe('direct streaming (Accept: text/csv or application/vnd.apache.parquet)', () => {
      const post = (accept: string, body: unknown, extra: Record<string, string> = {}) =>
        fetch(`${server.url}/api/v1/tenants/${tenant.tenant_id}/reports/export`, {
          method: 'POST',
          headers: auth(tenant.api_key, { 'content-type': 'application/json', accept, ...extra }),
          body: JSON.stringify(body),
        });

      it('streams CSV chunked, identical to the job file; gzip-encoded when accepted', async () => {
        const body = { filters: { status: 'paid' }, fields: ['order_id', 'total_cents', 'items'] };
        const job = await finished(
          server,
          tenant.api_key,
          await createExport(server, tenant, { format: 'csv', ...body }),
        );
        const fileText = await (await download(server, tenant.api_key, job)).text();
        const plain = await post('text/csv', body, { 'accept-encoding': 'identity' });
        expect(plain.status).toBe(200);
        expect(plain.headers.get('content-type')).toBe('text/csv; charset=utf-8');
        expect(plain.headers.get('content-length')).toBeNull();
        expect(plain.headers.get('content-encoding')).toBeNull();
        expect(await plain.text()).toBe(fileText);
        const gz = await post('text/csv', body, { 'accept-encoding': 'gzip' });
        expect(gz.headers.get('content-encoding')).toBe('gzip');
        expect(gz.headers.get('vary')).toContain('Accept-Encoding');
        expect(await gz.text()).toBe(fileText); // fetch decodes gzip transparently
        // the stripes deflate their parts apart, yet the body is one gzip member (curl and browsers read only
        // the first): one header, and the last 8 bytes are the CRC-32 and length of the whole text
        const raw = await new Promise<Buffer>((resolve, reject) => {
          const req = request(
            `${server.url}/api/v1/tenants/${tenant.tenant_id}/reports/export`,
            {
              method: 'POST',
              headers: auth(tenant.api_key, {
                'content-type': 'application/json',
                accept: 'text/csv',
                'accept-encoding': 'gzip',
              }),
            },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => resolve(Buffer.concat(chunks)));
              res.on('error', reject);
            },
          );
          req.on('error', reject);
          req.end(JSON.stringify(body));
        });
        const text = Buffer.from(fileText);
        expect([raw[0], raw[1]]).toEqual([0x1f, 0x8b]);
        expect(raw.readUInt32LE(raw.length - 8)).toBe(crc32(text));
        expect(raw.readUInt32LE(raw.length - 4)).toBe(text.length);
        expect(gunzipSync(raw).equals(text)).toBe(true);
      });

      it('streams Parquet in stripes joined under one footer, which Arrow and DuckDB read', async () => {
        const res = await post('application/vnd.apache.parquet', {});
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('application/vnd.apache.parquet');
        const bytes = new Uint8Array(await res.arrayBuffer());
        const want = await expected(server.dataDir, tenant.tenant_id, orders);
        const rows = parquetRows(bytes);
        expect(rows.map((r) => r.order_id)).toEqual(want.map((o) => o.order_id));
        expect(parquetRowGroups(bytes)).toEqual([300, 300, 300, 300, 300, 300, 300, 300, 100]);
        expect(parquetPageOffsetProblems(bytes)).toEqual([]);
        expect((await parquetRowsLiterally(bytes)).map((r) => r.order_id)).toEqual(
          want.map((o) => o.order_id),
        );
        expect(rows.map((r) => r.created_at)).toEqual(want.map((o) => Date.parse(o.created_at)));
        const path = join(server.dataDir, 'stream.parquet');
        writeFileSync(path, bytes);
        const duck = await (await DuckDBInstance.create(':memory:')).connect();
        const sums = await duck.runAndReadAll(
          `SELECT count(*)::INTEGER, sum(total_cents)::BIGINT, sum(len(items))::INTEGER FROM read_parquet('${path}')`,
        );
        expect(sums.getRows()[0]).toEqual([
          orders.length,
          BigInt(orders.reduce((s, o) => s + o.total_cents, 0)),
          orders.reduce((s, o) => s + o.items.length, 0),
        ]);
        // stripes of 600 rows (two 300-row batches) from several workers: 4 × 2 row groups, then 100 rows
        const groups = await duck.runAndReadAll(
          `SELECT count(DISTINCT row_group_id)::INTEGER FROM parquet_metadata('${path}')`,
        );
        expect(groups.getRows()[0]![0]).toBe(9);
        duck.closeSync();
      });

      it('a client that goes away stops the worker', async () => {
        const res = await post('text/csv', {}, { 'accept-encoding': 'identity' });
        const reader = res.body!.getReader();
        await reader.read();
        await reader.cancel();
        await eventually(
          () => server.logs().some((l) => l.msg === 'export stream ended early' && l.outcome === 'cancelled'),
          5000,
          'cancelled export stream',
        );
      });
    });

    describe('tools/download', () => {
      it('resumes with Range after being killed and verifies the sha256', async () => {
        const done = await finished(
          server,
          tenant.api_key,
          await createExport(server, tenant, { format: 'csv', compression: 'none' }),
        );
        expect(done.size).toBeGreaterThan(300_000);
        const out = join(server.dataDir, 'downloaded.csv');
        const tool = join(ROOT, 'dist/tools/download.js');
        const url = `${server.url}${done.status_url}`;
        const slow = spawn(
          process.execPath,
          [tool, url, '--key', tenant.api_key, '--out', out, '--limit-rate', '100000'],
          {
            stdio: 'ignore',
          },
        );
        await eventually(
          () => existsSync(`${out}.part`) && statSync(`${out}.part`).size > 50_000,
          10_000,
          'a partial file',
        );
        slow.kill('SIGKILL');
        await new Promise((r) => slow.once('exit', r));
        const partial = statSync(`${out}.part`).size;
        expect(partial).toBeLessThan(done.size!);
        const result = spawnSync(process.execPath, [tool, url, '--key', tenant.api_key, '--out', out], {
          encoding: 'utf8',
        });
        expect(result.status, result.stderr).toBe(0);
        expect(result.stderr).toContain(`resuming at byte ${partial}`);
        const summary = JSON.parse(result.stdout);
        expect(summary).toEqual({ file: out, size: done.size, sha256: done.sha256, resumed_from: partial });
        expect(sha256(readFileSync(out))).toBe(done.sha256);
        expect(existsSync(`${out}.part`)).toBe(false);
        // the server really served a range for the second run
        await eventually(
          () =>
            server
              .logs()
              .some((l) => l.msg === 'file download' && l.range === 'partial' && l.start === partial),
          5000,
          'the ranged request in the server log',
        );
      });
    });

    describe('retention', () => {
      it('a finished export expires: state expired, download 410, file deleted (and part files a crash left)', async () => {
        const s = await start({ args: ['--export-retention-s', '1'] });
        try {
          const t = await s.createTenant('retention');
          await seed(s, t, orders.slice(0, 50));
          const done = await finished(s, t.api_key, await createExport(s, t, { format: 'csv' }));
          if (prepared.query) {
            // the file's rows of bytes are deleted with its expiry
            const pieces = async () =>
              (
                await prepared.query!<{ n: number }>(
                  'SELECT count(*)::int AS n FROM export_bytes WHERE tenant_id = $1 AND export_id = $2',
                  [t.tenant_id, done.export_id],
                )
              )[0]!.n;
            expect(await pieces()).toBeGreaterThan(0);
            await eventually(async () => (await pieces()) === 0, 5000, 'expired bytes deleted');
          } else {
            const path = join(s.dataDir, 'exports', String(t.tenant_id), `orders-${done.export_id}.csv`);
            expect(existsSync(path)).toBe(true);
            // a part file left by a crash between the job's completion and the removal of its parts
            const leftover = `${path}.part1`;
            writeFileSync(leftover, 'part');
            await eventually(() => !existsSync(path), 5000, 'expired file removed');
            expect(existsSync(leftover)).toBe(false);
          }
          expect((await status(s, t.api_key, done.status_url)).state).toBe('expired');
          const res = await download(s, t.api_key, done);
          expect(res.status).toBe(410);
          expect((await problemOf(res)).code).toBe('export_expired');
        } finally {
          await s.stop();
          removeDir(s.dataDir);
        }
      });
    });

    /** What each part of a job had made durable: its checkpointed bytes (in its own file, or its rows of bytes). */
    async function durableParts(
      on: PreparedBackend,
      dataDir: string,
      tenantId: number,
      exportId: string,
      extension: string,
    ): Promise<Buffer[]> {
      if (on.query) {
        const parts = await on.query<{ part: number; bytes_written: number }>(
          'SELECT part, bytes_written::int AS bytes_written FROM export_parts WHERE tenant_id = $1 AND export_id = $2 ORDER BY part',
          [tenantId, exportId],
        );
        expect(parts.length).toBe(2);
        const bytesOfParts: Buffer[] = [];
        for (const p of parts) {
          const pieces = await on.query<{ bytes: Buffer }>(
            'SELECT bytes FROM export_bytes WHERE tenant_id = $1 AND export_id = $2 AND part = $3 ORDER BY start_offset',
            [tenantId, exportId, p.part],
          );
          const bytes = Buffer.concat(pieces.map((r) => r.bytes));
          expect(bytes.length).toBe(p.bytes_written); // nothing past the checkpoint, ever
          bytesOfParts.push(bytes);
        }
        return bytesOfParts;
      }
      const parts = shardQuery<{ part: number; bytes_written: number }>(
        dataDir,
        tenantId,
        `SELECT part, bytes_written FROM export_parts WHERE export_id = '${exportId}' ORDER BY part`,
      );
      expect(parts.length).toBe(2);
      const name = `orders-${exportId}.${extension}`;
      return parts.map((p) => {
        const file = join(dataDir, 'exports', String(tenantId), p.part ? `${name}.part${p.part}` : name);
        return readFileSync(file).subarray(0, p.bytes_written);
      });
    }

    describe('crash and resume', () => {
      it('a server killed mid-export resumes from its checkpoint: finished work not redone, files correct', async () => {
        const args = ['--export-batch-rows', '200', '--export-concurrency', '2', '--export-parts', '2'];
        // a database of its own on PostgreSQL: no other live server there to take the jobs over
        const own = await backend.prepare();
        // paced so the kill lands mid-job: 600 rows in ~1.2 s, the other 1,900 take ~3.8 s more (at 1,500/s a
        // loaded CI machine once polled so late that a job had written every row before the kill)
        const first = await start({ args: [...args, '--export-max-rows-per-s', '500'] }, own);
        const t = await first.createTenant('crash');
        await seed(first, t, orders);
        const pq = await createExport(first, t, { format: 'parquet' });
        const gz = await createExport(first, t, { format: 'csv', compression: 'gzip' });
        let before: Status[] = [];
        await eventually(
          async () => {
            before = await Promise.all([pq, gz].map((e) => status(first, t.api_key, e.status_url)));
            return before.every((b) => b.rows_written >= 600);
          },
          10_000,
          'exports to pass 600 rows',
        );
        expect(await first.stop('SIGKILL')).toBeNull();
        const prefixes: Buffer[][] = [];
        for (const e of [pq, gz])
          prefixes.push(
            await durableParts(own, first.dataDir, t.tenant_id, e.export_id, e === pq ? 'parquet' : 'csv.gz'),
          );

        const second = await start({ dataDir: first.dataDir, args }, own);
        try {
          // on PostgreSQL the jobs are taken over once the killed server's heartbeat is ALIVE_MS (15 s) old
          const [pqDone, gzDone] = [
            await finished(second, t.api_key, pq, 60_000),
            await finished(second, t.api_key, gz, 60_000),
          ];
          const want = (await expected(second.dataDir, t.tenant_id, orders, undefined, own)).map(
            (o) => o.order_id,
          );
          for (const [i, done] of [pqDone, gzDone].entries()) {
            expect(done.attempts).toBe(2);
            expect(done.resumed_from_rows).toBeGreaterThanOrEqual(before[i]!.rows_written);
            expect(done.resumed_from_rows).toBeLessThan(orders.length);
            expect(done.rows_written).toBe(orders.length);
            // bytes durable before the kill are untouched: each part appended after its checkpoint, and the
            // second part's bytes follow the first part's whole
            const bytes = Buffer.from(await (await download(second, t.api_key, done)).arrayBuffer());
            const [first0, second1] = prefixes[i]!;
            expect(bytes.subarray(0, first0!.length).equals(first0!)).toBe(true);
            expect(second1!.length).toBeGreaterThan(0);
            expect(bytes.indexOf(second1!, first0!.length)).toBeGreaterThanOrEqual(first0!.length);
            expect(sha256(bytes)).toBe(done.sha256);
            const ids =
              i === 0
                ? parquetRows(bytes).map((r) => r.order_id)
                : csvObjects(gunzipSync(bytes).toString()).map((r) => r.order_id);
            expect(ids).toEqual(want);
          }
          // the restarted server encoded only the rows after each checkpoint
          const metrics = await (await fetch(`${second.url}/metrics`)).text();
          const encoded = (format: string) =>
            Number(
              new RegExp(`export_rows_total\\{format="${format}"\\} (\\d+)`).exec(metrics)?.[1] ?? 'NaN',
            );
          expect(encoded('parquet')).toBe(orders.length - pqDone.resumed_from_rows!);
          expect(encoded('csv')).toBe(orders.length - gzDone.resumed_from_rows!);
          expect(second.logs().filter((l) => l.msg === 'export resumed from checkpoint').length).toBe(2);
        } finally {
          await second.stop();
          removeDir(second.dataDir);
          await own.cleanup();
        }
      });
    });
  });
