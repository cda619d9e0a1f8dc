import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PreparedBackend, SERVER_BACKENDS } from '../helpers/backends.js';
import { ndjson, order } from '../helpers/data.js';
import { rawRequest } from '../helpers/raw-http.js';
import { auth, removeDir, startServer, type TestServer } from '../helpers/server.js';
import { create, withProducts } from '../helpers/tus.js';

/**
 * Bodies that stall or never end (issue 21, item 12): Node's own 300 s requestTimeout used to cut them with
 * a bare 408 and no counts; now each kind of body has its deadlines (flags), and running past one is a
 * 408 body_timeout problem carrying what was committed.
 */
for (const backend of SERVER_BACKENDS)
  describe.skipIf(backend.skip !== null)(`body deadlines on ${backend.name}`, () => {
    let s: TestServer;
    let prepared: PreparedBackend;
    let key: string;
    beforeAll(async () => {
      prepared = await backend.prepare();
      s = await startServer({
        args: [
          ...['--body-idle-timeout-s', '1', '--ingest-body-timeout-s', '3', '--request-timeout-s', '2'],
          ...prepared.args,
        ],
      });
      key = (await s.createTenant('timeouts')).api_key;
      await withProducts(s, key);
    });
    afterAll(async () => {
      await s?.stop();
      if (s) removeDir(s.dataDir);
      await prepared?.cleanup();
    });

    const ingestHead = (length: number) => ({
      method: 'POST',
      path: '/api/v1/ingest/orders/',
      headers: { ...auth(key), 'content-type': 'application/x-ndjson', 'content-length': String(length) },
    });

    describe('body deadlines', () => {
      it('an ingest body that stalls is a 408 body_timeout with the rows committed before it', async () => {
        const lines = ndjson(Array.from({ length: 10 }, (_, i) => order(70_000 + i)));
        const started = Date.now();
        const answer = await rawRequest(s.port, ingestHead(lines.length * 10), [
          { afterMs: 0, bytes: lines },
        ]);
        expect(answer.status).toBe(408);
        expect(JSON.parse(answer.body)).toMatchObject({ code: 'body_timeout', rows_inserted: 10 });
        expect(Date.now() - started).toBeLessThan(2900); // the idle limit (1 s), not the total (3 s)
      });

      it('an ingest body still trickling in past the total limit is a 408 with its counts', async () => {
        const pieces = Array.from({ length: 12 }, (_, i) => ({
          afterMs: 400,
          bytes: ndjson([order(71_000 + i)]),
        }));
        const answer = await rawRequest(s.port, ingestHead(1_000_000), pieces);
        expect(answer.status).toBe(408);
        const body = JSON.parse(answer.body) as { code: string; detail: string; rows_inserted: number };
        expect(body.code).toBe('body_timeout');
        expect(body.detail).toMatch(/still arriving after 3 s/);
        expect(body.rows_inserted).toBeGreaterThanOrEqual(5);
      });

      it('a JSON body that stalls is a 408 body_timeout', async () => {
        const answer = await rawRequest(
          s.port,
          {
            method: 'PUT',
            path: '/api/v1/tenants/1/stock/bulk_update',
            headers: { ...auth(key), 'content-type': 'application/json', 'content-length': '500' },
          },
          [{ afterMs: 0, bytes: '{"mode":"merge","events":[' }],
        );
        expect(answer.status).toBe(408);
        expect(JSON.parse(answer.body)).toMatchObject({ code: 'body_timeout' });
      });

      it('a tus PATCH that stalls is a 408 with the durable offset', async () => {
        const url = await create(s, key, 100_000);
        const path = new URL(url).pathname;
        const answer = await rawRequest(
          s.port,
          {
            method: 'PATCH',
            path,
            headers: {
              ...auth(key),
              'tus-resumable': '1.0.0',
              'content-type': 'application/offset+octet-stream',
              'upload-offset': '0',
              'content-length': '100000',
            },
          },
          [{ afterMs: 0, bytes: ndjson([order(72_000)]) }],
        );
        expect(answer.status).toBe(408);
        expect(Number(answer.headers['upload-offset'])).toBe(ndjson([order(72_000)]).length);
      });
    });
  });
