import type { Context } from 'hono';
import * as v from 'valibot';
import { Problem } from '../http/problem.js';
import type { ProblemCode } from '../http/problem-catalog.js';
import { RouteGroup } from '../http/register.js';
import type { AppEnv } from '../http/types.js';
import { validateQuery } from '../http/validation.js';
import type { AppDeps } from './deps.js';

const ErasureDoc = v.object({
  erased: v.boolean(),
  customer_pks: v.array(v.number()),
  orders_kept: v.number(),
  purged_idempotency_responses: v.number(),
  purged_upload_errors: v.number(),
  exports_containing: v.array(v.string()),
});
const ByEmail = v.object({ email: v.pipe(v.string(), v.trim(), v.minLength(3), v.maxLength(254)) });

export function privacyRoutes(deps: AppDeps): RouteGroup {
  const routes = new RouteGroup(deps.openapi, '/api/v1/tenants/:tenant_id/customers');
  const erase = async (c: Context<AppEnv>, by: 'customer_id' | 'email', value: string) => {
    const result = await deps.pool.run('eraseCustomer', {
      requestId: c.get('requestId'),
      tenantId: c.get('tenantId'),
      by,
      value,
    });
    if (!result) throw new Problem('not_found', 'No such customer (or already erased).');
    // the log names internal ids only: the erased values must not end up in logs either
    c.get('log').info(
      { customer_pks: result.customer_pks, orders_kept: result.orders_kept },
      'customer erased',
    );
    return c.json({ ...result, erased: true });
  };
  const doc = {
    tag: 'privacy',
    auth: 'api_key' as const,
    responses: { 200: { description: 'What was erased and what was kept', schema: ErasureDoc } },
    errors: ['not_found', 'validation_failed'] satisfies ProblemCode[],
  };
  routes.add(
    {
      method: 'delete',
      path: '/api/v1/tenants/:tenant_id/customers/:customer_id',
      summary:
        "GDPR erasure: remove a customer's PII everywhere, keep the anonymised facts behind aggregates",
      ...doc,
    },
    (c) => erase(c, 'customer_id', c.req.param('customer_id')),
  );
  routes.add(
    {
      method: 'delete',
      path: '/api/v1/tenants/:tenant_id/customers',
      summary: 'GDPR erasure by email (every customer with that email)',
      query: ByEmail,
      ...doc,
    },
    (c) => erase(c, 'email', validateQuery(c, ByEmail).email),
  );
  return routes;
}
