import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PreparedBackend, SERVER_BACKENDS } from '../helpers/backends.js';
import { ndjson, product, shardQuery } from '../helpers/data.js';
import { ADMIN_TOKEN, auth, eventually, removeDir, startServer, type TestServer } from '../helpers/server.js';

for (const backend of SERVER_BACKENDS)
  describe.skipIf(backend.skip !== null)(`prices on ${backend.name}`, () => {
    let prepared: PreparedBackend;
    let server: TestServer;
    let tenant: { tenant_id: number; api_key: string };
    let other: { tenant_id: number; api_key: string };
    let seq = 0;
    const at = () => new Date(Date.UTC(2026, 0, 1) + seq++ * 60_000).toISOString();

    beforeAll(async () => {
      prepared = await backend.prepare();
      server = await startServer({
        args: ['--price-rate-product', '1', '--price-burst-product', '60', ...prepared.args],
      });
      tenant = await server.createTenant('prices');
      other = await server.createTenant('prices-other');
      for (const t of [tenant, other]) {
        await fetch(`${server.url}/api/v1/ingest/products/`, {
          method: 'POST',
          headers: auth(t.api_key, { 'content-type': 'application/x-ndjson' }),
          body: ndjson(Array.from({ length: 80 }, (_, i) => product(i + 1, { price_cents: 1000 }))),
        });
      }
    });
    afterAll(async () => {
      await server?.stop();
      if (server) removeDir(server.dataDir);
      await prepared?.cleanup();
    });
    /** One value from the tenant's own rows: SQLite reads its shard, PostgreSQL the tenant's rows of the table. */
    const scalar = async (sqlite: string, postgres: string): Promise<unknown> => {
      const rows = prepared.query
        ? await prepared.query(postgres, [tenant.tenant_id])
        : shardQuery(server.dataDir, tenant.tenant_id, sqlite);
      return Object.values(rows[0] ?? {})[0];
    };

    function post(
      productId: number,
      body: Record<string, unknown>,
      key = tenant.api_key,
      tenantId = tenant.tenant_id,
    ) {
      return fetch(`${server.url}/api/v1/tenants/${tenantId}/products/${productId}/price-event`, {
        method: 'POST',
        headers: auth(key, { 'content-type': 'application/json' }),
        body: JSON.stringify(body),
      });
    }
    type Result = {
      event_id: string;
      price_cents: number;
      previous_price_cents: number | null;
      change_pct: number | null;
      anomaly: boolean;
      status: string;
      reasons: string[];
    };

    describe('price-event', () => {
      it('replays a retried event (same answer, Idempotent-Replayed) and refuses another body under the same id', async () => {
        const body = { event_id: 'pe-1', price_cents: 1100, observed_at: at() };
        const first = await post(1, body);
        expect(first.status).toBe(201);
        const text = await first.text();
        expect(JSON.parse(text)).toMatchObject({
          event_id: 'pe-1',
          previous_price_cents: 1000,
          price_cents: 1100,
          change_pct: 10,
          anomaly: false,
          status: 'accepted',
        });
        const again = await post(1, body);
        expect(again.status).toBe(201);
        expect(again.headers.get('idempotent-replayed')).toBe('true');
        expect(await again.text()).toBe(text);
        const changed = await post(1, { ...body, price_cents: 1200 });
        expect(changed.status).toBe(422);
        expect(((await changed.json()) as { code: string }).code).toBe('event_id_reused');
        // the Idempotency-Key header stands in for a missing event_id
        const viaHeader = await fetch(
          `${server.url}/api/v1/tenants/${tenant.tenant_id}/products/1/price-event`,
          {
            method: 'POST',
            headers: auth(tenant.api_key, { 'content-type': 'application/json', 'idempotency-key': 'hdr-1' }),
            body: JSON.stringify({ price_cents: 1110, observed_at: at() }),
          },
        );
        expect(((await viaHeader.json()) as Result).event_id).toBe('hdr-1');
      });

      it('50 concurrent retries of one event store exactly one row, written in few group commits', async () => {
        const body = { event_id: 'storm-1', price_cents: 2000, observed_at: at() };
        const batchCount = async () =>
          Number(
            /db_query_duration_seconds_count\{query="price_events_batch"\} (\d+)/.exec(
              await (await fetch(`${server.url}/metrics`)).text(),
            )![1],
          );
        const before = await batchCount();
        const replies = await Promise.all(Array.from({ length: 50 }, () => post(2, body)));
        const texts = await Promise.all(replies.map((r) => r.text()));
        expect(replies.every((r) => r.status === 201)).toBe(true);
        expect(new Set(texts).size).toBe(1);
        expect(replies.filter((r) => r.headers.get('idempotent-replayed') !== 'true')).toHaveLength(1);
        expect(
          await scalar(
            "SELECT count(*) AS n FROM price_events WHERE event_id = 'storm-1'",
            "SELECT count(*)::int AS n FROM price_events WHERE tenant_id = $1 AND event_id = 'storm-1'",
          ),
        ).toBe(1);
        // group commit: the 50 requests share transactions (measured ~19 here; 42 without the 2 ms linger)
        expect((await batchCount()) - before).toBeLessThanOrEqual(30);
      });

      it('applies the rule through HTTP: below and at the threshold, a spike, the return after it', async () => {
        const seqOf = async (pid: number, prices: number[]) => {
          const out: Result[] = [];
          for (const p of prices)
            out.push(
              (await (
                await post(pid, { event_id: `rule-${pid}-${seq}`, price_cents: p, observed_at: at() })
              ).json()) as Result,
            );
          return out;
        };
        const below = await seqOf(3, [1199]);
        expect(below[0]).toMatchObject({ anomaly: false, status: 'accepted', change_pct: 19.9 });
        const atThreshold = await seqOf(4, [1200]);
        expect(atThreshold[0]).toMatchObject({
          anomaly: true,
          status: 'review',
          change_pct: 20,
          reasons: ['threshold'],
        });
        const spike = await seqOf(5, [1010, 990, 1005, 995, 3000, 1000]);
        expect(spike.map((r) => r.anomaly)).toEqual([false, false, false, false, true, false]);
        expect(spike[5]).toMatchObject({ previous_price_cents: 995, status: 'accepted' }); // the spike never became the baseline
        const stored = await fetch(`${server.url}/api/v1/tenants/${tenant.tenant_id}/products/5`, {
          headers: auth(tenant.api_key),
        });
        expect(((await stored.json()) as { price_cents: number }).price_cents).toBe(1000);
      });

      it('429 with Retry-After and RateLimit headers once the bucket is empty; recovers after Retry-After', async () => {
        const pid = 70;
        let refused: Response | null = null;
        for (let i = 0; i < 65 && !refused; i++) {
          const r = await post(pid, { event_id: `rl-${i}`, price_cents: 1000 + i, observed_at: at() });
          expect(r.headers.get('ratelimit-policy')).toContain('"product";q=60');
          if (r.status === 429) refused = r;
          else await r.arrayBuffer();
        }
        expect(refused).not.toBeNull();
        const retryAfter = Number(refused!.headers.get('retry-after'));
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(refused!.headers.get('ratelimit')).toMatch(/^"product";r=0;t=\d+$/);
        expect(((await refused!.json()) as { code: string }).code).toBe('rate_limited');
        await new Promise((r) => setTimeout(r, retryAfter * 1000));
        expect((await post(pid, { event_id: 'rl-after', price_cents: 1000, observed_at: at() })).status).toBe(
          201,
        );
      });

      it('the threshold is configurable per tenant through the admin API', async () => {
        const settings = (tenantId: number, init?: RequestInit) =>
          fetch(`${server.url}/api/v1/admin/tenants/${tenantId}/settings`, {
            ...init,
            headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
          });
        expect(await (await settings(other.tenant_id)).json()).toEqual({
          tenant_id: other.tenant_id,
          price_threshold_pct: 20,
        });
        const put = await settings(other.tenant_id, {
          method: 'PUT',
          body: JSON.stringify({ price_threshold_pct: 50 }),
        });
        expect(await put.json()).toEqual({ tenant_id: other.tenant_id, price_threshold_pct: 50 });
        expect(
          (
            await settings(other.tenant_id, {
              method: 'PUT',
              body: JSON.stringify({ price_threshold_pct: 0 }),
            })
          ).status,
        ).toBe(400);
        // +30%: an anomaly for the default tenant (20%), accepted for the tenant at 50%
        const mine = (await (
          await post(30, { event_id: 'thr-a', price_cents: 1300, observed_at: at() })
        ).json()) as Result;
        const theirs = (await (
          await post(
            30,
            { event_id: 'thr-b', price_cents: 1300, observed_at: at() },
            other.api_key,
            other.tenant_id,
          )
        ).json()) as Result;
        expect(mine).toMatchObject({ anomaly: true, status: 'review' });
        expect(theirs).toMatchObject({ anomaly: false, status: 'accepted' });
      });

      it("another tenant's product, unknown products and bad bodies are refused", async () => {
        expect(
          (
            await post(
              1,
              { event_id: 'x1', price_cents: 1, observed_at: at() },
              tenant.api_key,
              other.tenant_id,
            )
          ).status,
        ).toBe(404);
        expect((await post(9999, { event_id: 'x2', price_cents: 1, observed_at: at() })).status).toBe(404);
        expect((await post(1, { event_id: 'x3', price_cents: -1, observed_at: at() })).status).toBe(400);
        expect(
          ((await (await post(1, { price_cents: 5, observed_at: at() })).json()) as { code: string }).code,
        ).toBe('missing_event_id');
      });
    });

    describe('anomalies: list, review, stream', () => {
      it('lists flagged events newest first with a cursor, filters by status, and PATCH closes the review', async () => {
        for (let i = 0; i < 5; i++)
          await post(10, { event_id: `an-${i}`, price_cents: 5000 + i, observed_at: at() }); // all far from 1000
        const url = (q: string) =>
          `${server.url}/api/v1/tenants/${tenant.tenant_id}/products/10/price-anomalies?${q}`;
        const first = (await (await fetch(url('limit=2'), { headers: auth(tenant.api_key) })).json()) as {
          data: Result[];
          next_cursor: string;
        };
        expect(first.data.map((r) => r.event_id)).toEqual(['an-4', 'an-3']);
        const second = (await (
          await fetch(url(`limit=2&cursor=${first.next_cursor}`), { headers: auth(tenant.api_key) })
        ).json()) as { data: Result[] };
        expect(second.data.map((r) => r.event_id)).toEqual(['an-2', 'an-1']);
        expect(
          (
            await fetch(url(`limit=2&status=review&cursor=${first.next_cursor}`), {
              headers: auth(tenant.api_key),
            })
          ).status,
        ).toBe(400);
        const patch = await fetch(`${server.url}/api/v1/tenants/${tenant.tenant_id}/price-events/an-4`, {
          method: 'PATCH',
          headers: auth(tenant.api_key, { 'content-type': 'application/json' }),
          body: JSON.stringify({ status: 'reviewed' }),
        });
        expect(((await patch.json()) as Result).status).toBe('reviewed');
        const open = (await (
          await fetch(url('status=review'), { headers: auth(tenant.api_key) })
        ).json()) as {
          data: Result[];
        };
        expect(open.data.map((r) => r.event_id)).not.toContain('an-4');
      });

      it('SSE delivers new anomalies live and resumes from Last-Event-ID without gaps or repeats', async () => {
        const stream = `${server.url}/api/v1/tenants/${tenant.tenant_id}/price-anomalies/stream`;
        const read = async (lastEventId: string | null, expect_: number, trigger: () => Promise<void>) => {
          const controller = new AbortController();
          const res = await fetch(stream, {
            headers: auth(tenant.api_key, lastEventId ? { 'last-event-id': lastEventId } : {}),
            signal: controller.signal,
          });
          expect(res.headers.get('content-type')).toContain('text/event-stream');
          const reader = res.body!.getReader();
          const events: { id: string; data: Result }[] = [];
          let buffer = '';
          let triggered = false;
          while (events.length < expect_) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += new TextDecoder().decode(value);
            let end = buffer.indexOf('\n\n');
            while (end !== -1) {
              const frame = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const id = /^id: (\d+)$/m.exec(frame)?.[1];
              const data = /^data: (.*)$/m.exec(frame)?.[1];
              if (id && data) events.push({ id, data: JSON.parse(data) });
              end = buffer.indexOf('\n\n');
            }
            if (!triggered && buffer === '') {
              triggered = true;
              await trigger();
            }
          }
          controller.abort();
          return events;
        };
        const all = await read('0', 0, async () => {});
        expect(all).toEqual([]);
        // from the current end of the stream: find the last sequence, then listen live
        const backlog = Number(
          await scalar(
            'SELECT max(seq) AS seq FROM price_events WHERE anomaly = 1',
            'SELECT max(seq)::float8 AS seq FROM price_events WHERE tenant_id = $1 AND anomaly',
          ),
        );
        const live = await read(String(backlog), 3, async () => {
          for (let i = 0; i < 3; i++)
            await post(11, { event_id: `live-${i}`, price_cents: 9000 + i, observed_at: at() });
        });
        expect(live.map((e) => e.data.event_id)).toEqual(['live-0', 'live-1', 'live-2']);
        // while disconnected, two more anomalies
        for (let i = 0; i < 2; i++)
          await post(12, { event_id: `gap-${i}`, price_cents: 9000 + i, observed_at: at() });
        const resumed = await read(live.at(-1)!.id, 2, async () => {});
        expect(resumed.map((e) => e.data.event_id)).toEqual(['gap-0', 'gap-1']);
        expect(Number(resumed[0]!.id)).toBeGreaterThan(Number(live.at(-1)!.id));
        // every disconnected client was cleaned up: no listener, no open-stream count left behind
        await eventually(
          async () => /^sse_clients 0$/m.test(await (await fetch(`${server.url}/metrics`)).text()),
          3000,
          'sse_clients to return to 0',
        );
      });
      it("lists every product's anomalies for the tenant, each with the sequence the stream resumes after", async () => {
        await post(13, { event_id: 'wide-13', price_cents: 7000, observed_at: at() });
        await post(14, { event_id: 'wide-14', price_cents: 7000, observed_at: at() });
        type Listed = Result & { product_id: number; seq: number };
        const list = async (query: string, key = tenant.api_key, tenantId = tenant.tenant_id) => {
          const res = await fetch(`${server.url}/api/v1/tenants/${tenantId}/price-anomalies?${query}`, {
            headers: auth(key),
          });
          return {
            status: res.status,
            body: (await res.json()) as { data: Listed[]; next_cursor: string | null },
          };
        };
        const first = await list('limit=2');
        expect(first.body.data.map((r) => r.event_id)).toEqual(['wide-14', 'wide-13']);
        const newest = Number(
          await scalar(
            'SELECT max(seq) AS seq FROM price_events WHERE anomaly = 1',
            'SELECT max(seq)::float8 AS seq FROM price_events WHERE tenant_id = $1 AND anomaly',
          ),
        );
        expect(first.body.data[0]!.seq).toBe(newest);
        // the cursor goes on across products, newest first
        const rest = await list(`limit=1000&cursor=${first.body.next_cursor}`);
        const products = new Set(rest.body.data.map((r) => r.product_id));
        for (const p of [10, 11, 12]) expect(products).toContain(p);
        const seqs = rest.body.data.map((r) => r.seq);
        expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
        expect(seqs[0]).toBeLessThan(first.body.data[1]!.seq);
        // the same filters as a product's list; a product list's cursor belongs to another query
        expect((await list('status=reviewed')).body.data.map((r) => r.event_id)).toContain('an-4');
        const productPage = (await (
          await fetch(
            `${server.url}/api/v1/tenants/${tenant.tenant_id}/products/10/price-anomalies?limit=1`,
            {
              headers: auth(tenant.api_key),
            },
          )
        ).json()) as { next_cursor: string };
        expect((await list(`cursor=${productPage.next_cursor}`)).status).toBe(400);
        // another tenant sees none of them, and cannot list this tenant's
        expect((await list('', other.api_key, other.tenant_id)).body.data).toEqual([]);
        expect((await list('', other.api_key)).status).toBe(404);
      });
    });
  });
