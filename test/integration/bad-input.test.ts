import { gzipSync } from 'node:zlib';
import { strToU8, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PreparedBackend, SERVER_BACKENDS } from '../helpers/backends.js';
import { ndjson, order } from '../helpers/data.js';
import { auth, removeDir, startServer, type TestServer } from '../helpers/server.js';
import { completed, create, patch, summary, withProducts } from '../helpers/tus.js';

/**
 * Hostile and careless input (issue 21, "Bad input"): each case was a 200, a 500 or a silent change of
 * data before; now a 400-class problem with a stable code, counts where rows were committed.
 */

for (const backend of SERVER_BACKENDS)
  describe.skipIf(backend.skip !== null)(`bad input on ${backend.name}`, () => {
    let s: TestServer;
    let prepared: PreparedBackend;
    let key: string;
    let tenantId: number;
    let next = 0;
    const fresh = (n: number) => Array.from({ length: n }, () => order(next++));

    beforeAll(async () => {
      prepared = await backend.prepare();
      s = await startServer({ args: ['--max-zip-members', '50', ...prepared.args] });
      const t = await s.createTenant('bad-input');
      key = t.api_key;
      tenantId = t.tenant_id;
      await withProducts(s, key);
    });
    afterAll(async () => {
      await s?.stop();
      if (s) removeDir(s.dataDir);
      await prepared?.cleanup();
    });

    const ingest = (
      body: RequestInit['body'],
      type = 'application/x-ndjson',
      extra: Record<string, string> = {},
    ) =>
      fetch(`${s.url}/api/v1/ingest/orders/`, {
        method: 'POST',
        headers: auth(key, { 'content-type': type, ...extra }),
        body,
      });

    type Problem = {
      status: number;
      code: string;
      detail: string;
      rows_inserted?: number;
      errors?: unknown[];
    };

    describe('zip bodies', () => {
      it('a zip cut off at a member boundary is 400 truncated_zip, with the rows of the members before it', async () => {
        const first = fresh(20);
        const second = fresh(20);
        const zip = zipSync(
          { 'a.ndjson': strToU8(ndjson(first)), 'b.ndjson': strToU8(ndjson(second)) },
          { level: 6 },
        );
        // the second member's local header starts where the first member's data ends
        const view = Buffer.from(zip);
        const secondHeader = view.indexOf(Buffer.from('PK\x03\x04', 'latin1'), 4);
        const res = await ingest(zip.subarray(0, secondHeader), 'application/octet-stream');
        const body = (await res.json()) as Problem;
        expect(res.status).toBe(400);
        expect(body).toMatchObject({ code: 'truncated_zip', rows_inserted: 20 });
      });

      it('a zip with more entries than --max-zip-members is refused; its inflation never holds the event loop', async () => {
        const files: Record<string, Uint8Array> = {};
        for (let i = 0; i < 60; i++) files[`empty-${i}.ndjson`] = new Uint8Array(0);
        const res = await ingest(zipSync(files), 'application/octet-stream');
        expect(res.status).toBe(413);
        expect(((await res.json()) as Problem).code).toBe('too_many_zip_members');
      });

      it('a whole zip still loads, members in order', async () => {
        const rows = fresh(30);
        const zip = zipSync({
          'a.ndjson': strToU8(ndjson(rows.slice(0, 10))),
          'b.jsonl': strToU8(ndjson(rows.slice(10))),
        });
        const res = await ingest(zip, 'application/zip');
        expect(res.status).toBe(200);
        expect(await res.json()).toMatchObject({ rows_inserted: 30 });
      });
    });

    describe('multipart', () => {
      it('no boundary= is 400 malformed_multipart', async () => {
        const res = await ingest('--x\r\n', 'multipart/form-data');
        expect(res.status).toBe(400);
        expect(((await res.json()) as Problem).code).toBe('malformed_multipart');
      });

      it('a body without its closing boundary is 400 malformed_multipart, rows before the cut kept', async () => {
        const rows = fresh(5);
        const body = `--b\r\nContent-Disposition: form-data; name="f"; filename="o.ndjson"\r\nContent-Type: application/x-ndjson\r\n\r\n${ndjson(rows)}`;
        const res = await ingest(body, 'multipart/form-data; boundary=b');
        expect(res.status).toBe(400);
        const problem = (await res.json()) as Problem;
        expect(problem.code).toBe('malformed_multipart');
      });
    });

    describe('dates that do not exist', () => {
      it('an order created on 2025-02-30 is a row error, not March 2', async () => {
        const [row] = fresh(1);
        const res = await ingest(
          ndjson([
            { ...row, created_at: '2025-02-30T10:00:00Z' },
            { ...fresh(1)[0], created_at: '2024-02-29T23:59:59+01:00' },
          ]),
        );
        const body = (await res.json()) as {
          rows_inserted: number;
          errors: { field: string; code: string }[];
        };
        expect(body.rows_inserted).toBe(1);
        expect(body.errors).toMatchObject([{ field: 'created_at', code: 'invalid_field' }]);
      });

      it('search, metrics and export dates are checked too', async () => {
        const base = `${s.url}/api/v1/tenants/${tenantId}`;
        for (const url of [
          `${base}/orders/search?from=2025-02-30`,
          `${base}/orders/search?to=2025-04-31T00:00:00Z`,
          `${base}/metrics/sales?group_by=day&start_date=2025-02-29&end_date=2025-03-01`,
          `${base}/metrics/sales?group_by=day&start_date=2025-01-01&end_date=2025-01-01T24:00:00Z`,
        ]) {
          const res = await fetch(url, { headers: auth(key) });
          expect(res.status, url).toBe(400);
          expect(((await res.json()) as Problem).code).toBe('validation_failed');
        }
        const exp = await fetch(`${base}/reports/export`, {
          method: 'POST',
          headers: auth(key, { 'content-type': 'application/json' }),
          body: JSON.stringify({ format: 'csv', filters: { from: '2026-13-01' } }),
        });
        expect(exp.status).toBe(400);
      });

      it('stock occurred_at and price observed_at are checked too', async () => {
        const stock = await fetch(`${s.url}/api/v1/tenants/${tenantId}/stock/bulk_update`, {
          method: 'PUT',
          headers: auth(key, { 'content-type': 'application/json' }),
          body: JSON.stringify({
            mode: 'merge',
            events: [{ event_id: 'e1', product_id: 1, delta: 1, occurred_at: '2025-06-31T00:00:00Z' }],
          }),
        });
        expect(stock.status).toBe(400);
        const price = await fetch(`${s.url}/api/v1/tenants/${tenantId}/products/1/price-event`, {
          method: 'POST',
          headers: auth(key, { 'content-type': 'application/json' }),
          body: JSON.stringify({ event_id: 'p1', price_cents: 100, observed_at: '2025-11-31T00:00:00Z' }),
        });
        expect(price.status).toBe(400);
      });
    });

    describe('text', () => {
      it('a lone UTF-16 surrogate in a text field is refused, not stored as replacement characters', async () => {
        const [row] = fresh(1);
        const line = JSON.stringify({ ...row, customer_name: 'X' }).replace(
          '"customer_name":"X"',
          '"customer_name":"\\ud800x"',
        );
        const res = await ingest(`${line}\n`);
        const body = (await res.json()) as { rows_inserted: number; errors: { field: string }[] };
        expect(body.rows_inserted).toBe(0);
        expect(body.errors).toMatchObject([{ field: 'customer_name' }]);
        // a real pair is fine
        const [ok] = fresh(1);
        expect(await (await ingest(ndjson([{ ...ok, customer_name: 'Emoji 😀' }]))).json()).toMatchObject({
          rows_inserted: 1,
        });
      });

      it('a misspelt status list says what a status may be', async () => {
        const res = await fetch(`${s.url}/api/v1/tenants/${tenantId}/orders/search?status=paid,lost`, {
          headers: auth(key),
        });
        const body = (await res.json()) as { errors: { message: string }[] };
        expect(body.errors[0]!.message).toBe(
          'each must be one of pending, paid, shipped, delivered, cancelled, refunded',
        );
      });
    });

    describe('JSON endpoints', () => {
      const stock = (body: Uint8Array | string, headers: Record<string, string>) =>
        fetch(`${s.url}/api/v1/tenants/${tenantId}/stock/bulk_update`, {
          method: 'PUT',
          headers: auth(key, { 'content-type': 'application/json', ...headers }),
          body,
        });
      const request = {
        mode: 'merge',
        events: [{ event_id: 'gz-1', product_id: 2, delta: 1, occurred_at: '2026-01-01T00:00:00Z' }],
      };

      it('Content-Encoding: gzip is decoded; another encoding is 415', async () => {
        const res = await stock(gzipSync(JSON.stringify(request)), { 'content-encoding': 'gzip' });
        expect(res.status).toBe(200);
        expect(((await res.json()) as { summary: { applied: number } }).summary).toMatchObject({
          applied: 1,
        });
        const br = await stock('x', { 'content-encoding': 'br' });
        expect(br.status).toBe(415);
      });

      it('a problem never echoes the raw body back', async () => {
        const secret = 'tok_live_0123456789';
        const res = await stock(`{"mode": "merge", "events": [${secret}`, {});
        const text = await res.text();
        expect(res.status).toBe(400);
        expect(text).not.toContain(secret);
        expect(JSON.parse(text)).toMatchObject({ code: 'malformed_json' });
      });
    });

    describe('exports', () => {
      it('validation lists every bad field at once', async () => {
        const res = await fetch(`${s.url}/api/v1/tenants/${tenantId}/reports/export`, {
          method: 'POST',
          headers: auth(key, { 'content-type': 'application/json' }),
          body: JSON.stringify({
            format: 'csv',
            compression: 'zstd',
            fields: ['order_id', 'password', 'ssn'],
            filters: { status: 'lost', from: 'yesterday' },
          }),
        });
        expect(res.status).toBe(400);
        const fields = ((await res.json()) as { errors: { field: string }[] }).errors
          .map((e) => e.field)
          .sort();
        expect(fields).toEqual(['compression', 'fields', 'fields', 'filters.from', 'filters.status']);
      });

      it('CSV cells that a spreadsheet would run as a formula are neutralised', async () => {
        const rows = ['=HYPERLINK("http://evil")', '+1+2', '-3', '@SUM(A1)', '\tx'].map((name, i) => ({
          ...order(900_000 + i),
          customer_id: `C-csv-${i}`,
          customer_name: name,
        }));
        expect((await (await ingest(ndjson(rows))).json()) as object).toMatchObject({ rows_inserted: 5 });
        const res = await fetch(`${s.url}/api/v1/tenants/${tenantId}/reports/export`, {
          method: 'POST',
          headers: auth(key, { 'content-type': 'application/json', accept: 'text/csv' }),
          body: JSON.stringify({
            fields: ['order_id', 'customer_name', 'total_cents'],
            filters: { q: 'HYPERLINK SUM' },
          }),
        });
        const csv = await res.text();
        expect(res.status).toBe(200);
        expect(csv).not.toMatch(/(^|,)[=+\-@\t]/m);
      });
    });

    describe('tus uploads', () => {
      it('a gzip bomb fails fast: the ratio is taken against what the decoder consumed', async () => {
        // 2 GiB of blank lines in ~2 MB of gzip: past the 100x ratio at once
        const bomb = gzipSync(Buffer.alloc(256 * 1024 * 1024, 10), { level: 9 });
        const url = await create(s, key, bomb.byteLength, 'encoding Z3ppcA==');
        const started = Date.now();
        expect((await patch(url, key, 0, bomb)).status).toBe(204);
        let last = await summary(url, key);
        while (last.state !== 'failed' && last.state !== 'complete' && Date.now() - started < 20_000) {
          await new Promise((r) => setTimeout(r, 50));
          last = await summary(url, key);
        }
        expect(last.state).toBe('failed');
        expect(Date.now() - started).toBeLessThan(5000);
        expect(JSON.stringify(last)).toContain('decompression_ratio_exceeded');
      });

      it('a zip upload is read in the pool like a zip request', async () => {
        const rows = fresh(25);
        const zip = zipSync({ 'u.ndjson': strToU8(ndjson(rows)) });
        const url = await create(s, key, zip.byteLength);
        expect((await patch(url, key, 0, zip)).status).toBe(204);
        expect(await completed(url, key)).toMatchObject({ rows_inserted: 25 });
        expect(await prepared.rowCount(s.dataDir, tenantId, 'orders')).toBeGreaterThan(25);
      });
    });
  });
