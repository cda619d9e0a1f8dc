import * as v from 'valibot';
import { Problem } from '../http/problem.js';
import { RouteGroup } from '../http/register.js';
import type { AppDeps } from './deps.js';

const Me = v.object({ tenant_id: v.number(), tenant_name: v.string(), key_id: v.number() });

/**
 * Who a key is: its tenant and key id, as Stripe's `GET /v1/account` or GitHub's `GET /user` tell a
 * token's owner. A client that holds only a key (the console, a script) learns its tenant's path here.
 */
export function accountRoutes(deps: AppDeps): RouteGroup {
  const routes = new RouteGroup(deps.openapi, '/api/v1/me');
  routes.add(
    {
      method: 'get',
      path: '/api/v1/me',
      summary: "The key's tenant (id and name) and key id",
      tag: 'account',
      auth: 'api_key',
      responses: { 200: { description: 'The key and its tenant', schema: Me } },
      errors: ['not_found'],
    },
    async (c) => {
      const tenantId = c.get('tenantId');
      const tenant = await deps.catalog.tenant(tenantId);
      // a key outliving its tenant cannot authenticate; this is the deletion racing the request
      if (!tenant) throw new Problem('not_found', 'The tenant of this key no longer exists.');
      return c.json({ tenant_id: tenantId, tenant_name: tenant.name, key_id: c.get('keyId') });
    },
  );
  return routes;
}
