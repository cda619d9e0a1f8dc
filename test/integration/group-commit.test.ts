import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PreparedBackend, SERVER_BACKENDS } from '../helpers/backends.js';
import { countRows, ndjson, order, product, shardQuery } from '../helpers/data.js';
import { auth, eventually, removeDir, startServer, type TestServer } from '../helpers/server.js';

/**
 * Group commit on the writer lanes: chunks of concurrent requests share transactions, each request is
 * answered only for committed rows, and a kill -9 in the middle loses no acknowledged row.
 */

type Summary = { rows_received: number; rows_inserted: number; rows_duplicate: number; rows_failed: number };

/** Orders `from`..`from + n` with customers of their own (names searchable by `tag`). */
const orders = (from: number, n: number, tag: string) =>
  Array.from({ length: n }, (_, i) =>
    order(from + i, {
      customer_id: `C-${tag}-${(from + i) % 97}`,
      customer_name: `${tag} Customer${(from + i) % 97}`,
      customer_email: `c${(from + i) % 97}@${tag}.example`,
    }),
  );

async function withProducts(s: TestServer, name: string) {
  const t = await s.createTenant(name);
  const headers = auth(t.api_key, { 'content-type': 'application/x-ndjson' });
  const res = await fetch(`${s.url}/api/v1/ingest/products/`, {
    method: 'POST',
    headers,
    body: ndjson([product(1), product(2), product(3)]),
  });
  expect(res.status).toBe(200);
  return { tenantId: t.tenant_id, headers };
}

const post = (s: TestServer, headers: Record<string, string>, body: string) =>
  fetch(`${s.url}/api/v1/ingest/orders/`, { method: 'POST', headers, body });

describe('group commit', () => {
  let s: TestServer;
  beforeAll(async () => {
    // 100-row chunks: 80 parse tasks for the four requests below, more than a tenant's default share of the
    // pool queue (32) or the whole queue (64), so a loaded machine refused the last request with 429
    // tenant_queue_full; admission is not what this test is about
    s = await startServer({
      args: [
        ...['--ingest-batch-rows', '100', '--max-queue', '256', '--max-queue-per-tenant', '256'],
        ...['--log-level', 'debug'],
      ],
    });
  });
  afterAll(async () => {
    await s.stop();
    removeDir(s.dataDir);
  });

  it('concurrent requests share transactions; each answer counts only its own rows; customers are searchable at once', async () => {
    const { tenantId, headers } = await withProducts(s, 'shared');
    const bodies = Array.from({ length: 4 }, (_, r) => orders(100_000 + r * 2000, 2000, `grp${r}`));
    const answers = await Promise.all(bodies.map((b) => post(s, headers, ndjson(b))));
    const summaries = (await Promise.all(answers.map((a) => a.json()))) as Summary[];
    for (const summary of summaries)
      expect(summary).toMatchObject({
        rows_received: 2000,
        rows_inserted: 2000,
        rows_duplicate: 0,
        rows_failed: 0,
      });
    expect(countRows(s.dataDir, tenantId, 'orders')).toBe(8000);
    // 80 chunks of 100 rows went to the lane; fewer transactions carried them, some holding chunks of
    // several requests
    const written = s.logs().filter((l) => l.msg === 'parts written' && l.tenant_id === tenantId);
    const transactions = written.reduce((n, l) => n + (l.transactions as number), 0);
    expect(transactions).toBeLessThan(80);
    expect(Math.max(...written.map((l) => l.largest as number))).toBeGreaterThan(100);
    const chunks = s
      .logs()
      .filter((l) => l.msg === 'chunk written' && l.kind === 'orders' && l.tenant_id === tenantId);
    expect(new Set(chunks.map((l) => l.part_req_id)).size).toBe(4);
    // the last request's customers are in the full-text index as soon as it has answered
    const search = await fetch(
      `${s.url}/api/v1/tenants/${tenantId}/orders/search?q=grp3&fields=order_id&limit=100000`,
      { headers },
    );
    const lines = (await search.text()).trim().split('\n');
    expect(lines).toHaveLength(2001); // 2000 orders and the _meta line
  });

  it('the checkpoints run off the writer lane: the WAL is copied back while the lane writes', async () => {
    const text = await (await fetch(`${s.url}/metrics`)).text();
    const count = /db_query_duration_seconds_count\{query="wal_checkpoint"\} (\d+)/.exec(text);
    expect(Number(count?.[1] ?? 0)).toBeGreaterThan(0);
    expect(text).toMatch(/ingest_transaction_rows_count [1-9]/);
  });
});

for (const backend of SERVER_BACKENDS)
  describe.skipIf(backend.skip !== null)(`kill -9 during group-committed writes, on ${backend.name}`, () => {
    let prepared: PreparedBackend;
    beforeAll(async () => {
      prepared = await backend.prepare();
    });
    afterAll(async () => prepared?.cleanup());
    /** one column of a tenant's table as the backend stored it */
    const column = async (dataDir: string, tenantId: number, sql: string): Promise<unknown[]> =>
      prepared.query
        ? (await prepared.query(`${sql} WHERE tenant_id = $1`, [tenantId])).map((r) => Object.values(r)[0])
        : shardQuery(dataDir, tenantId, sql).map((r) => Object.values(r)[0]);
    it('loses no acknowledged row and, on a retry of every request, duplicates none', async () => {
      const first = await startServer({
        args: ['--ingest-batch-rows', '100', '--log-level', 'debug', ...prepared.args],
      });
      let second: TestServer | null = null;
      try {
        const { tenantId, headers } = await withProducts(first, 'crash');
        const bodies = Array.from({ length: 8 }, (_, r) => ndjson(orders(200_000 + r * 3000, 3000, `k${r}`)));
        const acknowledged = new Set<number>();
        // the requests start a little apart, so their answers do too; the server is killed the moment the
        // second answer is in: some requests answered, others still being written, in shared transactions.
        // The last two send half their body, and the rest only after the kill: they cannot be answered first.
        let killed!: () => void;
        const afterKill = new Promise<void>((resolve) => {
          killed = resolve;
        });
        const held = (body: string): ReadableStream<Uint8Array> => {
          const bytes = new TextEncoder().encode(body);
          const half = bytes.lastIndexOf(10, bytes.length >> 1) + 1; // whole lines only
          return new ReadableStream({
            async start(controller) {
              controller.enqueue(bytes.subarray(0, half));
              await afterKill;
              controller.enqueue(bytes.subarray(half));
              controller.close();
            },
          });
        };
        const requests = bodies.map((body, r) =>
          new Promise((wait) => setTimeout(wait, r * 40))
            .then(() =>
              r < 6
                ? post(first, headers, body)
                : fetch(`${first.url}/api/v1/ingest/orders/`, {
                    method: 'POST',
                    headers,
                    body: held(body),
                    duplex: 'half',
                  } as RequestInit),
            )
            .then(
              async (res) => {
                if (res.status === 200 && ((await res.json()) as Summary).rows_inserted === 3000) {
                  acknowledged.add(r);
                  if (acknowledged.size === 2) {
                    first.child.kill('SIGKILL');
                    killed();
                  }
                }
              },
              () => {}, // cut off by the kill
            ),
        );
        await eventually(() => acknowledged.size >= 2, 60_000, 'two answered requests');
        expect(acknowledged.size).toBeLessThan(8);
        expect(
          first
            .logs()
            .some((l) => l.msg === 'parts written' && (l.parts as number) > 1 && l.tenant_id === tenantId),
        ).toBe(true);
        await first.stop('SIGKILL');
        await Promise.all(requests);
        second = await startServer({ dataDir: first.dataDir, args: prepared.args });
        // on SQLite the order journal is written by the same transactions: it holds what they committed
        const journalAgrees = () => {
          if (prepared.query) return;
          const [tables] = shardQuery(
            second!.dataDir,
            tenantId,
            'SELECT count(*) AS n, min(order_pk) AS lo, max(order_pk) AS hi FROM orders',
          );
          const [journal] = shardQuery(
            second!.dataDir,
            tenantId,
            'SELECT sum(orders) AS n, min(first_pk) AS lo, max(last_pk) AS hi FROM order_journal',
          );
          expect(journal).toEqual(tables);
        };
        journalAgrees();
        const stored = new Set(await column(second.dataDir, tenantId, 'SELECT order_id FROM orders'));
        for (const r of acknowledged)
          for (let i = 0; i < 3000; i++) expect(stored.has(`A-${200_000 + r * 3000 + i}`)).toBe(true);
        // every request again: what was committed is a duplicate, the rest goes in, nothing twice
        for (const [r, body] of bodies.entries()) {
          const res = await post(second, headers, body);
          const summary = (await res.json()) as Summary;
          expect(summary.rows_inserted + summary.rows_duplicate).toBe(3000);
          if (acknowledged.has(r)) expect(summary.rows_duplicate).toBe(3000);
        }
        const ids = await column(second.dataDir, tenantId, 'SELECT order_id FROM orders');
        expect(ids).toHaveLength(24_000);
        expect(new Set(ids).size).toBe(24_000); // nothing twice
        journalAgrees();
        // one item per order, none twice
        expect(await column(second.dataDir, tenantId, 'SELECT order_pk FROM order_items')).toHaveLength(
          24_000,
        );
      } finally {
        await first.stop('SIGKILL');
        await second?.stop();
        removeDir(first.dataDir);
      }
    }, 120_000);
  });

for (const backend of SERVER_BACKENDS)
  describe.skipIf(backend.skip !== null)(`the rows of one ingest transaction, on ${backend.name}`, () => {
    const sqlite = backend.name === 'sqlite';
    let prepared: PreparedBackend;
    beforeAll(async () => {
      prepared = await backend.prepare();
    });
    afterAll(async () => prepared?.cleanup());

    it('are at most --ingest-commit-rows on SQLite and --postgres-commit-rows on PostgreSQL', async () => {
      const [own, other] = sqlite
        ? ['--ingest-commit-rows', '--postgres-commit-rows']
        : ['--postgres-commit-rows', '--ingest-commit-rows'];
      const s = await startServer({
        args: [
          ...['--ingest-batch-rows', '100', own, '300', other, '100000', '--log-level', 'debug'],
          ...['--max-queue', '256', '--max-queue-per-tenant', '256'],
          ...prepared.args,
        ],
      });
      try {
        const { tenantId, headers } = await withProducts(s, 'commit-rows');
        const bodies = Array.from({ length: 4 }, (_, r) =>
          ndjson(orders(300_000 + r * 1500, 1500, `cr${r}`)),
        );
        const answers = await Promise.all(bodies.map((b) => post(s, headers, b)));
        for (const a of answers) expect(((await a.json()) as Summary).rows_inserted).toBe(1500);
        const written = s.logs().filter((l) => l.msg === 'parts written' && l.tenant_id === tenantId);
        // 6,000 rows in transactions of at most 300 (chunks of 100 gathered while they wait)
        expect(Math.max(...written.map((l) => l.largest as number))).toBeLessThanOrEqual(300);
        expect(written.reduce((n, l) => n + (l.transactions as number), 0)).toBeGreaterThanOrEqual(20);
      } finally {
        await s.stop();
        removeDir(s.dataDir);
      }
    });
  });
