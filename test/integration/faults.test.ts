import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionName } from '../../src/storage/postgres/tenant-partitions.js';
import { shardPath } from '../../src/storage/shards.js';
import { makeOrders, ndjson, order, product } from '../helpers/data.js';
import { postgresUnavailable, scratchSchema, TEST_DATABASE_URL } from '../helpers/postgres.js';
import { ADMIN_TOKEN, auth, eventually, removeDir, startServer, type TestServer } from '../helpers/server.js';

/**
 * Faults (issue 21): a damaged shard takes down its own tenant only; a full disk answers 507 on every kind
 * of write and /readyz says so until space is back; every 5xx is a problem with a request id and a log
 * line with its cause. On PostgreSQL (issue 17): its full disk answers 507 the same way; its dropped
 * connections and amcheck are tested in postgres-server.test.ts.
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
      // on read: the tenant's orders stay pending until the metrics read below folds them in, so the read
      // must write on the full disk (in the background the upkeep thread would have folded them already)
      s = await startServer({
        dataDir: join(disk!, 'data'),
        args: ['--min-free-disk-mb', '1', '--rollup-refresh', 'on-read'],
      });
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

/**
 * PostgreSQL out of disk: the tenant's partitions moved to a tablespace on a small tmpfs that is then
 * filled. Needs the database on this machine and the right to mount (root); skipped, saying why, elsewhere.
 */
const pgUnavailable = await postgresUnavailable();
const pgDisk = pgUnavailable === null ? smallDisk(16) : null;
const pgDiskSkip =
  pgUnavailable ??
  (pgDisk === null ? 'cannot mount a tmpfs here; needs root or CAP_SYS_ADMIN' : tablespaceOwner(pgDisk));

/** Gives the directory to the database's user, or says why that cannot be done. */
function tablespaceOwner(dir: string): string | null {
  try {
    execFileSync('chown', ['postgres:postgres', dir], { stdio: 'ignore' });
    return null;
  } catch {
    return 'no local postgres user to own a tablespace directory';
  }
}

describe.skipIf(pgDiskSkip !== null)(
  `a full disk under PostgreSQL${pgDiskSkip === null ? '' : ` (skipped: ${pgDiskSkip})`}`,
  () => {
    const tablespace = `orderflow_full_${process.pid}`;
    const filler = join(pgDisk ?? '', 'filler');
    let schema: Awaited<ReturnType<typeof scratchSchema>>;
    let admin: pg.Client;
    let s: TestServer;
    let t: { id: number; key: string; headers: Record<string, string> };
    const orderRows = async () =>
      (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${partitionName('orders', t.id)}`))
        .rows[0]!.n;

    beforeAll(async () => {
      schema = await scratchSchema();
      admin = await schema.connect();
      s = await startServer({ args: ['--storage', 'postgres', '--database-url', schema.url] });
      t = await tenantWithData(s, 'pg-full', 200);
      await admin.query(`CREATE TABLESPACE ${tablespace} LOCATION '${pgDisk}'`);
      // every relation of the tenant's partitions: tables, their TOAST and indexes
      const { rows } = await admin.query<{ name: string; kind: string }>(
        `SELECT c.oid::regclass::text AS name, c.relkind AS kind FROM pg_class c
          WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'i')
            AND (c.relname LIKE $1 OR c.oid IN (SELECT indexrelid FROM pg_index i JOIN pg_class r
                   ON r.oid = i.indrelid WHERE r.relname LIKE $1))`,
        [`%\\_t${t.id}`],
      );
      expect(rows.length).toBeGreaterThan(5);
      for (const { name, kind } of rows)
        await admin.query(`ALTER ${kind === 'r' ? 'TABLE' : 'INDEX'} ${name} SET TABLESPACE ${tablespace}`);
    });
    afterAll(async () => {
      await s?.stop();
      if (s) removeDir(s.dataDir);
      await admin?.end();
      await schema?.drop(); // the tablespace's relations go with the schema
      const cleanup = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await cleanup.connect();
      try {
        await cleanup.query(`DROP TABLESPACE IF EXISTS ${tablespace}`);
        // before the directory goes: a checkpoint syncs whatever was pending for its files, and takes crash
        // recovery's starting point past the CREATE TABLESPACE (whose replay would need the directory)
        await cleanup.query('CHECKPOINT');
      } finally {
        await cleanup.end();
      }
      execFileSync('umount', [pgDisk!]);
      rmSync(pgDisk!, { recursive: true, force: true });
    });

    /** One price event, the same each time: refused under the full disk, then new once there is space. */
    const postPriceEvent = () =>
      fetch(`${s.url}/api/v1/tenants/${t.id}/products/2/price-event`, {
        method: 'POST',
        headers: auth(t.key, { 'content-type': 'application/json' }),
        body: JSON.stringify({
          event_id: 'pg-full-price',
          price_cents: 12345,
          observed_at: '2026-01-02T00:00:00Z',
        }),
      });

    /** Fills the tablespace's file system to its last few KiB. */
    function fill() {
      const fd = openSync(filler, 'a');
      try {
        for (const size of [1 << 20, 4096])
          try {
            for (;;) writeSync(fd, Buffer.alloc(size));
          } catch {
            // ENOSPC: on to smaller blocks, then full
          }
      } finally {
        closeSync(fd);
      }
    }

    it('ingest, stock and price events answer 507 problems with request ids and a log line each; nothing half-written; this server stays ready', async () => {
      const before = await orderRows();
      fill();
      const ingest = await fetch(`${s.url}/api/v1/ingest/orders/`, {
        method: 'POST',
        headers: t.headers,
        body: ndjson(makeOrders(5000, 'pg-full-more')),
      });
      const ingestProblem = (await ingest.json()) as Problem;
      expect(ingest.status, JSON.stringify(ingestProblem)).toBe(507);
      expect(ingest.headers.get('content-type')).toMatch(/problem\+json/);
      expect(ingestProblem).toMatchObject({
        code: 'insufficient_storage',
        rows_received: expect.any(Number),
      });
      // what the answer says was inserted is there, and nothing else
      expect(await orderRows()).toBe(before + (ingestProblem.rows_inserted ?? 0));
      const stock = await fetch(`${s.url}/api/v1/tenants/${t.id}/stock/bulk_update`, {
        method: 'PUT',
        headers: auth(t.key, { 'content-type': 'application/json' }),
        body: JSON.stringify({
          mode: 'merge',
          events: Array.from({ length: 2000 }, (_, i) => ({
            event_id: `pg-full-${i}`,
            product_id: 1 + (i % 8),
            delta: 1,
            occurred_at: '2026-01-01T00:00:00Z',
          })),
        }),
      });
      const stockProblem = (await stock.json()) as Problem;
      expect(stock.status, JSON.stringify(stockProblem)).toBe(507);
      expect(stockProblem.code).toBe('insufficient_storage');
      const price = await postPriceEvent();
      const priceProblem = (await price.json()) as Problem;
      expect(price.status, JSON.stringify(priceProblem)).toBe(507);
      expect(priceProblem.code).toBe('insufficient_storage');
      for (const p of [ingestProblem, stockProblem, priceProblem]) {
        expect(p.request_id).toBeTruthy();
        expect(
          s
            .logs()
            .some(
              (l) =>
                l.req_id === p.request_id && l.level === 'error' && /53100|space/.test(JSON.stringify(l.err)),
            ),
        ).toBe(true);
      }
      // the disk that is full is the database's: this server's own is fine, and reads are served
      const ready = await fetch(`${s.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(((await ready.json()) as { disk: { writable: boolean } }).disk.writable).toBe(true);
      expect((await search(s, t)).status).toBe(200);
    });

    it('writes succeed again once the database has space', async () => {
      rmSync(filler);
      const before = await orderRows();
      const res = await fetch(`${s.url}/api/v1/ingest/orders/`, {
        method: 'POST',
        headers: t.headers,
        body: ndjson(makeOrders(500, 'pg-full-back')),
      });
      expect(res.status).toBe(200);
      expect(await orderRows()).toBe(before + 500);
      // the price event refused under the full disk left nothing behind: sent again, it is new, not a replay
      const price = await postPriceEvent();
      expect(price.status).toBe(201);
      expect(price.headers.get('idempotent-replayed')).toBeNull();
    });
  },
);
