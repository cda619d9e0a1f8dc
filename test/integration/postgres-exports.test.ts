import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvObjects } from '../helpers/csv.js';
import { makeOrders, product } from '../helpers/data.js';
import { createExport, download, finished, status } from '../helpers/exports.js';
import { postgresUnavailable, scratchSchema } from '../helpers/postgres.js';
import { auth, eventually, ingestRows, removeDir, startServer, type TestServer } from '../helpers/server.js';

/**
 * Export jobs on two servers sharing one PostgreSQL database (issue 17): behind a load balancer a client
 * polls and downloads on whichever server it reaches, and a job whose server was killed is finished by the
 * other, from the checkpoints, with no restart and no client request.
 */
const unavailable = await postgresUnavailable();
if (unavailable) console.warn(`export jobs on two servers not tested: ${unavailable}`);

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe.skipIf(unavailable !== null)('export jobs on two servers sharing PostgreSQL', () => {
  let schema: Awaited<ReturnType<typeof scratchSchema>>;
  let args: string[];
  let a: TestServer;
  let b: TestServer;
  let tenant: { tenant_id: number; api_key: string };
  const orders = makeOrders(3000, 'PX');

  beforeAll(async () => {
    schema = await scratchSchema();
    args = ['--storage', 'postgres', '--database-url', schema.url, '--export-batch-rows', '200'];
    [a, b] = await Promise.all([startServer({ args }), startServer({ args })]);
    // nothing of a server on PostgreSQL lives in its data directory: b runs without one
    removeDir(b.dataDir);
    tenant = await a.createTenant('exports-two-servers');
    await ingestRows(
      a,
      tenant.api_key,
      Array.from({ length: 8 }, (_, i) => product(i + 1)),
      '/api/v1/ingest/products/',
    );
    await ingestRows(a, tenant.api_key, orders);
  });
  afterAll(async () => {
    for (const s of [a, b]) {
      await s?.stop();
      if (s) removeDir(s.dataDir);
    }
    await schema?.drop();
  });

  const runBy = (s: TestServer, exportId: string) =>
    s.logs().some((l) => l.msg === 'export started' && l.export_id === exportId);

  it('a job created on one server is listed, polled and downloaded (with ranges) on the other, identical', async () => {
    const created = await createExport(b, tenant, { format: 'csv', fields: ['order_id', 'total_cents'] });
    const done = await finished(a, tenant.api_key, created);
    const [fromA, fromB] = (await Promise.all(
      [a, b].map(async (s) => Buffer.from(await (await download(s, tenant.api_key, done)).arrayBuffer())),
    )) as [Buffer, Buffer];
    expect(fromB.equals(fromA)).toBe(true);
    expect(sha256(fromB)).toBe(done.sha256);
    expect(csvObjects(fromB.toString()).length).toBe(orders.length);
    const tail = await download(b, tenant.api_key, done, { range: `bytes=${done.size! - 100}-` });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(fromA.subarray(done.size! - 100))).toBe(true);
    const listed = (await (
      await fetch(`${b.url}/api/v1/tenants/${tenant.tenant_id}/reports/exports`, {
        headers: auth(tenant.api_key),
      })
    ).json()) as { data: { export_id: string }[] };
    expect(listed.data.map((e) => e.export_id)).toContain(done.export_id);
    // run where it was created, once
    expect(runBy(b, done.export_id)).toBe(true);
    expect(runBy(a, done.export_id)).toBe(false);
  });

  it('a server killed mid-job: the other takes the job over from its checkpoints and finishes it', async () => {
    const slow = await startServer({
      args: [...args, '--export-max-rows-per-s', '1000', '--export-parts', '2'],
    });
    const created = await createExport(slow, tenant, { format: 'parquet' });
    await eventually(
      async () => (await status(b, tenant.api_key, created.status_url)).rows_written >= 600,
      10_000,
      'the job to pass 600 rows',
    );
    expect(await slow.stop('SIGKILL')).toBeNull();
    removeDir(slow.dataDir);
    const before = await status(b, tenant.api_key, created.status_url);
    expect(before.state).toBe('running');
    // taken over once the killed server's heartbeat is 15 s old (b looks every 5 s)
    const done = await finished(a, tenant.api_key, created, 45_000);
    expect(done.attempts).toBe(2);
    expect(done.resumed_from_rows).toBeGreaterThanOrEqual(before.rows_written);
    expect(done.rows_written).toBe(orders.length);
    const bytes = Buffer.from(await (await download(b, tenant.api_key, done)).arrayBuffer());
    expect(sha256(bytes)).toBe(done.sha256);
    expect(bytes.subarray(0, 4).toString()).toBe('PAR1');
    // exactly one of the two live servers took it over
    const takers = [a, b].filter((s) =>
      s.logs().some((l) => l.msg === 'export resumed from checkpoint' && l.export_id === created.export_id),
    );
    expect(takers.length).toBe(1);
  });
});
