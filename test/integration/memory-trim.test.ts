import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PreparedBackend, SERVER_BACKENDS } from '../helpers/backends.js';
import { ndjson, order, product } from '../helpers/data.js';
import { auth, eventually, metricValue, removeDir, startServer, type TestServer } from '../helpers/server.js';

/**
 * Once its threads are quiet after work, the server hands memory freed inside malloc's arenas back to the
 * system (src/obs/memory-trim.ts); perf/soak measures how much. Here: the wiring, with a fast tick.
 */
for (const backend of SERVER_BACKENDS)
  describe.skipIf(backend.skip !== null)(`memory returned when idle, on ${backend.name}`, () => {
    let prepared: PreparedBackend;
    let s: TestServer;
    beforeAll(async () => {
      prepared = await backend.prepare();
      s = await startServer({ args: ['--memory-trim-ms', '50', '--log-level', 'debug', ...prepared.args] });
    });
    afterAll(async () => {
      await s?.stop();
      if (s) removeDir(s.dataDir);
      await prepared?.cleanup();
    });

    it('trims after an ingest, and says so in its metrics and debug log', async () => {
      const t = await s.createTenant('trim');
      const headers = auth(t.api_key, { 'content-type': 'application/x-ndjson' });
      const post = (kind: string, rows: unknown[]) =>
        fetch(`${s.url}/api/v1/ingest/${kind}/`, { method: 'POST', headers, body: ndjson(rows) });
      expect((await post('products', [product(1), product(2), product(3)])).status).toBe(200);
      expect(
        (
          await post(
            'orders',
            Array.from({ length: 2000 }, (_, i) => order(i)),
          )
        ).status,
      ).toBe(200);
      const before = await metricValue(s.url, 'process_memory_trims_total');
      await eventually(
        async () => (await metricValue(s.url, 'process_memory_trims_total')) > before,
        10_000,
        'a trim after the ingest',
      );
      const line = s.logs().find((l) => l.msg === 'idle: memory returned to the system');
      expect(line).toMatchObject({ released_mb: expect.any(Number), rss_mb: expect.any(Number) });
    });

    it('reports what malloc holds at each scrape: in use and free inside its arenas, mapped on their own', async () => {
      const inUse = await metricValue(s.url, 'process_malloc_bytes', { kind: 'in_use' });
      // the SQLite library, its connections and every thread's native buffers: megabytes, not bytes
      expect(inUse).toBeGreaterThan(1 << 20);
      expect(await metricValue(s.url, 'process_malloc_bytes', { kind: 'mapped' })).toBeGreaterThan(0);
      const text = await (await fetch(`${s.url}/metrics`)).text();
      expect(text).toMatch(/^process_malloc_bytes\{kind="free"\} \d+/m);
    });
  });
