import type { Statement } from 'better-sqlite3';
import type { Db } from './sqlite.js';

export type BeginResult =
  | { state: 'started' }
  | { state: 'in_flight' }
  | { state: 'completed'; fingerprint: string; status: number; body: string };

interface Row {
  fingerprint: string;
  state: 'in_flight' | 'completed';
  response_status: number | null;
  response_body: string | null;
  owner: string | null;
  expires_at: number;
}

/**
 * Request-level idempotency records per (scope, key): begin claims the key (in_flight), complete stores
 * the response, release gives the key back after a failure so a corrected retry can use it.
 */
export class IdempotencyStore {
  private readonly get: Statement;
  private readonly claim: Statement;
  private readonly finish: Statement;
  private readonly drop: Statement;
  private readonly expire: Statement;

  constructor(db: Db) {
    this.get = db.prepare(
      'SELECT fingerprint, state, response_status, response_body, owner, expires_at FROM idempotency_keys WHERE scope = ? AND idem_key = ?',
    );
    this.claim = db.prepare(
      `INSERT INTO idempotency_keys (scope, idem_key, fingerprint, state, owner, created_at, expires_at)
       VALUES (?, ?, '', 'in_flight', ?, ?, ?)
       ON CONFLICT (scope, idem_key) DO UPDATE SET state = 'in_flight', owner = excluded.owner,
         created_at = excluded.created_at, expires_at = excluded.expires_at, fingerprint = ''`,
    );
    this.finish = db.prepare(
      `UPDATE idempotency_keys SET state = 'completed', fingerprint = ?, response_status = ?, response_body = ?, expires_at = ?
       WHERE scope = ? AND idem_key = ? AND owner = ?`,
    );
    this.drop = db.prepare(
      `DELETE FROM idempotency_keys WHERE scope = ? AND idem_key = ? AND owner = ? AND state = 'in_flight'`,
    );
    this.expire = db.prepare(
      `DELETE FROM idempotency_keys WHERE (scope, idem_key) IN
         (SELECT scope, idem_key FROM idempotency_keys WHERE expires_at < ? LIMIT 500)`,
    );
  }

  /** Call inside a write transaction. `bootId` identifies the live server process. */
  begin(scope: string, key: string, owner: string, bootId: string, now: number, ttlMs: number): BeginResult {
    this.expire.run(now);
    const row = this.get.get(scope, key) as Row | undefined;
    if (row && row.expires_at >= now) {
      if (row.state === 'completed') {
        return {
          state: 'completed',
          fingerprint: row.fingerprint,
          status: row.response_status!,
          body: row.response_body!,
        };
      }
      const ownerBoot = row.owner?.split('/')[0];
      if (ownerBoot === bootId) return { state: 'in_flight' };
      // held by a process that no longer runs: take it over
    }
    this.claim.run(scope, key, owner, now, now + ttlMs);
    return { state: 'started' };
  }

  complete(
    scope: string,
    key: string,
    owner: string,
    fingerprint: string,
    status: number,
    body: string,
    now: number,
    ttlMs: number,
  ): boolean {
    return this.finish.run(fingerprint, status, body, now + ttlMs, scope, key, owner).changes === 1;
  }

  release(scope: string, key: string, owner: string): void {
    this.drop.run(scope, key, owner);
  }
}
