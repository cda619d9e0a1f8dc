import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardPath } from '../../src/storage/shards.js';
import { makeOrders, ndjson, order, product } from '../helpers/data.js';
import { ADMIN_TOKEN, auth, eventually, removeDir, startServer, type TestServer } from '../helpers/server.js';

/**
 * Faults (issue 21): a damaged shard takes down its own tenant only; a full disk answers 507 on every kind
 * of write and /readyz says so until space is back; every 5xx is a problem with a request id and a log
 * line with its cause.
 */

type Problem = { status: number; code: string; request_id: string; rows_inserted?: number };

async function tenantWithData(s: TestServer, name: string, orders = 50) {
  const t = await s.createTenant(name);
  const headers = auth(t.api_key, { 'content-type': 'application/x-ndjson' });
  const products = await fetch(`${s.url}/api/v1/ingest/products/`, {
    method: 'POST',
    headers,
    body: ndjson(Array.from({ length: 8 }, (_, i) => product(i + 1))),
  });
  expect(products.status).toBe(200);
  const res = await fetch(`${s.url}/api/v1/ingest/orders/`, {
    method: 'POST',
    headers,
    body: ndjson(makeOrders(orders, name)),
  });
  expect(res.status).toBe(200);
  return { id: t.tenant_id, key: t.api_key, headers };
}

const search = (s: TestServer, t: { id: number; key: string }) =>
  fetch(`${s.url}/api/v1/tenants/${t.id}/orders/search?limit=100000`, { headers: auth(t.key) });

describe('a damaged shard', () => {
  it('at start takes down its own tenant only: 503 for it, /readyz names it, the others are served', async () => {
    const first = await startServer();
    const a = await tenantWithData(first, 'damaged-a');
    const b = await tenantWithData(first, 'healthy-b');
    await first.stop();
    // not a database any more: the header is overwritten
    const fd = openSync(shardPath(first.dataDir, a.id), 'r+');
    writeSync(fd, Buffer.alloc(4096, 0x42), 0, 4096, 0);
    closeSync(fd);
    const second = await startServer({ dataDir: first.dataDir });
    try {
      expect((await search(second, b)).status).toBe(200);
      const res = await search(second, a);
      expect(res.status).toBe(503);
      const problem = (await res.json()) as Problem;
      expect(problem).toMatchObject({ code: 'tenant_unavailable' });
      expect(problem.request_id).toBeTruthy();
      const ready = await fetch(`${second.url}/readyz`);
      expect(ready.status).toBe(200);
      const body = (await ready.json()) as { unavailable_tenants: { tenant_id: number; reason: string }[] };
      expect(body.unavailable_tenants).toMatchObject([{ tenant_id: a.id }]);
      expect(body.unavailable_tenants[0]!.reason).toMatch(/SQLITE_NOTADB/);
      expect(
        second.logs().some((l) => l.msg?.toString().startsWith('tenant unavailable') && l.tenant_id === a.id),
      ).toBe(true);
      // the admin check says what is wrong
      const check = await fetch(`${second.url}/api/v1/admin/tenants/${a.id}/check?mode=full`, {
        method: 'POST',
        headers: auth(ADMIN_TOKEN),
      });
      expect(await check.json()).toMatchObject({ ok: false, available: false });
    } finally {
      await second.stop();
      removeDir(first.dataDir);
    }
  });

  it('found damaged in the middle: a clear problem, the check confirms it, and a repaired shard comes back', async () => {
    const s = await startServer();
    try {
      const t = await tenantWithData(s, 'mid-damage', 3000);
      const path = shardPath(s.dataDir, t.id);
      await fetch(`${s.url}/api/v1/admin/tenants/${t.id}/check`, {
        method: 'POST',
        headers: auth(ADMIN_TOKEN),
      });
      // the backup is the whole database once the WAL is empty: the server's own checkpoint after the
      // ingest may be copying pages at this moment (a copy taken then mixes old and new pages), so the
      // truncating checkpoint is retried until it was not blocked
      const db = new Database(path);
      await eventually(
        () => {
          const [r] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number }[];
          return r!.busy === 0 && r!.log === 0;
        },
        10_000,
        'an empty WAL',
      );
      db.close();
      const backup = `${path}.backup`;
      copyFileSync(path, backup);
      // scribble over pages in the middle of the file (a failing disk, a bad copy)
      const fd = openSync(path, 'r+');
      for (let page = 8; page < 400; page += 3) writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, page * 4096);
      closeSync(fd);
      const res = await search(s, t);
      const text = await res.text();
      // either the damage is met before the first byte (a 503 problem) or after it (an in-band error)
      if (res.status === 503) expect(JSON.parse(text)).toMatchObject({ code: 'tenant_unavailable' });
      else expect(text).toMatch(/"_meta":\{"error"/);
      await eventually(
        async () => (await search(s, t)).status === 503,
        10_000,
        'the tenant to be marked unavailable',
      );
      expect(s.logs().some((l) => l.msg === 'shard checked' && l.ok === false)).toBe(true);
      // the operator restores the file and asks for a check: the tenant is back
      copyFileSync(backup, path);
      rmSync(`${path}-wal`, { force: true });
      const check = await fetch(`${s.url}/api/v1/admin/tenants/${t.id}/check?mode=full`, {
        method: 'POST',
        headers: auth(ADMIN_TOKEN),
      });
      expect(await check.json()).toMatchObject({ ok: true, available: true });
      expect((await search(s, t)).status).toBe(200);
    } finally {
      await s.stop();
      removeDir(s.dataDir);
    }
  });
});

/** A small tmpfs the test can fill; null (skip) where this machine does not let us mount one. */
function smallDisk(megabytes: number): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'orderflow-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m`, 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
}

const disk = smallDisk(48);

describe.skipIf(disk === null)(
  `a full disk${disk === null ? ' (skipped: cannot mount a tmpfs here; needs root or CAP_SYS_ADMIN)' : ''}`,
  () => {
    let s: TestServer;
    let t: { id: number; key: string; headers: Record<string, string> };
    const filler = join(disk ?? '', 'filler');

    beforeAll(async () => {
      s = await startServer({ dataDir: join(disk!, 'data'), args: ['--min-free-disk-mb', '1'] });
      t = await tenantWithData(s, 'full', 200);
    });
    afterAll(async () => {
      await s?.stop();
      execFileSync('umount', [disk!]);
      rmSync(disk!, { recursive: true, force: true });
    });

    /**
     * Fills the disk up to the last few KiB. The shard's WAL is emptied first: a write that fits in WAL space
     * already allocated needs no new disk blocks and would still succeed.
     */
    function fill() {
      const db = new Database(shardPath(join(disk!, 'data'), t.id));
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
      const fd = openSync(filler, 'a');
      const block = Buffer.alloc(1 << 20);
      try {
        for (;;) writeSync(fd, block);
      } catch {
        // ENOSPC: full to the last MiB; now the last KiBs
        const small = Buffer.alloc(4096);
        try {
          for (;;) writeSync(fd, small);
        } catch {
          // full
        }
      } finally {
        closeSync(fd);
      }
    }

    it('ingest, stock, price events and metrics answer 507 problems with request ids; /readyz is not ready', async () => {
      fill();
      const ingest = await fetch(`${s.url}/api/v1/ingest/orders/`, {
        method: 'POST',
        headers: t.headers,
        body: ndjson(makeOrders(5000, 'full-more')),
      });
      expect(ingest.status).toBe(507);
      const ingestProblem = (await ingest.json()) as Problem;
      expect(ingestProblem).toMatchObject({
        code: 'insufficient_storage',
        rows_received: expect.any(Number),
      });
      expect(ingestProblem.request_id).toBeTruthy();

      const json = (path: string, method: string, body: unknown) =>
        fetch(`${s.url}/api/v1/tenants/${t.id}${path}`, {
          method,
          headers: auth(t.key, { 'content-type': 'application/json' }),
          body: JSON.stringify(body),
        });
      const answers = [
        await json('/stock/bulk_update', 'PUT', {
          mode: 'merge',
          events: Array.from({ length: 2000 }, (_, i) => ({
            event_id: `full-${i}`,
            product_id: 1 + (i % 8),
            delta: 1,
            occurred_at: '2026-01-01T00:00:00Z',
          })),
        }),
        await json('/products/2/price-event', 'POST', {
          event_id: 'full-price',
          price_cents: 12345,
          observed_at: '2026-01-02T00:00:00Z',
        }),
        await fetch(
          `${s.url}/api/v1/tenants/${t.id}/metrics/sales?group_by=day&start_date=2026-01-01&end_date=2026-02-01`,
          { headers: auth(t.key) },
        ),
      ];
      for (const res of answers) {
        expect(res.headers.get('content-type')).toMatch(/problem\+json/);
        const p = (await res.json()) as Problem;
        expect(res.status, JSON.stringify(p)).toBe(507);
        expect(p.code).toBe('insufficient_storage');
        expect(p.request_id).toBeTruthy();
      }
      for (const id of [ingestProblem.request_id])
        expect(s.logs().some((l) => l.req_id === id && l.level === 'error' && l.err)).toBe(true);
      const ready = await fetch(`${s.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { disk: { writable: boolean } }).disk.writable).toBe(false);
    });

    it('recovers by itself once space is back', async () => {
      rmSync(filler);
      await eventually(async () => (await fetch(`${s.url}/readyz`)).status === 200, 5000, 'ready again');
      const res = await fetch(`${s.url}/api/v1/ingest/orders/`, {
        method: 'POST',
        headers: t.headers,
        body: ndjson([order(990_001)]),
      });
      expect(res.status).toBe(200);
    });
  },
);
