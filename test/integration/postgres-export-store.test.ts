import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExportSpec } from '../../src/domain/export.js';
import { PIECE_BYTES } from '../../src/storage/postgres/byte-pieces.js';
import { PgCatalog } from '../../src/storage/postgres/catalog.js';
import { exportFileRange } from '../../src/storage/postgres/export-file.js';
import { ExportClaimLost, PgExportStore } from '../../src/storage/postgres/exports.js';
import { migratePostgres } from '../../src/storage/postgres/migrations.js';
import { postgresUnavailable, scratchSchema } from '../helpers/postgres.js';

/**
 * The export job store on PostgreSQL (src/storage/postgres/exports.ts): a checkpoint written only by the
 * job's runner and only from where the part stands, pieces moved to their offsets in the file on completion,
 * and the file read back by ranges across pieces.
 */
const unavailable = await postgresUnavailable();
if (unavailable) console.warn(`PostgreSQL export store not tested: ${unavailable}`);

const SPEC: ExportSpec = {
  format: 'csv',
  compression: 'none',
  filters: {},
  fields: ['order_id'],
} as ExportSpec;
const LIMITS = { jobs: 10, bytes: 1e12 };
const bytesOf = (text: string) => new TextEncoder().encode(text);

describe.skipIf(unavailable !== null)('export jobs stored in PostgreSQL', () => {
  let schema: Awaited<ReturnType<typeof scratchSchema>>;
  let pool: pg.Pool;
  let client: pg.PoolClient;
  let jobs: PgExportStore;
  let tenant: number;
  beforeAll(async () => {
    schema = await scratchSchema();
    pool = schema.pool();
    client = await pool.connect();
    await migratePostgres(client);
    tenant = (await new PgCatalog(pool).createTenant('export-store')).tenant_id;
    jobs = new PgExportStore(client, tenant);
    await pool.query("INSERT INTO server_boots (boot_id) VALUES ('boot-a'), ('boot-b')");
  });
  afterAll(async () => {
    client?.release();
    await pool?.end();
    await schema?.drop();
  });

  const newJob = async (id: string) => {
    const created = await jobs.create(id, SPEC, Date.now(), LIMITS, 'boot-a');
    expect(created.ok).toBe(true);
    await jobs.plan(id, [{ createdAt: 1, orderPk: 1 }]);
    await jobs.begin(id);
  };
  const at = (rows: number, bytes: number) => ({ rows, bytes, position: { createdAt: 2, orderPk: rows } });

  it('a checkpoint from a server that no longer runs the job, or from a stale offset, writes nothing', async () => {
    await newJob('exp_claim');
    await jobs.checkpoint('exp_claim', 0, 0, bytesOf('abc'), at(1, 3), { rows: 1, bytes: 3 }, [], 'boot-a');
    // another server took the job over (boot-a stopped beating): boot-a's next checkpoint is refused
    await pool.query(
      "UPDATE server_boots SET heartbeat_at = now() - interval '1 hour' WHERE boot_id = 'boot-a'",
    );
    expect(await jobs.claim('exp_claim', 'boot-b')).toBe(true);
    await expect(
      jobs.checkpoint('exp_claim', 0, 3, bytesOf('def'), at(2, 6), { rows: 1, bytes: 3 }, [], 'boot-a'),
    ).rejects.toBeInstanceOf(ExportClaimLost);
    // the new runner writing from an offset the part is not at (a batch committed twice) is refused too
    await expect(
      jobs.checkpoint('exp_claim', 0, 0, bytesOf('xyz'), at(1, 3), { rows: 1, bytes: 3 }, [], 'boot-b'),
    ).rejects.toBeInstanceOf(ExportClaimLost);
    await jobs.checkpoint('exp_claim', 0, 3, bytesOf('def'), at(2, 6), { rows: 1, bytes: 3 }, [], 'boot-b');
    const [part0] = await jobs.parts('exp_claim');
    expect(part0!.at).toMatchObject({ rows: 2, bytes: 6 });
    const { rows } = await pool.query<{ bytes: Buffer }>(
      "SELECT bytes FROM export_bytes WHERE export_id = 'exp_claim' ORDER BY start_offset",
    );
    expect(Buffer.concat(rows.map((r) => r.bytes)).toString()).toBe('abcdef');
    expect((await jobs.get('exp_claim'))!.rows_written).toBe(2);
    await pool.query("UPDATE server_boots SET heartbeat_at = now() WHERE boot_id = 'boot-a'");
  });

  it('completion moves every part to its offset in the file, a batch over 1 MiB in several pieces, and ranges read across them', async () => {
    await newJob('exp_join');
    const big = new Uint8Array(PIECE_BYTES + 1000).map((_, i) => 65 + (i % 26));
    // part 1 first: parts are written side by side, in any order
    await jobs.checkpoint(
      'exp_join',
      1,
      0,
      bytesOf('second-part;'),
      at(1, 12),
      { rows: 1, bytes: 12 },
      [],
      'boot-a',
    );
    await jobs.checkpoint('exp_join', 0, 0, bytesOf('head;'), at(1, 5), { rows: 1, bytes: 5 }, [], 'boot-a');
    await jobs.checkpoint(
      'exp_join',
      0,
      5,
      big,
      at(2, 5 + big.length),
      { rows: 1, bytes: big.length },
      [],
      'boot-a',
    );
    const pieces = await pool.query("SELECT 1 FROM export_bytes WHERE export_id = 'exp_join' AND part = 0");
    expect(pieces.rowCount).toBe(3); // head; and the big batch in two
    const parts = [5 + big.length, 12];
    const want = Buffer.concat([Buffer.from('head;'), Buffer.from(big), Buffer.from('second-part;|end')]);
    expect(await jobs.complete('exp_join', parts, bytesOf('|end'), 'sha', Date.now(), 60_000, 'boot-b')).toBe(
      null,
    ); // not the runner: nothing written
    expect(await jobs.complete('exp_join', parts, bytesOf('|end'), 'sha', Date.now(), 60_000, 'boot-a')).toBe(
      want.length,
    );
    const row = (await jobs.get('exp_join'))!;
    expect(row).toMatchObject({ state: 'complete', size: want.length, sha256: 'sha' });
    expect(await jobs.parts('exp_join')).toEqual([]);
    const read = async (start: number, end: number) => {
      const chunks: Uint8Array[] = [];
      for await (const chunk of exportFileRange(pool, tenant, 'exp_join', start, end)) chunks.push(chunk);
      return Buffer.concat(chunks);
    };
    expect((await read(0, want.length - 1)).equals(want)).toBe(true);
    for (const [start, end] of [
      [0, 4],
      [3, 10],
      [PIECE_BYTES, PIECE_BYTES + 20], // across the big batch's two pieces
      [want.length - 20, want.length - 1], // across the last part and the trailer
    ] as const)
      expect((await read(start, end)).equals(want.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
    // expiry deletes the bytes
    expect((await jobs.expireDue(Date.now() + 120_000)).map((r) => r.export_id)).toEqual(['exp_join']);
    const left = await pool.query("SELECT 1 FROM export_bytes WHERE export_id = 'exp_join'");
    expect(left.rowCount).toBe(0);
  });

  it('the quota counts jobs under way and bytes kept, however many servers ask at once', async () => {
    const own = new PgCatalog(pool);
    const t = (await own.createTenant('export-quota')).tenant_id;
    const results = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const c = await pool.connect();
        try {
          return await new PgExportStore(c, t).create(
            `exp_q${i}`,
            SPEC,
            Date.now(),
            { jobs: 3, bytes: 1e9 },
            'boot-a',
          );
        } finally {
          c.release();
        }
      }),
    );
    expect(results.filter((r) => r.ok).length).toBe(3);
    expect(results.find((r) => !r.ok)).toMatchObject({ quota: 'jobs', use: { used: 3, limit: 3 } });
    // created_at stays unique per tenant: the list orders them all
    const listed = await new PgExportStore(client, t).list(null, 10);
    expect(new Set(listed.map((r) => r.created_at)).size).toBe(3);
  });
});
