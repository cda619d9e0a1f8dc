import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepIdleBuckets } from '../../src/storage/postgres/rate-buckets.js';
import { makeOrders, ndjson, order, product } from '../helpers/data.js';
import { createExport, finished } from '../helpers/exports.js';
import { parquetRowsLiterally } from '../helpers/parquet.js';
import { postgresUnavailable, relationFilesHold, scratchSchema } from '../helpers/postgres.js';
import { approxWithinBounds } from '../helpers/sales.js';
import { ADMIN_TOKEN, auth, eventually, removeDir, startServer, type TestServer } from '../helpers/server.js';

/**
 * The server on `--storage postgres` (issue 17), as far as it goes: the catalog in PostgreSQL (tenants,
 * keys, authentication, shared by two servers on one database), orders and products ingested into the
 * tenant's partitions, and every route of the contract served.
 */
const unavailable = await postgresUnavailable();
if (unavailable) console.warn(`server on PostgreSQL not tested: ${unavailable}`);

describe.skipIf(unavailable !== null)('the server on PostgreSQL', () => {
  let schema: Awaited<ReturnType<typeof scratchSchema>>;
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    schema = await scratchSchema();
    const url = new URL(schema.url);
    // its own application name, so a test can drop exactly these servers' connections
    url.searchParams.set('application_name', schema.name);
    const args = ['--storage', 'postgres', '--database-url', url.toString()];
    // two servers on one database, each with its own data directory (nothing of a tenant is in it)
    [a, b] = await Promise.all([startServer({ args }), startServer({ args })]);
  });
  afterAll(async () => {
    for (const s of [a, b]) {
      await s?.stop();
      if (s) removeDir(s.dataDir);
    }
    await schema?.drop();
  });

  /** NDJSON rows of `kind` (orders, products) posted to a server's ingest endpoint with a tenant's key */
  const ingest = (s: TestServer, key: string, kind: string, rows: unknown[]) =>
    fetch(`${s.url}/api/v1/ingest/${kind}/`, {
      method: 'POST',
      headers: auth(key, { 'content-type': 'application/x-ndjson' }),
      body: ndjson(rows),
    });

  /** deadlocks PostgreSQL found in this database so far */
  const deadlocks = async () => {
    const c = await schema.connect();
    try {
      const { rows } = await c.query<{ deadlocks: string }>(
        'SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()',
      );
      return Number(rows[0]!.deadlocks);
    } finally {
      await c.end();
    }
  };

  const admin = (s: TestServer, path: string, init: RequestInit = {}) =>
    fetch(`${s.url}/api/v1/admin${path}`, {
      ...init,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    });

  it('keeps the catalog in PostgreSQL: a tenant created on one server authenticates on the other; a key revoked on one is refused by both', async () => {
    const res = await admin(a, '/tenants', { method: 'POST', body: JSON.stringify({ name: 'shared' }) });
    expect(res.status).toBe(201);
    const t = (await res.json()) as { tenant_id: number; api_key: string; key_id: number };
    expect(
      (await admin(b, '/tenants', { method: 'POST', body: JSON.stringify({ name: 'shared' }) })).status,
    ).toBe(409);
    const listed = (await (await admin(b, '/tenants')).json()) as { data: { name: string }[] };
    expect(listed.data.map((x) => x.name)).toContain('shared');
    const second = (await (await admin(b, `/tenants/${t.tenant_id}/keys`, { method: 'POST' })).json()) as {
      api_key: string;
      key_id: number;
    };
    const ingestWith = (s: TestServer, key: string) =>
      fetch(`${s.url}/api/v1/ingest/products/`, {
        method: 'POST',
        headers: auth(key, { 'content-type': 'application/x-ndjson' }),
        body: ndjson([product(1)]),
      });
    expect((await ingestWith(a, second.api_key)).status).toBe(200);
    expect(
      (await admin(a, `/tenants/${t.tenant_id}/keys/${second.key_id}`, { method: 'DELETE' })).status,
    ).toBe(204);
    for (const s of [a, b]) expect((await ingestWith(s, second.api_key)).status).toBe(401);
    expect((await ingestWith(b, t.api_key)).status).toBe(200);
  });

  it("ingests orders and products into the tenant's partitions, from both servers at once, each row once", async () => {
    const t = await a.createTenant('loads');
    const post = (s: TestServer, kind: string, rows: unknown[]) => ingest(s, t.api_key, kind, rows);
    const [ORDERS, CUSTOMERS] = [40_000, 10_000];
    const deadlocksBefore = await deadlocks();
    const products = await post(a, 'products', [product(1), product(2), product(3)]);
    expect(await products.json()).toMatchObject({ rows_inserted: 3, rows_failed: 0 });
    // the same 20,000 orders sent to both servers at once (ten chunks each, written by two writers on each
    // server: four transactions of one tenant at once), their 3,000 customers scattered over the chunks so
    // that every transaction shares customers with the others; and one order naming an unknown product
    const orders = Array.from({ length: ORDERS }, (_, i) => {
      const c = (i * 7919) % CUSTOMERS;
      return order(i, {
        customer_id: `C-${c}`,
        customer_name: `Name ${c}`,
        customer_email: `c${c}@example.com`,
      });
    });
    const bad = order(5000, { items: [{ product_id: 42, quantity: 1, unit_price_cents: 1 }] });
    const [ra, rb] = await Promise.all([post(a, 'orders', [...orders, bad]), post(b, 'orders', orders)]);
    const [sa, sb] = (await Promise.all([ra.json(), rb.json()])) as {
      rows_inserted: number;
      rows_duplicate: number;
      rows_failed: number;
      errors: { code: string }[];
    }[];
    expect(sa!.rows_inserted + sb!.rows_inserted).toBe(ORDERS);
    expect(sa!.rows_duplicate + sb!.rows_duplicate).toBe(ORDERS);
    expect(sa!.rows_failed).toBe(1);
    expect(sa!.errors[0]).toMatchObject({ code: 'unknown_product' });
    const client = await schema.connect();
    try {
      const { rows } = await client.query(
        `SELECT (SELECT count(*)::int FROM orders WHERE tenant_id = $1) AS orders,
                (SELECT count(*)::int FROM order_items WHERE tenant_id = $1) AS items,
                (SELECT count(*)::int FROM customers WHERE tenant_id = $1) AS customers,
                (SELECT count(*)::int FROM orders_t${t.tenant_id}) AS in_partition`,
        [t.tenant_id],
      );
      expect(rows[0]).toEqual({ orders: ORDERS, items: ORDERS, customers: CUSTOMERS, in_partition: ORDERS });
      // no transaction failed on the way, not even to be retried part by part: writers sharing customers
      // lock them in one order (one upsert a transaction), so none ever waited on another in a cycle
      for (const server of [a, b])
        expect(server.logs().filter((l) => l.msg === 'chunk write failed')).toEqual([]);
      await new Promise((r) => setTimeout(r, 600)); // the statistics of ended backends reach the view
      expect((await deadlocks()) - deadlocksBefore).toBe(0);
    } finally {
      await client.end();
    }
  });

  it('searches as on SQLite: the same rows, pages and projections for every filter, one page or many', async () => {
    const sqlite = await startServer();
    try {
      const orders = makeOrders(700, 'S', 3);
      // a name with an accent-free word shared by several customers, and an email domain word
      const ingested = await Promise.all(
        [sqlite, a].map(async (s) => {
          const t = await s.createTenant('same');
          for (const [kind, rows] of [
            ['products', Array.from({ length: 8 }, (_, i) => product(i + 1))],
            ['orders', orders],
          ] as const) {
            const res = await fetch(`${s.url}/api/v1/ingest/${kind}/`, {
              method: 'POST',
              headers: auth(t.api_key, { 'content-type': 'application/x-ndjson' }),
              body: ndjson(rows),
            });
            expect(res.status).toBe(200);
          }
          return { s, t };
        }),
      );
      /** Every row of a search, following its cursors, and how many pages it took. */
      const all = async ({ s, t }: (typeof ingested)[number], query: string) => {
        const rows: unknown[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const res = await fetch(
            `${s.url}/api/v1/tenants/${t.tenant_id}/orders/search?${query}${cursor ? `&cursor=${cursor}` : ''}`,
            { headers: auth(t.api_key) },
          );
          expect(res.status, query).toBe(200);
          const lines = (await res.text())
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l));
          const meta = lines.pop()._meta;
          rows.push(...lines);
          cursor = meta.next_cursor;
          pages++;
        } while (cursor);
        return { rows, pages };
      };
      for (const query of [
        'limit=100',
        'limit=5000', // past a stripe's rows: the stripe planner runs
        'limit=37&status=paid,shipped&fields=order_id,created_at,status,total_cents',
        'limit=50&from=2026-01-02&to=2026-01-03T06:30:00Z&fields=order_id,created_at',
        'limit=50&min_total_cents=3000&max_total_cents=9000',
        'limit=25&product_id=3,5&fields=order_id,items',
        'limit=40&q=ada&fields=order_id,customer_name',
        'limit=40&q=shop1&fields=order_id,customer_email',
        'limit=40&customer_email=cust7@shop1.example',
        'limit=40&q=nobody',
      ]) {
        const [onSqlite, onPostgres] = await Promise.all(ingested.map((side) => all(side, query)));
        expect(onPostgres!.rows, query).toEqual(onSqlite!.rows);
        expect(onPostgres!.pages, query).toBe(onSqlite!.pages);
        if (!query.includes('nobody')) expect(onSqlite!.rows.length, query).toBeGreaterThan(0);
      }
      expect((await all(ingested[0]!, 'limit=1000')).rows).toHaveLength(700);
      // sales metrics: PostgreSQL answers exact what SQLite's exact scan of the orders answers, for every
      // grouping; approx answers from its pre-aggregates where it has them and stays within its bounds
      const sales = async ({ s, t }: (typeof ingested)[number], query: string) => {
        const res = await fetch(`${s.url}/api/v1/tenants/${t.tenant_id}/metrics/sales?${query}`, {
          headers: auth(t.api_key),
        });
        expect(res.status, query).toBe(200);
        return ((await res.json()) as { data: unknown[] }).data;
      };
      // a direct export streams the same file from both (CSV: byte for byte; Parquet: the same row count)
      const exported = async ({ s, t }: (typeof ingested)[number], accept: string, body: unknown) => {
        const res = await fetch(`${s.url}/api/v1/tenants/${t.tenant_id}/reports/export`, {
          method: 'POST',
          headers: auth(t.api_key, { accept, 'content-type': 'application/json' }),
          body: JSON.stringify(body),
        });
        expect(res.status, accept).toBe(200);
        return new Uint8Array(await res.arrayBuffer());
      };
      for (const body of [
        {},
        { filters: { status: ['paid', 'shipped'] }, fields: ['order_id', 'total_cents', 'items'] },
      ]) {
        const csv = await Promise.all(ingested.map((side) => exported(side, 'text/csv', body)));
        expect(Buffer.from(csv[1]!).toString()).toBe(Buffer.from(csv[0]!).toString());
        expect(Buffer.from(csv[0]!).toString().split('\n').length).toBeGreaterThan(100);
      }
      const parquet = await exported(ingested[1]!, 'application/vnd.apache.parquet', {});
      expect(Buffer.from(parquet.subarray(0, 4)).toString()).toBe('PAR1');
      expect(Buffer.from(parquet.subarray(-4)).toString()).toBe('PAR1');
      const parquetRows = await parquetRowsLiterally(parquet);
      expect(parquetRows).toHaveLength(700);
      expect(parquetRows.map((r) => r.order_id)).toEqual(
        Buffer.from(await exported(ingested[0]!, 'text/csv', { fields: ['order_id'] }))
          .toString()
          .trim()
          .split('\r\n')
          .slice(1),
      );
      for (const groupBy of ['day', 'hour', 'week', 'month', 'category', 'product']) {
        const range = `group_by=${groupBy}&start_date=2026-01-01&end_date=2026-01-04&status=paid,shipped,delivered`;
        const want = await sales(ingested[0]!, `${range}&precision=exact&source=orders`);
        expect(want.length, groupBy).toBeGreaterThan(0);
        expect(await sales(ingested[1]!, `${range}&precision=exact`), `${groupBy} exact`).toEqual(want);
        // approx by day, week, month or category may come from the pre-aggregates (sketches) once built
        const approx = await sales(ingested[1]!, `${range}&precision=approx`);
        if (['day', 'week', 'month', 'category'].includes(groupBy))
          approxWithinBounds(approx as object[], want as object[]);
        else expect(approx, `${groupBy} approx`).toEqual(want);
      }
    } finally {
      await sqlite.stop();
      removeDir(sqlite.dataDir);
    }
  });

  it("idempotency keys hold across servers: a replay on the other server, 409 while a live server holds the key, a dead server's claim taken over", async () => {
    const t = await a.createTenant('idem');
    const headers = (key: string) =>
      auth(t.api_key, { 'content-type': 'application/x-ndjson', 'idempotency-key': key });
    await fetch(`${a.url}/api/v1/ingest/products/`, {
      method: 'POST',
      headers: auth(t.api_key, { 'content-type': 'application/x-ndjson' }),
      body: ndjson([product(1), product(2), product(3)]),
    });
    const body = ndjson(Array.from({ length: 50 }, (_, i) => order(i)));
    const first = await fetch(`${a.url}/api/v1/ingest/orders/`, {
      method: 'POST',
      headers: headers('k-1'),
      body,
    });
    expect(first.status).toBe(200);
    const summary = await first.text();
    const replay = await fetch(`${b.url}/api/v1/ingest/orders/`, {
      method: 'POST',
      headers: headers('k-1'),
      body,
    });
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await replay.text()).toBe(summary);
    const reused = await fetch(`${b.url}/api/v1/ingest/orders/`, {
      method: 'POST',
      headers: headers('k-1'),
      body: ndjson([order(99)]),
    });
    expect(reused.status).toBe(422);
    expect(await reused.json()).toMatchObject({ code: 'idempotency_key_reused' });

    // a body still arriving on server a holds its key: b answers 409
    let send!: (chunk: Uint8Array | null) => void;
    const slow = new ReadableStream<Uint8Array>({
      start(controller) {
        send = (chunk) => (chunk ? controller.enqueue(chunk) : controller.close());
      },
    });
    const held = fetch(`${a.url}/api/v1/ingest/orders/`, {
      method: 'POST',
      headers: headers('k-2'),
      body: slow,
      duplex: 'half',
    } as RequestInit);
    send(new TextEncoder().encode(ndjson([order(200)])));
    const client = await schema.connect();
    try {
      await eventually(
        async () =>
          (
            await client.query(
              "SELECT 1 FROM idempotency_keys WHERE idem_key = 'k-2' AND state = 'in_flight'",
            )
          ).rowCount === 1,
        5000,
        'the claim on server a',
      );
      const busy = await fetch(`${b.url}/api/v1/ingest/orders/`, {
        method: 'POST',
        headers: headers('k-2'),
        body: ndjson([order(200)]),
      });
      expect(busy.status).toBe(409);
      expect(busy.headers.get('retry-after')).not.toBeNull();
      expect(await busy.json()).toMatchObject({ code: 'idempotency_in_flight' });
      send(new TextEncoder().encode(ndjson([order(201)])));
      send(null);
      expect((await held).status).toBe(200);

      // a claim left by a server whose heartbeat stopped (killed mid-request) is taken over
      await client.query(
        `INSERT INTO idempotency_keys (tenant_id, scope, idem_key, fingerprint, state, owner, created_at, expires_at)
         VALUES ($1, 'ingest_orders', 'k-3', '', 'in_flight', 'gone-boot/1', now(), now() + interval '1 day')`,
        [t.tenant_id],
      );
      const taken = await fetch(`${b.url}/api/v1/ingest/orders/`, {
        method: 'POST',
        headers: headers('k-3'),
        body: ndjson([order(300)]),
      });
      expect(taken.status).toBe(200);
      expect(await taken.json()).toMatchObject({ rows_inserted: 1 });
    } finally {
      await client.end();
    }
  });

  it('creates tenants while another tenant loads orders: no deadlock, nothing refused', async () => {
    const t = await a.createTenant('loading');
    const post = (s: TestServer, kind: string, rows: unknown[]) => ingest(s, t.api_key, kind, rows);
    // makeOrders names products 1 to 8
    const products = Array.from({ length: 8 }, (_, i) => product(i + 1));
    expect((await post(a, 'products', products)).status).toBe(200);
    const before = await deadlocks();
    // a tenant's partitions are created while the other tenant's writer transactions read products and
    // write customers, orders and items (both servers, two writers each)
    const loads = Array.from({ length: 8 }, (_, i) =>
      post(i % 2 ? a : b, 'orders', makeOrders(4000, `LOAD${i}`, i + 1)),
    );
    const created: Promise<Response>[] = [];
    for (let i = 0; i < 12; i++) {
      created.push(
        admin(i % 2 ? a : b, '/tenants', { method: 'POST', body: JSON.stringify({ name: `busy-${i}` }) }),
      );
      await new Promise((r) => setTimeout(r, 40));
    }
    const answers = await Promise.all(loads);
    for (const res of answers) expect(res.status, await res.clone().text()).toBe(200);
    for (const res of answers)
      expect(await res.json()).toMatchObject({ rows_inserted: 4000, rows_failed: 0 });
    for (const res of await Promise.all(created)) expect(res.status, await res.text()).toBe(201);
    await new Promise((r) => setTimeout(r, 600)); // the statistics of ended backends reach the view
    expect((await deadlocks()) - before).toBe(0);
  });

  it('erases a customer: tokens in the row, orders kept, not found by search, and the old values gone from the table and index files', async () => {
    const t = await a.createTenant('gdpr');
    const post = (kind: string, rows: unknown[]) =>
      fetch(`${a.url}/api/v1/ingest/${kind}/`, {
        method: 'POST',
        headers: auth(t.api_key, { 'content-type': 'application/x-ndjson' }),
        body: ndjson(rows),
      });
    await post('products', [product(1), product(2), product(3)]);
    const zelda = {
      customer_id: 'C-zelda',
      customer_name: 'Zelda Quartzfield',
      customer_email: 'zelda.q@hyrule.example',
    };
    const other = {
      customer_id: 'C-link',
      customer_name: 'Link Hero',
      customer_email: 'link@hyrule.example',
    };
    await post('orders', [order(1, zelda), order(2, zelda), order(3, other)]);
    const search = async (q: string) =>
      (
        await (
          await fetch(`${a.url}/api/v1/tenants/${t.tenant_id}/orders/search?${q}`, {
            headers: auth(t.api_key),
          })
        ).text()
      )
        .trim()
        .split('\n')
        .slice(0, -1);
    expect(await search('q=quartzfield')).toHaveLength(2);
    // export files holding her email (a customer column and a filter matching her orders) are reported;
    // one without customer columns, or whose filter keeps none of her orders, is not
    const jobs = await Promise.all(
      [
        { format: 'csv', fields: ['order_id', 'customer_email'] },
        { format: 'csv', fields: ['order_id', 'total_cents'] },
        {
          format: 'csv',
          fields: ['order_id', 'customer_name'],
          filters: { customer_email: 'link@hyrule.example' },
        },
      ].map(async (body) => finished(a, t.api_key, await createExport(a, t, body))),
    );
    const erased = await fetch(`${b.url}/api/v1/tenants/${t.tenant_id}/customers/C-zelda`, {
      method: 'DELETE',
      headers: auth(t.api_key),
    });
    expect(erased.status).toBe(200);
    expect(await erased.json()).toMatchObject({
      erased: true,
      orders_kept: 2,
      customer_pks: [expect.any(Number)],
      exports_containing: [jobs[0]!.export_id],
    });
    expect(await search('q=quartzfield')).toHaveLength(0);
    expect(await search('customer_email=zelda.q@hyrule.example')).toHaveLength(0);
    expect(await search('limit=10')).toHaveLength(3); // the orders stay
    const again = await fetch(`${a.url}/api/v1/tenants/${t.tenant_id}/customers/C-zelda`, {
      method: 'DELETE',
      headers: auth(t.api_key),
    });
    expect(again.status).toBe(404);
    const byEmail = await fetch(
      `${a.url}/api/v1/tenants/${t.tenant_id}/customers?email=${encodeURIComponent('link@hyrule.example')}`,
      { method: 'DELETE', headers: auth(t.api_key) },
    );
    expect(await byEmail.json()).toMatchObject({ erased: true, orders_kept: 1 });
    const client = await schema.connect();
    try {
      const { rows } = await client.query(
        'SELECT customer_id, name, email FROM customers WHERE tenant_id = $1 ORDER BY customer_pk',
        [t.tenant_id],
      );
      for (const r of rows) expect(r.name).toBe('[erased]');
      const audit = await client.query(
        'SELECT matched_by FROM customer_erasures WHERE tenant_id = $1 ORDER BY erasure_id',
        [t.tenant_id],
      );
      expect(audit.rows.map((r) => r.matched_by)).toEqual(['customer_id', 'email']);
      // the table's and its indexes' files no longer hold the old values (where this process may read them;
      // relationFilesHold checkpoints first, so the files are what the server has written). MVCC: while
      // another session of the database holds a snapshot from before the erasure, VACUUM must keep the old
      // row versions (they are "recently dead"); the tests of other files share this database. The erasure
      // waits up to 5 s for older snapshots and says in its log when one outlasted the wait
      const kept = [a, b].some((s) =>
        s
          .logs()
          .some((l) => String(l.msg).startsWith('erasure: a session held') && l.tenant_id === t.tenant_id),
      );
      const quiet = !kept;
      if (kept)
        console.warn('erasure: another session held an older snapshot; file bytes not checked this run');
      const pii = ['Quartzfield', 'zelda.q@hyrule', 'C-zelda', 'Link Hero', 'quartzfield'];
      const files = quiet ? await relationFilesHold(client, ['customers'], t.tenant_id, pii) : null;
      if (files) expect(files.held).toEqual([]);
      else if (quiet) console.warn('erasure: no relation file was readable; bytes not checked');
    } finally {
      await client.end();
    }
  });

  it('an erasure waits for a write transaction begun before it, idle between statements, and says when it outlasts the wait', async () => {
    const t = await a.createTenant('gdpr-wait');
    await fetch(`${a.url}/api/v1/ingest/products/`, {
      method: 'POST',
      headers: auth(t.api_key, { 'content-type': 'application/x-ndjson' }),
      body: ndjson([product(1), product(2), product(3)]),
    });
    await fetch(`${a.url}/api/v1/ingest/orders/`, {
      method: 'POST',
      headers: auth(t.api_key, { 'content-type': 'application/x-ndjson' }),
      body: ndjson([
        order(1, { customer_id: 'C-wait', customer_name: 'Wanda Wait', customer_email: 'w@wait.example' }),
      ]),
    });
    // another session: a transaction with an id (it wrote) and, between statements, no snapshot
    const other = await schema.connect();
    try {
      await other.query('BEGIN');
      await other.query('CREATE TEMP TABLE holder (x int)');
      await other.query('INSERT INTO holder VALUES (1)');
      const erased = await fetch(`${a.url}/api/v1/tenants/${t.tenant_id}/customers/C-wait`, {
        method: 'DELETE',
        headers: auth(t.api_key),
      });
      expect(erased.status).toBe(200);
      // it waited (5 s) for that transaction, then said the old row versions stay until a later vacuum
      await eventually(
        () =>
          a
            .logs()
            .some((l) => String(l.msg).startsWith('erasure: a session held') && l.tenant_id === t.tenant_id),
        2000,
        'the erasure to say it could not wait out the older transaction',
      );
      await other.query('COMMIT');
    } finally {
      await other.end();
    }
  });

  it('survives PostgreSQL dropping its connections: requests answer 503 storage_busy with Retry-After or succeed, and the next ones succeed', async () => {
    const t = await a.createTenant('dropped');
    const search = () =>
      fetch(`${a.url}/api/v1/tenants/${t.tenant_id}/orders/search?limit=5`, { headers: auth(t.api_key) });
    expect((await search()).status).toBe(200);
    const client = await schema.connect();
    try {
      const { rows } = await client.query(
        'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
        [schema.name],
      );
      expect(rows[0].n).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await search();
      statuses.push(res.status);
      if (res.status !== 200) {
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).not.toBeNull();
        expect(await res.json()).toMatchObject({ code: 'storage_busy', request_id: expect.any(String) });
      } else await res.body?.cancel();
    }
    expect(statuses.at(-1)).toBe(200);
    expect(a.child.exitCode).toBeNull();
    expect(b.child.exitCode).toBeNull();
  });

  it("an anomaly recorded on one server reaches the other server's change stream within 2 s; a broken feed ends the stream for a resume", async () => {
    const t = await a.createTenant('anomalies');
    // both servers listen for anomalies: an earlier test dropped their connections, and a server that lost
    // its feed restarts its streams once it listens again (logged), so wait for that
    const listening = (server: TestServer) => {
      const logs = server.logs().map((l) => l.msg);
      const lost = logs.lastIndexOf(
        'the anomaly notification connection failed: streams interrupted, reconnecting',
      );
      return lost === -1 || logs.lastIndexOf('anomaly notifications listening again') > lost;
    };
    await eventually(() => listening(a) && listening(b), 10_000, 'both servers listening');
    const loaded = await fetch(`${a.url}/api/v1/ingest/products/`, {
      method: 'POST',
      headers: auth(t.api_key, { 'content-type': 'application/x-ndjson' }),
      body: ndjson([product(1, { price_cents: 1000 })]),
    });
    const loadedText = await loaded.text();
    expect(JSON.parse(loadedText), loadedText).toMatchObject({ rows_inserted: 1 });
    const res = await fetch(`${b.url}/api/v1/tenants/${t.tenant_id}/price-anomalies/stream`, {
      headers: auth(t.api_key),
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    const until = async (done: (s: string) => boolean, ms: number) => {
      const deadline = Date.now() + ms;
      while (!done(text) && Date.now() < deadline) {
        const chunk = await Promise.race([
          reader.read(),
          new Promise<{ done: true; value: undefined }>((r) =>
            setTimeout(() => r({ done: true, value: undefined }), 200),
          ),
        ]);
        if (chunk.value) text += new TextDecoder().decode(chunk.value);
        else if (chunk.done && res.body!.locked && text.includes('\n\n') && Date.now() >= deadline) break;
      }
      return done(text);
    };
    await until((s) => s.includes(': connected'), 2000);
    const posted = Date.now();
    const spike = await fetch(`${a.url}/api/v1/tenants/${t.tenant_id}/products/1/price-event`, {
      method: 'POST',
      headers: auth(t.api_key, { 'content-type': 'application/json' }),
      body: JSON.stringify({ event_id: 'spike-1', price_cents: 9000, observed_at: new Date().toISOString() }),
    });
    expect(spike.status, await spike.clone().text()).toBe(201);
    expect(await until((s) => s.includes('"event_id":"spike-1"'), 2000)).toBe(true);
    expect(Date.now() - posted).toBeLessThan(2000);
    expect(text).toMatch(/^id: \d+$/m);
    // the feed's connection dropped: the stream ends, cleanly or cut (EventSource reconnects with Last-Event-ID
    // either way, and reads what it missed from the table)
    const client = await schema.connect();
    try {
      await client.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'",
        [schema.name],
      );
    } finally {
      await client.end();
    }
    const ended = await Promise.race([
      (async () => {
        try {
          for (;;) if ((await reader.read()).done) return true;
        } catch {
          return true; // cut rather than ended: over all the same
        }
      })(),
      new Promise<boolean>((r) => setTimeout(() => r(false), 5000)),
    ]);
    expect(ended).toBe(true);
  });

  it('two servers enforce one price-event budget per product (the buckets are in PostgreSQL)', async () => {
    const t = await a.createTenant('budget');
    await fetch(`${a.url}/api/v1/ingest/products/`, {
      method: 'POST',
      headers: auth(t.api_key, { 'content-type': 'application/x-ndjson' }),
      body: ndjson([product(1, { price_cents: 1000 })]),
    });
    // 40 events at once, half to each server; the product's bucket holds 20 and refills 5 a second
    const started = performance.now();
    const replies = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        fetch(`${(i % 2 ? a : b).url}/api/v1/tenants/${t.tenant_id}/products/1/price-event`, {
          method: 'POST',
          headers: auth(t.api_key, { 'content-type': 'application/json' }),
          body: JSON.stringify({
            event_id: `budget-${i}`,
            price_cents: 1000 + (i % 3),
            observed_at: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
          }),
        }),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const allowed = replies.filter((r) => r.status === 201).length;
    const refused = replies.filter((r) => r.status === 429);
    expect(allowed + refused.length).toBe(40);
    // one budget: 20 and what refilled meanwhile; a bucket per server would have let all 40 through
    expect(allowed).toBeGreaterThanOrEqual(20);
    expect(allowed).toBeLessThanOrEqual(20 + Math.ceil(5 * seconds) + 1);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((r) => r.headers.get('retry-after') !== null)).toBe(true);
    // a bucket idle past the sweep's horizon is removed (it would be full again); a recent one stays
    const client = await schema.connect();
    try {
      await client.query(
        "INSERT INTO rate_buckets (key, tokens, at, last_allowed) VALUES ('product:old', 3, now() - interval '2 hours', true)",
      );
      expect(await sweepIdleBuckets(client)).toBe(1);
      const { rows } = await client.query(
        "SELECT count(*)::int AS n FROM rate_buckets WHERE key LIKE 'product:%'",
      );
      expect(rows[0].n).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
  });

  it("checks a tenant's data on the admin route: quick reads every partition, full runs amcheck on them and their B-tree indexes", async () => {
    const t = await a.createTenant('checked');
    const loaded = await fetch(`${a.url}/api/v1/ingest/products/`, {
      method: 'POST',
      headers: auth(t.api_key, { 'content-type': 'application/x-ndjson' }),
      body: ndjson([product(1), product(2)]),
    });
    expect(loaded.status).toBe(200);
    for (const mode of ['quick', 'full'] as const) {
      const res = await fetch(`${b.url}/api/v1/admin/tenants/${t.tenant_id}/check?mode=${mode}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      const body = (await res.json()) as {
        ok: boolean;
        messages: string[];
        mode: string;
        available: boolean;
      };
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body).toMatchObject({ ok: true, messages: ['ok'], mode, available: true });
    }
    // the full check really ran amcheck (installed on first use) over the tenant's partitions
    const client = await schema.connect();
    try {
      const { rows } = await client.query("SELECT 1 FROM pg_extension WHERE extname = 'amcheck'");
      expect(rows).toHaveLength(1);
    } finally {
      await client.end();
    }
    expect(
      b.logs().some((l) => l.msg === 'shard checked' && l.tenant_id === t.tenant_id && l.mode === 'full'),
    ).toBe(true);
    // a partition gone (dropped by hand): the check says which, and the tenant answers 503 until it is back
    const broken = await a.createTenant('check-broken');
    const admin = await schema.connect();
    try {
      await admin.query(`DROP TABLE stock_events_t${broken.tenant_id}`);
    } finally {
      await admin.end();
    }
    const res = await fetch(`${a.url}/api/v1/admin/tenants/${broken.tenant_id}/check?mode=quick`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const found = (await res.json()) as { ok: boolean; messages: string[]; available: boolean };
    expect(found.ok).toBe(false);
    expect(found.available).toBe(false);
    expect(found.messages.join('\n')).toContain(`stock_events_t${broken.tenant_id}`);
    const refused = await fetch(`${a.url}/api/v1/tenants/${broken.tenant_id}/products/1`, {
      headers: auth(broken.api_key),
    });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { code: string }).code).toBe('tenant_unavailable');
  });

  it('serves every route of the contract: nothing answers 501, a path that is no route answers 404 as on SQLite', async () => {
    const t = await a.createTenant('rest');
    const spec = (await (await fetch(`${a.url}/openapi.json`)).json()) as { paths: Record<string, object> };
    for (const [path, methods] of Object.entries(spec.paths))
      for (const method of Object.keys(methods)) {
        const url = `${a.url}${path.replace('{tenant_id}', String(t.tenant_id)).replace(/\{[^}]+\}/g, '1')}`;
        const res = await fetch(url, { method: method.toUpperCase(), headers: auth(t.api_key) });
        await res.body?.cancel(); // a change stream would not end
        expect(res.status, `${method} ${path}`).not.toBe(501);
      }
    const res = await fetch(`${a.url}/api/v1/tenants/${t.tenant_id}/reports/export/missing`, {
      headers: auth(t.api_key),
    });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(await res.json()).toMatchObject({ request_id: expect.any(String) });
    const readyz = await fetch(`${a.url}/readyz`);
    expect(readyz.status).toBe(200);
  });
});

describe('--storage postgres without a database', () => {
  it('refuses to start, saying what is missing', async () => {
    await expect(startServer({ args: ['--storage', 'postgres'], env: { DATABASE_URL: '' } })).rejects.toThrow(
      /--database-url/,
    );
  });
});
