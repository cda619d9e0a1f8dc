import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PreparedBackend, SERVER_BACKENDS } from '../helpers/backends.js';
import { makeOrders, ndjson } from '../helpers/data.js';
import { auth, removeDir, serverErrors, startServer, type TestServer } from '../helpers/server.js';
import { BASE, TUS, withProducts } from '../helpers/tus.js';

/**
 * Quotas (issue 21, item 6): 300 export jobs were accepted in 1.1 s and 3,000 uploads declaring 16 GiB
 * each in 7 s. Now each tenant has caps, each with its own code and flag; other tenants are not affected.
 */
for (const backend of SERVER_BACKENDS)
  describe.skipIf(backend.skip !== null)(`quotas on ${backend.name}`, () => {
    let s: TestServer;
    let prepared: PreparedBackend;
    beforeAll(async () => {
      prepared = await backend.prepare();
      s = await startServer({
        args: [
          ...prepared.args,
          ...[
            '--max-export-jobs-per-tenant',
            '2',
            '--export-concurrency',
            '1',
            '--export-max-rows-per-s',
            '1',
          ],
          ...['--max-open-uploads-per-tenant', '3', '--max-upload-bytes-per-tenant', '1000000'],
          ...['--shutdown-timeout-ms', '500'],
        ],
      });
    });
    afterAll(async () => {
      await s?.stop();
      if (s) removeDir(s.dataDir);
      await prepared?.cleanup();
    });

    const exportJob = (t: { tenant_id: number; api_key: string }) =>
      fetch(`${s.url}/api/v1/tenants/${t.tenant_id}/reports/export`, {
        method: 'POST',
        headers: auth(t.api_key, { 'content-type': 'application/json' }),
        body: JSON.stringify({ format: 'csv' }),
      });

    const upload = (key: string, length: number) =>
      fetch(`${s.url}${BASE}`, {
        method: 'POST',
        headers: auth(key, { ...TUS, 'upload-length': String(length) }),
      });

    describe('per-tenant quotas', () => {
      it('export jobs queued or running: 429 too_many_exports past the cap; another tenant unaffected', async () => {
        const a = await s.createTenant('quota-a');
        await withProducts(s, a.api_key);
        // rows to export, paced at 1 row/s: the jobs stay queued or running
        await fetch(`${s.url}/api/v1/ingest/orders/`, {
          method: 'POST',
          headers: auth(a.api_key, { 'content-type': 'application/x-ndjson' }),
          body: ndjson(makeOrders(50, 'q')),
        });
        const answers = [];
        for (let i = 0; i < 4; i++) answers.push(await exportJob(a));
        expect(answers.map((r) => r.status)).toEqual([202, 202, 429, 429]);
        expect(await answers[2]!.json()).toMatchObject({ code: 'too_many_exports', limit: 2 });
        const b = await s.createTenant('quota-b');
        expect((await exportJob(b)).status).toBe(202);
      });

      it('open uploads and the bytes they declare: 429 too_many_uploads, 413 upload_quota_exceeded', async () => {
        const t = await s.createTenant('quota-uploads');
        expect((await upload(t.api_key, 600_000)).status).toBe(201);
        const tooBig = await upload(t.api_key, 600_000);
        expect(tooBig.status).toBe(413);
        expect(await tooBig.json()).toMatchObject({ code: 'upload_quota_exceeded' });
        expect((await upload(t.api_key, 100)).status).toBe(201);
        expect((await upload(t.api_key, 100)).status).toBe(201);
        const tooMany = await upload(t.api_key, 100);
        expect(tooMany.status).toBe(429);
        expect(await tooMany.json()).toMatchObject({ code: 'too_many_uploads' });
        // terminating one frees a place
        const other = await s.createTenant('quota-uploads-other');
        expect((await upload(other.api_key, 100)).status).toBe(201);
      });
    });

    describe('free disk', () => {
      // SQLite keeps export files and upload bytes on this server's disk: under the minimum they are
      // refused before anything is written. PostgreSQL keeps both in the database, whose disk is not this
      // one: the local minimum only takes the server out of /readyz, and the same requests are accepted
      const local = backend.name === 'sqlite';
      it(`new exports and uploads under --min-free-disk-mb: ${local ? 'refused with 507' : 'accepted (their bytes go to PostgreSQL)'}`, async () => {
        const tight = await startServer({
          args: [...prepared.args, '--min-free-disk-mb', String(64 * 1024 * 1024)], // 64 TiB
        });
        try {
          const t = await tight.createTenant('tight');
          const exp = await fetch(`${tight.url}/api/v1/tenants/${t.tenant_id}/reports/export`, {
            method: 'POST',
            headers: auth(t.api_key, { 'content-type': 'application/json' }),
            body: JSON.stringify({ format: 'csv' }),
          });
          const answer = await exp.text();
          expect(exp.status, `${answer}\n${serverErrors(tight)}`).toBe(local ? 507 : 202);
          if (local) expect(JSON.parse(answer)).toMatchObject({ code: 'insufficient_storage' });
          const up = await fetch(`${tight.url}${BASE}`, {
            method: 'POST',
            headers: auth(t.api_key, { ...TUS, 'upload-length': '10' }),
          });
          expect(up.status).toBe(local ? 507 : 201);
          expect((await fetch(`${tight.url}/readyz`)).status).toBe(503);
        } finally {
          await tight.stop();
          removeDir(tight.dataDir);
        }
      });
    });
  });
