/**
 * Request-level idempotency records on PostgreSQL (issue 17), the same operations and answers as SQLite's
 * (src/storage/idempotency.ts), for several servers at once: a key is claimed by inserting its row (the
 * primary key lets one claim through); a claim held by another live server is in flight (409), one held
 * by a process whose heartbeat stopped (src/storage/postgres/boots.ts) or an expired record is taken over.
 */
import type pg from 'pg';
import type { BeginResult } from '../idempotency.js';
import { ALIVE_MS } from './boots.js';
import { timestampOf } from './epoch-ms.js';
import { inTransaction } from './transaction.js';

export class PgIdempotencyStore {
  constructor(
    private readonly client: pg.ClientBase,
    private readonly tenantId: number,
  ) {}

  begin(
    scope: string,
    key: string,
    owner: string,
    bootId: string,
    now: number,
    ttlMs: number,
  ): Promise<BeginResult> {
    return inTransaction(this.client, async () => {
      const t = this.tenantId;
      await this.client.query(
        `DELETE FROM idempotency_keys WHERE tenant_id = $1 AND (scope, idem_key) IN
           (SELECT scope, idem_key FROM idempotency_keys WHERE tenant_id = $1 AND expires_at < ${timestampOf(2)} LIMIT 500)`,
        [t, now],
      );
      const claim = async () =>
        this.client.query(
          `INSERT INTO idempotency_keys (tenant_id, scope, idem_key, fingerprint, state, owner, created_at, expires_at)
           VALUES ($1, $2, $3, '', 'in_flight', $4, ${timestampOf(5)}, ${timestampOf(6)})
           ON CONFLICT (tenant_id, scope, idem_key) DO UPDATE SET state = 'in_flight', owner = EXCLUDED.owner,
             created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at, fingerprint = '',
             response_status = NULL, response_body = NULL`,
          [t, scope, key, owner, now, now + ttlMs],
        );
      const inserted = await this.client.query(
        `INSERT INTO idempotency_keys (tenant_id, scope, idem_key, fingerprint, state, owner, created_at, expires_at)
         VALUES ($1, $2, $3, '', 'in_flight', $4, ${timestampOf(5)}, ${timestampOf(6)}) ON CONFLICT DO NOTHING`,
        [t, scope, key, owner, now, now + ttlMs],
      );
      if (inserted.rowCount === 1) return { state: 'started' };
      const { rows } = await this.client.query<{
        state: 'in_flight' | 'completed';
        fingerprint: string;
        response_status: number | null;
        response_body: string | null;
        owner: string | null;
        expired: boolean;
        owner_alive: boolean;
      }>(
        `SELECT k.state, k.fingerprint, k.response_status, k.response_body, k.owner,
                k.expires_at < ${timestampOf(4)} AS expired,
                EXISTS (SELECT 1 FROM server_boots b WHERE b.boot_id = split_part(k.owner, '/', 1)
                          AND b.heartbeat_at > now() - make_interval(secs => $5::float8 / 1000)) AS owner_alive
           FROM idempotency_keys k WHERE k.tenant_id = $1 AND k.scope = $2 AND k.idem_key = $3 FOR UPDATE`,
        [t, scope, key, now, ALIVE_MS],
      );
      const row = rows[0];
      if (row && !row.expired) {
        if (row.state === 'completed')
          return {
            state: 'completed',
            fingerprint: row.fingerprint,
            status: row.response_status!,
            body: row.response_body!,
          };
        const ownerBoot = row.owner?.split('/')[0];
        if (ownerBoot === bootId || row.owner_alive) return { state: 'in_flight' };
        // held by a process that no longer runs: take it over
      }
      await claim();
      return { state: 'started' };
    });
  }

  async complete(
    scope: string,
    key: string,
    owner: string,
    fingerprint: string,
    status: number,
    body: string,
    now: number,
    ttlMs: number,
  ): Promise<boolean> {
    const { rowCount } = await this.client.query(
      `UPDATE idempotency_keys SET state = 'completed', fingerprint = $5, response_status = $6, response_body = $7,
              expires_at = ${timestampOf(8)}
        WHERE tenant_id = $1 AND scope = $2 AND idem_key = $3 AND owner = $4`,
      [this.tenantId, scope, key, owner, fingerprint, status, body, now + ttlMs],
    );
    return rowCount === 1;
  }

  async release(scope: string, key: string, owner: string): Promise<void> {
    await this.client.query(
      `DELETE FROM idempotency_keys
        WHERE tenant_id = $1 AND scope = $2 AND idem_key = $3 AND owner = $4 AND state = 'in_flight'`,
      [this.tenantId, scope, key, owner],
    );
  }
}
