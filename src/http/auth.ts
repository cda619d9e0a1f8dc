import type { MiddlewareHandler } from 'hono';
import { tokensEqual } from '../domain/api-key.js';
import type { CatalogStore } from '../storage/catalog-store.js';
import type { StorageHealth } from './health.js';
import { Problem } from './problem.js';
import type { AppEnv } from './types.js';

function bearer(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}

const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="orderflow"' };

/**
 * Resolves the API key to its tenant; no key or a bad/revoked one is 401. A tenant whose shard is damaged
 * or unreadable is 503 tenant_unavailable at once: its requests fail fast, other tenants are served.
 */
export function requireApiKey(catalog: CatalogStore, health: StorageHealth): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = bearer(c.req.header('authorization'));
    if (!key)
      throw new Problem('missing_api_key', 'Send Authorization: Bearer <api_key>.', {
        headers: CHALLENGE,
      });
    const who = await catalog.authenticate(key);
    if (who === null)
      throw new Problem('invalid_api_key', 'The API key is unknown or revoked.', { headers: CHALLENGE });
    const { tenantId, keyId } = who;
    c.set('tenantId', tenantId);
    c.set('keyId', keyId);
    const outage = health.outage(tenantId);
    if (outage)
      throw new Problem('tenant_unavailable', `This tenant's storage is unavailable: ${outage.reason}`, {
        headers: { 'Retry-After': '60' },
        extra: { since: outage.since },
      });
    await next();
  };
}

/**
 * Guards /tenants/:tenant_id/...: the path must name the key's own tenant. Any other id, existing or not,
 * is a 404 so that other tenants' existence is not revealed.
 */
export function tenantGuard(): MiddlewareHandler<AppEnv, '/api/v1/tenants/:tenant_id/*'> {
  return async (c, next) => {
    const raw = c.req.param('tenant_id');
    if (!/^[1-9]\d{0,15}$/.test(raw) || Number(raw) !== c.get('tenantId')) {
      throw new Problem('not_found', 'No such resource.');
    }
    await next();
  };
}

/** Admin endpoints: off (404) when no admin token is configured, 401 without the right token. */
export function requireAdmin(adminToken: string | null): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!adminToken) throw new Problem('not_found', 'No such resource.');
    const token = bearer(c.req.header('authorization'));
    if (!token || !tokensEqual(token, adminToken)) {
      throw new Problem('invalid_admin_token', 'Admin endpoints need the admin token.', {
        headers: CHALLENGE,
      });
    }
    await next();
  };
}
