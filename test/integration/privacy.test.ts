import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardPath } from '../../src/storage/shards.js';
import { ndjson, order, product } from '../helpers/data.js';
import { createExport, finished } from '../helpers/exports.js';
import { auth, queryString, removeDir, startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let tenant: { tenant_id: number; api_key: string };
const ZELDA = {
  customer_id: 'C-zelda',
  customer_name: 'Zelda Quixotic',
  customer_email: 'zq@private.example',
};
const MARK = { customer_id: 'C-mark', customer_name: 'Mark Umbrage', customer_email: 'mu@private.example' };

function fileHas(text: string): boolean {
  const base = shardPath(server.dataDir, tenant.tenant_id);
  return [base, `${base}-wal`].some((f) => existsSync(f) && readFileSync(f).includes(Buffer.from(text)));
}
const get = async (path: string) =>
  (
    await fetch(`${server.url}/api/v1/tenants/${tenant.tenant_id}/${path}`, { headers: auth(tenant.api_key) })
  ).text();

beforeAll(async () => {
  server = await startServer();
  tenant = await server.createTenant('privacy');
  const headers = auth(tenant.api_key, { 'content-type': 'application/x-ndjson' });
  await fetch(`${server.url}/api/v1/ingest/products/`, {
    method: 'POST',
    headers,
    body: ndjson([product(1), product(2), product(3)]),
  });
  const rows = [
    ...Array.from({ length: 20 }, (_, i) => order(i)),
    ...Array.from({ length: 5 }, (_, i) => order(100 + i, ZELDA)),
    ...Array.from({ length: 3 }, (_, i) => order(200 + i, MARK)),
    // a rejected row whose error message quotes the email: it ends up in the stored idempotent response
    order(300, { ...ZELDA, customer_email: `Zelda <${ZELDA.customer_email}>` }),
  ];
  const res = await fetch(`${server.url}/api/v1/ingest/orders/`, {
    method: 'POST',
    headers: { ...headers, 'idempotency-key': 'with-pii' },
    body: ndjson(rows),
  });
  expect(await res.json()).toMatchObject({ rows_inserted: 28, rows_failed: 1 });
});
afterAll(async () => {
  await server.stop();
  removeDir(server.dataDir);
});

describe('GDPR erasure', () => {
  it("removes a customer's PII from every place it lived, keeps aggregates unchanged, and audits it", async () => {
    const metricsQuery = `metrics/sales?${queryString({ group_by: 'day', start_date: '2026-03-01', end_date: '2026-03-02', precision: 'exact', status: 'paid' })}`;
    const before = JSON.parse(await get(metricsQuery)).data;
    expect(await get(`orders/search?q=zelda&fields=order_id`)).toContain('A-100');
    expect(fileHas(ZELDA.customer_email)).toBe(true);
    // finished exports: only the one with a customer column and a filter matching Zelda's orders holds her PII
    const withPii = await createExport(server, tenant, {
      format: 'csv',
      fields: ['order_id', 'customer_email'],
    });
    const noPiiColumns = await createExport(server, tenant, {
      format: 'parquet',
      fields: ['order_id', 'total_cents'],
    });
    const otherOrders = await createExport(server, tenant, {
      format: 'csv',
      fields: ['order_id', 'customer_name'],
      filters: { status: 'cancelled' },
    });
    for (const e of [withPii, noPiiColumns, otherOrders]) await finished(server, tenant.api_key, e);

    const res = await fetch(
      `${server.url}/api/v1/tenants/${tenant.tenant_id}/customers/${ZELDA.customer_id}`,
      { method: 'DELETE', headers: auth(tenant.api_key) },
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      erased: true,
      orders_kept: 5,
      purged_idempotency_responses: 1,
      exports_containing: [withPii.export_id],
    });

    // gone from queries ...
    expect(JSON.parse((await get('orders/search?q=zelda&fields=order_id')).trim())._meta.count).toBe(0);
    expect(
      JSON.parse((await get(`orders/search?${queryString({ customer_email: ZELDA.customer_email })}`)).trim())
        ._meta.count,
    ).toBe(0);
    // ... and from the bytes of the shard and its WAL
    for (const pii of [ZELDA.customer_email, ZELDA.customer_name, 'Quixotic'])
      expect(fileHas(pii), pii).toBe(false);
    // the orders and every aggregate are unchanged
    expect(JSON.parse(await get(metricsQuery)).data).toEqual(before);
    expect(await get('orders/search?fields=order_id&limit=100')).toContain('A-104');
    // another customer is untouched; erasing again is 404; erasure by email works
    expect(fileHas(MARK.customer_email)).toBe(true);
    expect(
      (
        await fetch(`${server.url}/api/v1/tenants/${tenant.tenant_id}/customers/${ZELDA.customer_id}`, {
          method: 'DELETE',
          headers: auth(tenant.api_key),
        })
      ).status,
    ).toBe(404);
    const byEmail = await fetch(
      `${server.url}/api/v1/tenants/${tenant.tenant_id}/customers?${queryString({ email: MARK.customer_email })}`,
      { method: 'DELETE', headers: auth(tenant.api_key) },
    );
    expect(await byEmail.json()).toMatchObject({ erased: true, orders_kept: 3 });
    expect(fileHas(MARK.customer_email)).toBe(false);
    // the logs never carried the PII
    expect(server.logs().some((l) => JSON.stringify(l).includes(ZELDA.customer_email))).toBe(false);
  });
});
