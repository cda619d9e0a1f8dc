import * as v from 'valibot';
import { requireAdmin } from '../http/auth.js';
import { Problem } from '../http/problem.js';
import { RouteGroup } from '../http/register.js';
import { pathId, readJsonBody, validate, validateQuery } from '../http/validation.js';
import { TenantNameTaken } from '../storage/catalog.js';
import type { AppDeps } from './deps.js';

export const CreateTenantBody = v.object({
  name: v.pipe(
    v.string(),
    v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, _ . - ; 1 to 64 characters'),
  ),
});

const TenantCreated = v.object({
  tenant_id: v.number(),
  name: v.string(),
  api_key: v.string(),
  key_id: v.number(),
  created_at: v.string(),
});
const KeyCreated = v.object({ api_key: v.string(), key_id: v.number() });
export const TenantSettingsBody = v.object({
  price_threshold_pct: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000)),
});

const CheckQuery = v.object({ mode: v.optional(v.picklist(['quick', 'full']), 'quick') });

export function adminRoutes(deps: AppDeps): RouteGroup {
  const routes = new RouteGroup(deps.openapi, '/api/v1/admin');
  const { catalog } = deps;
  const admin = requireAdmin(deps.config.server.adminToken);
  const tenantOf = async (raw: string | undefined) => {
    const id = pathId(raw);
    if (!(await catalog.tenant(id))) throw new Problem('not_found', 'No such tenant.');
    return id;
  };

  routes.add(
    {
      method: 'post',
      path: '/api/v1/admin/tenants',
      summary: 'Create a tenant with its shard and a first API key',
      tag: 'admin',
      auth: 'admin',
      body: [{ contentType: 'application/json', schema: CreateTenantBody }],
      responses: { 201: { description: 'Created', schema: TenantCreated } },
      errors: ['validation_failed', 'malformed_json', 'tenant_exists', 'invalid_admin_token'],
    },
    admin,
    async (c) => {
      const body = validate(CreateTenantBody, await readJsonBody(c, 64 * 1024));
      try {
        const t = await catalog.createTenant(body.name);
        c.get('log').info({ tenant_id: t.tenant_id, name: t.name }, 'tenant created');
        return c.json(t, 201);
      } catch (error) {
        if (error instanceof TenantNameTaken)
          throw new Problem('tenant_exists', `Tenant "${body.name}" exists.`);
        throw error;
      }
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/admin/tenants/:tenant_id/check',
      summary:
        "Check a tenant's data (SQLite: mode=quick PRAGMA quick_check, mode=full integrity_check; PostgreSQL: quick a scan of its partitions, full amcheck); marks the tenant available or unavailable by the result",
      tag: 'admin',
      auth: 'admin',
      query: CheckQuery,
      responses: { 200: { description: '{"ok":…,"messages":[…],"mode":…,"ms":…,"available":…}' } },
      errors: ['not_found', 'validation_failed', 'invalid_admin_token', 'check_unavailable'],
    },
    admin,
    async (c) => {
      const tenantId = await tenantOf(c.req.param('tenant_id'));
      const { mode } = validateQuery(c, CheckQuery);
      const result = await deps.faults.check(tenantId, mode);
      if (result.unavailable) throw new Problem('check_unavailable', result.unavailable);
      return c.json({ ...result, available: !deps.health.outage(tenantId) });
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/admin/tenants',
      summary: 'List tenants',
      tag: 'admin',
      auth: 'admin',
      responses: { 200: { description: '{"data":[tenant],"next_cursor":null}' } },
    },
    admin,
    async (c) => c.json({ data: await catalog.tenants(), next_cursor: null }),
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/admin/tenants/:tenant_id/keys',
      summary: 'Issue another API key for a tenant',
      tag: 'admin',
      auth: 'admin',
      responses: { 201: { description: 'Created', schema: KeyCreated } },
      errors: ['not_found', 'invalid_admin_token'],
    },
    admin,
    async (c) => c.json(await catalog.createKey(await tenantOf(c.req.param('tenant_id'))), 201),
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/admin/tenants/:tenant_id/keys',
      summary: "List a tenant's keys (ids and dates; secrets are never stored)",
      tag: 'admin',
      auth: 'admin',
      responses: { 200: { description: '{"data":[key],"next_cursor":null}' } },
      errors: ['not_found'],
    },
    admin,
    async (c) =>
      c.json({ data: await catalog.listKeys(await tenantOf(c.req.param('tenant_id'))), next_cursor: null }),
  );

  routes.add(
    {
      method: 'delete',
      path: '/api/v1/admin/tenants/:tenant_id/keys/:key_id',
      summary: 'Revoke an API key (effective immediately)',
      tag: 'admin',
      auth: 'admin',
      responses: { 204: { description: 'Revoked' } },
      errors: ['not_found'],
    },
    admin,
    async (c) => {
      const tenantId = await tenantOf(c.req.param('tenant_id'));
      if (!(await catalog.revokeKey(tenantId, pathId(c.req.param('key_id'))))) {
        throw new Problem('not_found', 'No such active key.');
      }
      c.get('log').info({ tenant_id: tenantId, key_id: c.req.param('key_id') }, 'api key revoked');
      return c.body(null, 204);
    },
  );

  const settingsResponse = (tenantId: number, stored: Record<string, string>) => ({
    tenant_id: tenantId,
    price_threshold_pct: stored.price_threshold_pct
      ? Number(stored.price_threshold_pct)
      : deps.config.prices.thresholdPct,
  });
  routes.add(
    {
      method: 'get',
      path: '/api/v1/admin/tenants/:tenant_id/settings',
      summary: "A tenant's settings (the price anomaly threshold)",
      tag: 'admin',
      auth: 'admin',
      responses: { 200: { description: '{"tenant_id","price_threshold_pct"}' } },
      errors: ['not_found'],
    },
    admin,
    async (c) => {
      const tenantId = await tenantOf(c.req.param('tenant_id'));
      const stored = await deps.pool.run('tenantSettings', {
        requestId: c.get('requestId'),
        tenantId,
      });
      return c.json(settingsResponse(tenantId, stored));
    },
  );
  routes.add(
    {
      method: 'put',
      path: '/api/v1/admin/tenants/:tenant_id/settings',
      summary: "Set a tenant's price anomaly threshold (percent; the rolling-median rule uses twice it)",
      tag: 'admin',
      auth: 'admin',
      body: [{ contentType: 'application/json', schema: TenantSettingsBody }],
      responses: { 200: { description: '{"tenant_id","price_threshold_pct"}' } },
      errors: ['validation_failed', 'not_found'],
    },
    admin,
    async (c) => {
      const tenantId = await tenantOf(c.req.param('tenant_id'));
      const body = validate(TenantSettingsBody, await readJsonBody(c, 4096));
      const stored = await deps.pool.run('tenantSettings', {
        requestId: c.get('requestId'),
        tenantId,
        set: { price_threshold_pct: String(body.price_threshold_pct) },
      });
      c.get('log').info({ tenant_id: tenantId, ...body }, 'tenant settings changed');
      return c.json(settingsResponse(tenantId, stored));
    },
  );
  return routes;
}
