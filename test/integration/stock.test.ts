import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PreparedBackend, SERVER_BACKENDS } from '../helpers/backends.js';
import { ndjson, product, shardQuery } from '../helpers/data.js';
import { auth, removeDir, startServer, type TestServer } from '../helpers/server.js';

for (const backend of SERVER_BACKENDS)
  describe.skipIf(backend.skip !== null)(`stock on ${backend.name}`, () => {
    let prepared: PreparedBackend;
    let server: TestServer;
    let tenant: { tenant_id: number; api_key: string };
    let other: { tenant_id: number; api_key: string };
    let seq = 0;
    const eid = () => `e-${seq++}`;
    const at = (min: number) => new Date(Date.UTC(2026, 0, 1, 0, min)).toISOString();

    beforeAll(async () => {
      prepared = await backend.prepare();
      server = await startServer({ args: ['--max-stock-events', '500', ...prepared.args] });
      tenant = await server.createTenant('stock');
      other = await server.createTenant('stock-other');
      const products = Array.from({ length: 30 }, (_, i) => product(i + 1, { stock: 100 }));
      for (const t of [tenant, other]) {
        await fetch(`${server.url}/api/v1/ingest/products/`, {
          method: 'POST',
          headers: auth(t.api_key, { 'content-type': 'application/x-ndjson' }),
          body: ndjson(products),
        });
      }
    });
    afterAll(async () => {
      await server?.stop();
      if (server) removeDir(server.dataDir);
      await prepared?.cleanup();
    });

    type Result = {
      product_id: number;
      status: string;
      quantity: number;
      version: number;
      events_applied: number;
      events_duplicate: number;
      error?: { code: string };
    };
    async function bulk(body: unknown, key = tenant.api_key, tenantId = tenant.tenant_id) {
      const res = await fetch(`${server.url}/api/v1/tenants/${tenantId}/stock/bulk_update`, {
        method: 'PUT',
        headers: auth(key, { 'content-type': 'application/json' }),
        body: JSON.stringify(body),
      });
      return {
        status: res.status,
        body: (await res.json()) as {
          results: Result[];
          summary: Record<string, number>;
          code?: string;
          errors?: unknown[];
        },
      };
    }
    async function productOf(id: number) {
      const res = await fetch(`${server.url}/api/v1/tenants/${tenant.tenant_id}/products/${id}`, {
        headers: auth(tenant.api_key),
      });
      return {
        status: res.status,
        body: (await res.json()) as { stock: number; stock_version: number; code?: string },
      };
    }
    const byId = (results: Result[]) => Object.fromEntries(results.map((r) => [r.product_id, r]));

    describe('modes', () => {
      it('merge: partial success across products; one bad event fails only its own product', async () => {
        const { status, body } = await bulk({
          mode: 'merge',
          events: [
            { event_id: eid(), product_id: 1, delta: -30, occurred_at: at(1) },
            { event_id: eid(), product_id: 2, delta: 5, occurred_at: at(1) },
            { event_id: eid(), product_id: 2, delta: -500, occurred_at: at(2) },
            { event_id: eid(), product_id: 1, delta: 10, occurred_at: at(3) },
            { event_id: eid(), product_id: 999, delta: 1, occurred_at: at(1) },
          ],
        });
        expect(status).toBe(200);
        const r = byId(body.results);
        expect(r[1]).toMatchObject({ status: 'applied', quantity: 80, version: 1, events_applied: 2 });
        expect(r[2]).toMatchObject({
          status: 'failed',
          quantity: 100,
          version: 0,
          error: { code: 'insufficient_stock' },
        });
        expect(r[999]).toMatchObject({ status: 'failed', error: { code: 'unknown_product' } });
        expect(body.results.map((x) => x.product_id)).toEqual([1, 2, 999]);
        expect(body.summary).toMatchObject({ products: 3, applied: 1, failed: 2, events_applied: 2 });
        expect((await productOf(1)).body).toMatchObject({ stock: 80, stock_version: 1 });
        expect((await productOf(2)).body).toMatchObject({ stock: 100, stock_version: 0 });
        // the audit trail has exactly the applied events
        const audit = prepared.query
          ? await prepared.query(
              `SELECT product_id::int, delta::int, stock_after::int FROM stock_events
            WHERE tenant_id = $1 AND product_id IN (1, 2) ORDER BY stock_after`,
              [tenant.tenant_id],
            )
          : shardQuery(
              server.dataDir,
              tenant.tenant_id,
              'SELECT product_id, delta, stock_after FROM stock_events WHERE product_id IN (1, 2) ORDER BY stock_after',
            );
        expect(audit).toEqual([
          { product_id: 1, delta: -30, stock_after: 70 },
          { product_id: 1, delta: 10, stock_after: 80 },
        ]);
      });

      it('last_write_wins: newer sets, older is stale and changes nothing', async () => {
        await bulk({
          mode: 'last_write_wins',
          events: [{ event_id: eid(), product_id: 3, quantity: 40, occurred_at: at(50) }],
        });
        const { body } = await bulk({
          mode: 'last_write_wins',
          events: [
            { event_id: eid(), product_id: 3, quantity: 7, occurred_at: at(10) },
            { event_id: eid(), product_id: 4, quantity: 12, occurred_at: at(10) },
          ],
        });
        const r = byId(body.results);
        expect(r[3]).toMatchObject({ status: 'stale', quantity: 40, version: 1 });
        expect(r[4]).toMatchObject({ status: 'applied', quantity: 12, version: 1 });
      });

      it('reject: a stale expected_version rejects the product and reports the current version', async () => {
        const ok = await bulk({
          mode: 'reject',
          events: [{ event_id: eid(), product_id: 5, delta: -1, expected_version: 0, occurred_at: at(1) }],
        });
        expect(byId(ok.body.results)[5]).toMatchObject({ status: 'applied', quantity: 99, version: 1 });
        const late = await bulk({
          mode: 'reject',
          events: [{ event_id: eid(), product_id: 5, delta: -1, expected_version: 0, occurred_at: at(2) }],
        });
        expect(byId(late.body.results)[5]).toMatchObject({
          status: 'rejected',
          quantity: 99,
          version: 1,
          error: { code: 'version_conflict' },
        });
      });
    });

    describe('retries and validation', () => {
      it('a retried request applies nothing twice', async () => {
        const body = {
          mode: 'merge',
          events: [
            { event_id: 'retry-1', product_id: 6, delta: -3, occurred_at: at(1) },
            { event_id: 'retry-2', product_id: 7, delta: 2, occurred_at: at(1) },
          ],
        };
        const first = await bulk(body);
        expect(first.body.summary).toMatchObject({ events_applied: 2, events_duplicate: 0 });
        const second = await bulk(body);
        expect(second.body.summary).toMatchObject({ events_applied: 0, events_duplicate: 2 });
        expect(byId(second.body.results)[6]).toMatchObject({ status: 'applied', quantity: 97, version: 1 });
        expect((await productOf(6)).body).toMatchObject({ stock: 97, stock_version: 1 });
      });

      it('request-level errors: mixed delta/quantity, missing expected_version, repeated ids, oversize, bad JSON, foreign tenant', async () => {
        const bad = await bulk({
          mode: 'reject',
          events: [
            { event_id: 'x', product_id: 1, delta: 1, quantity: 2, occurred_at: at(1) },
            { event_id: 'x', product_id: 1, delta: 1, occurred_at: at(1) },
          ],
        });
        expect(bad.status).toBe(400);
        expect(bad.body.code).toBe('validation_failed');
        expect(bad.body.errors!.length).toBeGreaterThanOrEqual(3);
        const big = await bulk({
          mode: 'merge',
          events: Array.from({ length: 501 }, (_, i) => ({
            event_id: `big-${i}`,
            product_id: 1,
            delta: 1,
            occurred_at: at(1),
          })),
        });
        expect(big.status).toBe(400);
        expect((await bulk({ mode: 'merge', events: [] })).status).toBe(400);
        expect(
          (
            await bulk({
              mode: 'sideways',
              events: [{ event_id: 'q', product_id: 1, delta: 1, occurred_at: at(1) }],
            })
          ).status,
        ).toBe(400);
        const res = await fetch(`${server.url}/api/v1/tenants/${tenant.tenant_id}/stock/bulk_update`, {
          method: 'PUT',
          headers: auth(tenant.api_key, { 'content-type': 'application/json' }),
          body: '{"mode":',
        });
        expect(res.status).toBe(400);
        expect(
          (
            await bulk(
              { mode: 'merge', events: [{ event_id: 'f', product_id: 1, delta: 1, occurred_at: at(1) }] },
              tenant.api_key,
              other.tenant_id,
            )
          ).status,
        ).toBe(404);
        expect((await productOf(424242)).status).toBe(404);
        const foreign = await fetch(`${server.url}/api/v1/tenants/${other.tenant_id}/products/1`, {
          headers: auth(tenant.api_key),
        });
        expect(foreign.status).toBe(404);
      });
    });

    describe('races', () => {
      it('parallel merge requests on the same products end in the state of a serial order', async () => {
        const hot = [10, 11, 12, 13, 14];
        const requests = Array.from({ length: 24 }, (_, r) => ({
          mode: 'merge',
          events: Array.from({ length: 40 }, (_, i) => ({
            event_id: `race-${r}-${i}`,
            product_id: hot[(r + i) % hot.length]!,
            delta: i % 3 === 0 ? -2 : 1,
            occurred_at: at(i),
          })),
        }));
        const replies = await Promise.all(requests.map((b) => bulk(b)));
        const expected = new Map(hot.map((p) => [p, 100]));
        const groups = new Map(hot.map((p) => [p, 0]));
        for (const [i, reply] of replies.entries()) {
          expect(reply.status).toBe(200);
          for (const r of reply.body.results) {
            expect(r.status).toBe('applied');
            groups.set(r.product_id, groups.get(r.product_id)! + 1);
          }
          for (const e of requests[i]!.events)
            expected.set(e.product_id, expected.get(e.product_id)! + e.delta);
        }
        for (const p of hot) {
          expect((await productOf(p)).body).toEqual(
            expect.objectContaining({ stock: expected.get(p), stock_version: groups.get(p) }),
          );
        }
        // versions seen in the replies are a permutation of 1..n per product: each request saw a distinct state
        for (const p of hot) {
          const versions = replies.map((r) => byId(r.body.results)[p]!.version).sort((a, b) => a - b);
          expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => i + 1));
        }
      });

      it('parallel reject-mode writers with the same expected_version: exactly one wins per product', async () => {
        const replies = await Promise.all(
          Array.from({ length: 12 }, (_, r) =>
            bulk({
              mode: 'reject',
              events: [20, 21].map((p) => ({
                event_id: `opt-${r}-${p}`,
                product_id: p,
                delta: -1,
                expected_version: 0,
                occurred_at: at(1),
              })),
            }),
          ),
        );
        for (const p of [20, 21]) {
          const statuses = replies.map((r) => byId(r.body.results)[p]!.status);
          expect(statuses.filter((s) => s === 'applied')).toHaveLength(1);
          expect(statuses.filter((s) => s === 'rejected')).toHaveLength(11);
          expect((await productOf(p)).body).toMatchObject({ stock: 99, stock_version: 1 });
        }
      });
    });
  });
