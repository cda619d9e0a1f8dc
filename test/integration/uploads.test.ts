import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PreparedBackend, SERVER_BACKENDS } from '../helpers/backends.js';
import { makeOrders, ndjson } from '../helpers/data.js';
import { auth, eventually, ROOT, removeDir, startServer, type TestServer } from '../helpers/server.js';
import { BASE, completed, create, head, patch, summary, TUS, withProducts } from '../helpers/tus.js';

for (const backend of SERVER_BACKENDS)
  describe.skipIf(backend.skip !== null)(`uploads on ${backend.name}`, () => {
    let prepared: PreparedBackend;
    let server: TestServer;
    let tenant: { tenant_id: number; api_key: string };
    /** a server on this backend (one database for the suite on PostgreSQL) */
    const serverWith = (args: string[], dataDir?: string) =>
      startServer({ args: [...args, ...prepared.args], ...(dataDir ? { dataDir } : {}) });

    /** Whether the upload's bytes are still staged: its staging file (SQLite), its rows (PostgreSQL). */
    async function staged(s: TestServer, tenantId: number, url: string): Promise<boolean> {
      const id = url.split('/').pop()!;
      if (!prepared.query) return existsSync(join(s.dataDir, 'uploads', String(tenantId), `${id}.bin`));
      const rows = await prepared.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM upload_bytes WHERE tenant_id = $1 AND upload_id = $2',
        [tenantId, id],
      );
      return rows[0]!.n > 0;
    }

    beforeAll(async () => {
      prepared = await backend.prepare();
      server = await serverWith(['--ingest-chunk-bytes', '65536']);
      tenant = await server.createTenant('uploads');
      await withProducts(server, tenant.api_key);
    });
    afterAll(async () => {
      await server?.stop();
      if (server) removeDir(server.dataDir);
      await prepared?.cleanup();
    });

    describe('tus 1.0.0 core, creation, termination', () => {
      it('OPTIONS advertises version, extensions and max size without a key', async () => {
        const res = await fetch(`${server.url}${BASE}`, { method: 'OPTIONS' });
        expect(res.status).toBe(204);
        expect(res.headers.get('tus-version')).toBe('1.0.0');
        expect(res.headers.get('tus-extension')).toContain('creation');
        expect(res.headers.get('tus-extension')).toContain('termination');
        expect(Number(res.headers.get('tus-max-size'))).toBeGreaterThan(0);
      });

      it('refuses bad requests with tus status codes', async () => {
        const post = (headers: Record<string, string>) =>
          fetch(`${server.url}${BASE}`, { method: 'POST', headers: auth(tenant.api_key, headers) });
        expect((await post({ 'upload-length': '10' })).status).toBe(412);
        expect((await post({ ...TUS })).status).toBe(400);
        expect((await post({ ...TUS, 'upload-length': '-1' })).status).toBe(400);
        expect((await post({ ...TUS, 'upload-length': '10', 'upload-metadata': 'name %%%' })).status).toBe(
          400,
        );
        expect((await post({ ...TUS, 'upload-length': String(2 ** 50) })).status).toBe(413);
        const url = await create(server, tenant.api_key, 10);
        expect((await patch(url, tenant.api_key, 0, 'x', { 'content-type': 'text/plain' })).status).toBe(415);
        const wrong = await patch(url, tenant.api_key, 5, 'x');
        expect(wrong.status).toBe(409);
        expect(wrong.headers.get('upload-offset')).toBe('0');
        // another tenant's key cannot see it
        const other = await server.createTenant('uploads-other');
        expect((await head(url, other.api_key)).status).toBe(404);
        expect((await fetch(url, { headers: auth(other.api_key) })).status).toBe(404);
        // terminated: 204, then 410
        const del = await fetch(url, { method: 'DELETE', headers: auth(tenant.api_key, TUS) });
        expect(del.status).toBe(204);
        expect((await head(url, tenant.api_key)).status).toBe(410);
      });

      it('ingests rows while bytes arrive, keeps every row error, and answers the ingest summary', async () => {
        const orders = makeOrders(3000, 'U1');
        const lines = ndjson(orders).split('\n');
        // two bad rows: invalid JSON on line 5, unknown product on line 2500
        lines[4] = '{"order_id": broken';
        lines[2499] = JSON.stringify({
          ...orders[2499],
          items: [{ product_id: 999, quantity: 1, unit_price_cents: 5 }],
        });
        const body = Buffer.from(lines.join('\n'));
        const url = await create(
          server,
          tenant.api_key,
          null,
          `filename ${Buffer.from('orders.ndjson').toString('base64')}`,
        );
        const half = body.lastIndexOf(10, Math.floor(body.length / 2)) + 1;
        const first = await patch(url, tenant.api_key, 0, body.subarray(0, half));
        expect(first.status).toBe(204);
        expect(first.headers.get('upload-offset')).toBe(String(half));
        expect(first.headers.get('upload-defer-length')).toBe('1');
        // rows land before the upload is complete
        await eventually(
          async () => (await summary(url, tenant.api_key)).rows_inserted > 0,
          10_000,
          'rows before the end',
        );
        const mid = await summary(url, tenant.api_key);
        expect(mid.state).toBe('receiving');
        expect((await head(url, tenant.api_key)).headers.get('upload-metadata')).toBe(
          `filename ${Buffer.from('orders.ndjson').toString('base64')}`,
        );
        expect((await head(url, tenant.api_key)).headers.get('upload-offset')).toBe(String(half));
        const rest = await patch(url, tenant.api_key, half, body.subarray(half), {
          'upload-length': String(body.length),
        });
        expect(rest.status).toBe(204);
        const done = await completed(url, tenant.api_key);
        expect(done).toMatchObject({
          rows_received: 3000,
          rows_inserted: 2998,
          rows_duplicate: 0,
          rows_failed: 2,
          upload_offset: body.length,
          errors_truncated: false,
        });
        expect(done.errors.map((e) => [e.line, e.code])).toEqual([
          [5, 'invalid_json'],
          [2500, 'unknown_product'],
        ]);
        expect(done.errors[1]!.order_id).toBe('U1-2499');
      });

      it('an upload that ended (failed or complete) refuses more bytes with 409 upload_ended, not a 500', async () => {
        const gzipMeta = `encoding ${Buffer.from('gzip').toString('base64')}`;
        // declared gzip, but not gzip: its processing fails
        const notGzip = Buffer.from('not gzip at all\n'.repeat(100));
        const failed = await create(server, tenant.api_key, notGzip.length * 2, gzipMeta);
        expect((await patch(failed, tenant.api_key, 0, notGzip)).status).toBe(204);
        await eventually(
          async () => (await summary(failed, tenant.api_key)).state === 'failed',
          10_000,
          'the upload to fail',
        );
        const done = Buffer.from(ndjson(makeOrders(10, 'UEND')));
        const complete = await create(server, tenant.api_key, done.length);
        expect((await patch(complete, tenant.api_key, 0, done)).status).toBe(204);
        await completed(complete, tenant.api_key);
        for (const [url, offset] of [
          [failed, notGzip.length],
          [complete, done.length],
        ] as const) {
          const res = await patch(url, tenant.api_key, offset, 'more');
          expect(res.status, await res.clone().text()).toBe(409);
          expect(res.headers.get('tus-resumable')).toBe('1.0.0');
          expect(((await res.json()) as { code: string }).code).toBe('upload_ended');
        }
        // what it answered stays readable
        expect((await summary(complete, tenant.api_key)).rows_inserted).toBe(10);
      });

      it('gzip uploads (Upload-Metadata encoding gzip) are decompressed while they arrive', async () => {
        const body = gzipSync(ndjson(makeOrders(2000, 'UGZ')));
        const url = await create(
          server,
          tenant.api_key,
          body.length,
          `encoding ${Buffer.from('gzip').toString('base64')}`,
        );
        const cut = Math.floor(body.length / 3);
        expect((await patch(url, tenant.api_key, 0, body.subarray(0, cut))).status).toBe(204);
        expect((await patch(url, tenant.api_key, cut, body.subarray(cut))).status).toBe(204);
        expect(await completed(url, tenant.api_key)).toMatchObject({
          rows_inserted: 2000,
          rows_duplicate: 0,
          rows_failed: 0,
        });
        // the staged bytes are removed once processed
        expect(await staged(server, tenant.tenant_id, url)).toBe(false);
      });

      it('a stock tus-js-client uploads, is interrupted, and resumes', async () => {
        const body = Buffer.from(ndjson(makeOrders(4000, 'UJS')));
        const options = {
          endpoint: `${server.url}${BASE}`,
          headers: { authorization: `Bearer ${tenant.api_key}` },
          chunkSize: 128 * 1024,
          metadata: { filename: 'orders.ndjson', filetype: 'application/x-ndjson' },
          retryDelays: [],
        };
        let uploadUrl = '';
        await new Promise<void>((resolve, reject) => {
          const first = new tus.Upload(body, {
            ...options,
            onProgress: (sent) => {
              if (sent >= body.length / 3 && first.url) {
                uploadUrl = first.url;
                first.abort().then(resolve, reject);
              }
            },
            onError: reject,
            onSuccess: () => reject(new Error('finished before the interruption')),
          });
          first.start();
        });
        const offset = Number((await head(uploadUrl, tenant.api_key)).headers.get('upload-offset'));
        expect(offset).toBeGreaterThan(0);
        expect(offset).toBeLessThan(body.length);
        await new Promise<void>((resolve, reject) => {
          const second = new tus.Upload(body, {
            ...options,
            uploadUrl,
            onError: reject,
            onSuccess: () => resolve(),
          });
          second.start();
        });
        expect(await completed(uploadUrl, tenant.api_key)).toMatchObject({
          rows_inserted: 4000,
          rows_duplicate: 0,
          rows_failed: 0,
        });
      });
    });

    describe('writer lane', () => {
      it("an upload's chunks are written in order by its shard's writer lane, one batch of rows each", async () => {
        const s = await serverWith([
          '--writer-lanes',
          '2',
          '--ingest-batch-rows',
          '100',
          '--log-level',
          'debug',
        ]);
        try {
          const t = await s.createTenant('upload-lane');
          await withProducts(s, t.api_key);
          const body = Buffer.from(ndjson(makeOrders(1000, 'UL')));
          const url = await create(s, t.api_key, body.length);
          expect((await patch(url, t.api_key, 0, body)).status).toBe(204);
          expect(await completed(url, t.api_key)).toMatchObject({ rows_inserted: 1000, rows_duplicate: 0 });
          const writes = s
            .logs()
            .filter((l) => l.msg === 'chunk written' && l.kind === 'orders' && l.tenant_id === t.tenant_id);
          expect(writes.map((w) => w.inserted)).toEqual(Array(10).fill(100));
          expect(new Set(writes.map((w) => w.thread_id)).size).toBe(1);
        } finally {
          await s.stop();
          removeDir(s.dataDir);
        }
      });
    });

    describe('tools/upload', () => {
      it('shows progress, survives being killed, resumes on the next run and prints the summary', async () => {
        const total = 15_000;
        const file = join(server.dataDir, 'orders.ndjson.gz');
        writeFileSync(file, gzipSync(ndjson(makeOrders(total, 'TOOL'))));
        const tool = join(ROOT, 'dist/tools/upload.js');
        const args = [tool, file, '--url', server.url, '--key', tenant.api_key, '--patch-bytes', '65536'];
        const slow = spawn(process.execPath, [...args, '--limit-rate', '100000'], { stdio: 'ignore' });
        await eventually(
          async () => {
            if (!existsSync(`${file}.tus.json`)) return false;
            const { uploadUrl } = JSON.parse(readFileSync(`${file}.tus.json`, 'utf8'));
            return Number((await head(uploadUrl, tenant.api_key)).headers.get('upload-offset')) > 65536;
          },
          10_000,
          'part of the file uploaded',
        );
        slow.kill('SIGKILL');
        await new Promise((r) => slow.once('exit', r));
        const result = spawnSync(process.execPath, args, { encoding: 'utf8' });
        expect(result.status, result.stderr).toBe(0);
        expect(result.stderr).toMatch(/resuming at byte [1-9]\d*/);
        const out = JSON.parse(result.stdout);
        expect(out.resumed_from).toBeGreaterThan(0);
        expect(out).toMatchObject({
          state: 'complete',
          rows_inserted: total,
          rows_duplicate: 0,
          rows_failed: 0,
        });
        expect(existsSync(`${file}.tus.json`)).toBe(false);
      });

      it('stops sending once the upload has failed, and prints the failed summary', async () => {
        // named .gz, so sent as gzip, but not gzip: processing fails after the first bytes
        const file = join(server.dataDir, 'not-really.ndjson.gz');
        writeFileSync(file, Buffer.from(ndjson(makeOrders(2000, 'NOTGZ'))));
        const tool = join(ROOT, 'dist/tools/upload.js');
        const started = Date.now();
        const result = spawnSync(
          process.execPath,
          [
            tool,
            file,
            '--url',
            server.url,
            '--key',
            tenant.api_key,
            '--patch-bytes',
            '65536',
            '--limit-rate',
            '200000',
          ],
          { encoding: 'utf8' },
        );
        expect(result.status, result.stderr).toBe(1);
        expect(result.stdout, result.stderr.slice(-600)).not.toBe('');
        expect(JSON.parse(result.stdout)).toMatchObject({ state: 'failed' });
        // no round of 409 retries: upload_ended ends the sending at once
        expect(result.stderr).not.toMatch(/still 409/);
        expect(Date.now() - started).toBeLessThan(8000);
      });

      it('a damaged state file (cut short) is set aside: the upload starts over and completes', async () => {
        const file = join(server.dataDir, 'damaged.ndjson');
        writeFileSync(file, ndjson(makeOrders(500, 'DMG')));
        writeFileSync(`${file}.tus.json`, '{"uploadUrl":"http://127.0.0.1:1/up');
        const tool = join(ROOT, 'dist/tools/upload.js');
        const result = spawnSync(
          process.execPath,
          [tool, file, '--url', server.url, '--key', tenant.api_key],
          {
            encoding: 'utf8',
          },
        );
        expect(result.status, result.stderr).toBe(0);
        expect(result.stderr).toMatch(/is not readable: starting over/);
        expect(JSON.parse(result.stdout)).toMatchObject({ state: 'complete', rows_inserted: 500 });
        expect(existsSync(`${file}.tus.json`)).toBe(false);
      });
    });

    describe('crash safety', () => {
      for (const gzip of [false, true]) {
        it(`a server killed mid-upload${gzip ? ' (gzip)' : ''} resumes both upload and processing: every row exactly once`, async () => {
          const first = await serverWith(['--ingest-chunk-bytes', '32768']);
          const t = await first.createTenant(gzip ? 'crash-gzip' : 'crash');
          await withProducts(first, t.api_key);
          const total = 12_000;
          const plain = Buffer.from(ndjson(makeOrders(total, gzip ? 'KG' : 'KP')));
          const body = gzip ? gzipSync(plain) : plain;
          // gzip is not declared here: the server recognises it by its magic bytes, also after the restart
          const url = await create(first, t.api_key, body.length);
          const a = Math.floor(body.length * 0.4);
          const started = await patch(url, t.api_key, 0, body.subarray(0, a));
          expect(started.status, await started.text()).toBe(204);
          await eventually(
            async () => (await summary(url, t.api_key)).rows_inserted > 0,
            10_000,
            'processing started',
          );
          // the next PATCH trickles in; the server dies while it is arriving and while rows are being processed
          let sent = a;
          const slow = new ReadableStream<Uint8Array>({
            async pull(controller) {
              if (sent >= body.length) return controller.close();
              const next = body.subarray(sent, Math.min(body.length, sent + 16 * 1024));
              sent += next.length;
              controller.enqueue(next);
              await new Promise((r) => setTimeout(r, 15));
            },
          });
          const trickle = patch(url, t.api_key, a, slow).catch(() => null);
          await eventually(() => sent > a + 64 * 1024, 10_000, 'some of the second PATCH');
          expect(await first.stop('SIGKILL')).toBeNull();
          await trickle;
          const before = await prepared.rowCount(first.dataDir, t.tenant_id, 'orders');
          expect(before).toBeLessThan(total);

          const second = await serverWith(['--ingest-chunk-bytes', '32768'], first.dataDir);
          try {
            const res = await head(url.replace(first.url, second.url), t.api_key);
            expect(res.status).toBe(200);
            const offset = Number(res.headers.get('upload-offset'));
            expect(offset).toBeGreaterThanOrEqual(a); // the acknowledged offset survived
            const url2 = url.replace(first.url, second.url);
            const resumed = await patch(url2, t.api_key, offset, body.subarray(offset));
            expect(resumed.status, await resumed.text()).toBe(204);
            // on PostgreSQL the killed server holds the upload until its heartbeat is ALIVE_MS (15 s) old,
            // then a live server adopts it (src/jobs/upload-jobs.ts)
            const done = await completed(url2, t.api_key, prepared.query ? 45_000 : 20_000);
            expect(done).toMatchObject({
              rows_received: total,
              rows_inserted: total,
              rows_duplicate: 0,
              rows_failed: 0,
            });
            expect(await prepared.rowCount(second.dataDir, t.tenant_id, 'orders')).toBe(total);
            // by the restarted server; on PostgreSQL the suite's other server shares the database and may be
            // the one to take it over
            const resumedBy = (s: TestServer) => s.logs().some((l) => l.msg === 'upload resumed');
            expect(prepared.query ? [second, server].some(resumedBy) : resumedBy(second)).toBe(true);
          } finally {
            await second.stop();
            removeDir(second.dataDir);
          }
        }, 90_000);
      }

      it('an abandoned upload expires: 410 and its staged bytes deleted', async () => {
        const s = await serverWith(['--upload-expiry-s', '1']);
        try {
          const t = await s.createTenant('expiry');
          const url = await create(s, t.api_key, 1000);
          expect((await patch(url, t.api_key, 0, '{"order_id":')).status).toBe(204);
          expect(await staged(s, t.tenant_id, url)).toBe(true);
          await eventually(async () => (await head(url, t.api_key)).status === 410, 5000, 'expiry');
          expect(await staged(s, t.tenant_id, url)).toBe(false);
        } finally {
          await s.stop();
          removeDir(s.dataDir);
        }
      });
    });
  });
