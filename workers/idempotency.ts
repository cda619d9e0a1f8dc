import type { TaskBase } from '../src/pool/protocol.js';
import { type BeginResult, IdempotencyStore } from '../src/storage/idempotency.js';
import { PgIdempotencyStore } from '../src/storage/postgres/idempotency.js';
import { onPostgres, withPostgres } from '../src/worker/postgres.js';
import { defineTask, type TaskContext } from '../src/worker/worker-context.js';

export interface IdempotencyInput extends TaskBase {
  op: 'begin' | 'complete' | 'release';
  scope: string;
  key: string;
  owner: string;
  bootId?: string;
  ttlMs?: number;
  fingerprint?: string;
  status?: number;
  body?: string;
}

function store(ctx: TaskContext, tenantId: number): IdempotencyStore {
  return ctx.shards.cached(tenantId, 'IdempotencyStore', (db) => new IdempotencyStore(db));
}

/** The idempotency record operations, each one short write transaction under the shard lock. */
export const idempotency = defineTask(
  'idempotency',
  (ctx, i: IdempotencyInput): BeginResult | boolean | Promise<BeginResult | boolean> =>
    onPostgres(ctx) ? onPostgresStore(ctx, i) : onSqlite(ctx, i),
);

/** The same operations on PostgreSQL, on one of the thread's connections. */
function onPostgresStore(ctx: TaskContext, i: IdempotencyInput): Promise<BeginResult | boolean> {
  return withPostgres(ctx, `idempotency_${i.op}`, async (client) => {
    const s = new PgIdempotencyStore(client, i.tenantId);
    const now = Date.now();
    switch (i.op) {
      case 'begin':
        return s.begin(i.scope, i.key, i.owner, i.bootId!, now, i.ttlMs!);
      case 'complete':
        return s.complete(i.scope, i.key, i.owner, i.fingerprint!, i.status!, i.body!, now, i.ttlMs!);
      case 'release':
        await s.release(i.scope, i.key, i.owner);
        return true;
    }
  });
}

function onSqlite(ctx: TaskContext, i: IdempotencyInput): BeginResult | boolean {
  const db = ctx.shards.db(i.tenantId);
  const s = store(ctx, i.tenantId);
  const now = Date.now();
  return ctx.lock.withLock(i.tenantId, () =>
    ctx.obs.timeQuery(`idempotency_${i.op}`, () =>
      db
        .transaction(() => {
          switch (i.op) {
            case 'begin':
              return s.begin(i.scope, i.key, i.owner, i.bootId!, now, i.ttlMs!);
            case 'complete':
              return s.complete(i.scope, i.key, i.owner, i.fingerprint!, i.status!, i.body!, now, i.ttlMs!);
            case 'release':
              s.release(i.scope, i.key, i.owner);
              return true;
          }
        })
        .immediate(),
    ),
  );
}
