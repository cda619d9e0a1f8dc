import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { inTransaction } from '../../src/storage/postgres/transaction.js';
import { postgresUnavailable, suiteSchema } from '../helpers/postgres.js';

/** inTransaction (src/storage/postgres/transaction.ts): commit, rollback, and the snapshot it asks for. */
const unavailable = await postgresUnavailable();
if (unavailable) console.warn(`inTransaction on PostgreSQL not tested: ${unavailable}`);

describe.skipIf(unavailable !== null)('a transaction on PostgreSQL', () => {
  const suite = suiteSchema({ clients: 2, setup: 'CREATE TABLE t (x integer)' });
  /** the client the transactions run on, and another that sees only what they committed */
  const clients = () => suite.clients as [pg.Client, pg.Client];
  const count = async (c: pg.Client) =>
    (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM t')).rows[0]!.n;

  it('commits what the work wrote and answers its result', async () => {
    const [client, other] = clients();
    const result = await inTransaction(client, async () => {
      await client.query('INSERT INTO t VALUES (1), (2)');
      return 'done';
    });
    expect(result).toBe('done');
    expect(await count(other)).toBe(2);
  });

  it('rolls back everything when the work throws, rethrows its error, and leaves the client usable', async () => {
    const [client, other] = clients();
    const failure = new Error('the work failed');
    await expect(
      inTransaction(client, async () => {
        await client.query('INSERT INTO t VALUES (3)');
        throw failure;
      }),
    ).rejects.toBe(failure);
    // a statement error aborts the transaction; it is rolled back all the same
    await expect(
      inTransaction(client, async () => {
        await client.query('INSERT INTO t VALUES (4)');
        await client.query('INSERT INTO t VALUES (1 / 0)');
      }),
    ).rejects.toThrow(/division by zero/);
    expect(await count(other)).toBe(2);
    expect(await count(client)).toBe(2); // not left inside an aborted transaction
  });

  it("rethrows the work's error, not the rollback's, when the connection is lost under it", async () => {
    const [, other] = clients();
    // a connection of its own: it is terminated midway, and the suite's clients must stay usable
    const doomed = await suite.connect();
    doomed.on('error', () => {}); // the termination notice arrives as an error event too
    const failure = new Error('the work failed');
    await expect(
      inTransaction(doomed, async () => {
        await doomed.query('INSERT INTO t VALUES (5)');
        const { rows } = await doomed.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        await other.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        throw failure;
      }),
    ).rejects.toBe(failure);
    await doomed.end().catch(() => {});
    expect(await count(other)).toBe(2); // the insert died with its connection
  });

  it('read committed sees a commit made during it; repeatable read keeps the snapshot of its first statement', async () => {
    const [client, other] = clients();
    const seen = async (isolation: 'read committed' | 'repeatable read') =>
      inTransaction(
        client,
        async () => {
          const before = await count(client);
          await other.query('INSERT INTO t VALUES (9)');
          return [before, await count(client)];
        },
        isolation,
      );
    expect(await seen('read committed')).toEqual([2, 3]);
    expect(await seen('repeatable read')).toEqual([3, 3]);
    expect(await count(client)).toBe(4);
  });
});
