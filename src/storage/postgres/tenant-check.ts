/**
 * The admin check of a tenant's data on PostgreSQL (issue 17), as `PRAGMA quick_check` / `integrity_check`
 * check a SQLite shard: `quick` reads every heap page of the tenant's partitions in a sequential scan;
 * `full` runs PostgreSQL's amcheck on them (`verify_heapam` on each partition, `bt_index_check` with
 * `heapallindexed` on each of their B-tree indexes; GIN indexes have no checker before PostgreSQL 17).
 */
import type { ClientBase } from 'pg';
import type { ShardCheck } from '../shard-check.js';
import { partitionedTables, partitionName } from './tenant-partitions.js';
import { inTransaction } from './transaction.js';

/** At most this many messages, as SQLite's checks are asked for (quick_check(100)). */
const MAX_MESSAGES = 100;

/** The schema of amcheck's functions, installing the extension if it is not (a superuser may); null if it cannot be. */
async function amcheckSchema(client: ClientBase): Promise<{ schema: string } | { unavailable: string }> {
  const find = async () =>
    (
      await client.query<{ schema: string }>(
        "SELECT extnamespace::regnamespace::text AS schema FROM pg_extension WHERE extname = 'amcheck'",
      )
    ).rows[0];
  let found = await find();
  if (!found) {
    try {
      await client.query('CREATE EXTENSION IF NOT EXISTS amcheck');
    } catch (error) {
      return {
        unavailable: `a full check needs PostgreSQL's amcheck extension, which this role cannot install (${(error as Error).message}): run CREATE EXTENSION amcheck as a superuser`,
      };
    }
    found = await find();
  }
  return found ? { schema: found.schema } : { unavailable: 'the amcheck extension is not installed' };
}

export async function checkTenantPartitions(
  client: ClientBase,
  tenantId: number,
  mode: 'quick' | 'full',
): Promise<ShardCheck> {
  const started = performance.now();
  const messages: string[] = [];
  const note = (message: string) => {
    if (messages.length < MAX_MESSAGES) messages.push(message);
  };
  const elapsed = () => Math.round(performance.now() - started);
  const amcheck = mode === 'full' ? await amcheckSchema(client) : null;
  if (amcheck && 'unavailable' in amcheck)
    return {
      ok: false,
      messages: [amcheck.unavailable],
      mode,
      ms: elapsed(),
      unavailable: amcheck.unavailable,
    };
  const functions = amcheck ? client.escapeIdentifier(amcheck.schema) : '';
  for (const table of await partitionedTables(client)) {
    const partition = partitionName(table, tenantId);
    try {
      if (!amcheck) {
        // every heap page in order, no index to answer from: a page PostgreSQL cannot read fails the scan
        await inTransaction(client, async () => {
          await client.query('SET LOCAL enable_indexscan = off');
          await client.query('SET LOCAL enable_indexonlyscan = off');
          await client.query('SET LOCAL enable_bitmapscan = off');
          await client.query(`SELECT count(*) FROM ONLY ${client.escapeIdentifier(partition)}`);
        });
        continue;
      }
      const heap = await client.query<{ blkno: string; offnum: number | null; msg: string }>(
        `SELECT blkno, offnum, msg FROM ${functions}.verify_heapam($1::regclass)`,
        [partition],
      );
      for (const r of heap.rows)
        note(`${partition} block ${r.blkno}${r.offnum === null ? '' : ` item ${r.offnum}`}: ${r.msg}`);
      const { rows: indexes } = await client.query<{ index: string }>(
        `SELECT i.indexrelid::regclass::text AS index
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
          WHERE i.indrelid = $1::regclass AND a.amname = 'btree'`,
        [partition],
      );
      for (const { index } of indexes) {
        try {
          await client.query(`SELECT ${functions}.bt_index_check($1::regclass, true)`, [index]);
        } catch (error) {
          note(`${index}: ${(error as Error).message}`);
        }
      }
    } catch (error) {
      note(`${partition}: ${(error as { code?: string }).code ?? 'error'}: ${(error as Error).message}`);
    }
  }
  const ok = messages.length === 0;
  return { ok, messages: ok ? ['ok'] : messages, mode, ms: elapsed() };
}
