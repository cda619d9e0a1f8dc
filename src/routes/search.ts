import { ORDER_KEYSET, queryFingerprint } from '../domain/cursor.js';
import { MAX_LIMIT, SEARCH_FIELDS, SearchQuery, toPlan, UnknownField } from '../domain/search.js';
import { cursorPosition } from '../http/cursor-param.js';
import { Problem } from '../http/problem.js';
import { RouteGroup } from '../http/register.js';
import { searchStream } from '../http/search-stream.js';
import { validateQuery } from '../http/validation.js';
import { STREAM_PROBLEMS } from '../http/worker-stream.js';
import type { AppDeps } from './deps.js';

export function searchRoutes(deps: AppDeps): RouteGroup {
  const routes = new RouteGroup(deps.openapi, '/api/v1/tenants/:tenant_id/orders');
  const { cursorSecret } = deps;
  routes.add(
    {
      method: 'get',
      path: '/api/v1/tenants/:tenant_id/orders/search',
      summary: 'Search orders: filtered, projected, keyset-paginated, streamed (NDJSON or JSON)',
      description: `Newest first (created_at desc, then a stable key). limit 1..${MAX_LIMIT}. fields: ${SEARCH_FIELDS.join(', ')}. NDJSON ends with {"_meta":{"next_cursor","count"}}; JSON is {"data":[...],"meta":{...}}. A stream that fails after its first byte ends with _meta.error / meta.error.`,
      tag: 'search',
      auth: 'api_key',
      query: SearchQuery,
      responses: {
        200: {
          description: 'rows as NDJSON (default) or a JSON document, streamed',
          contentType: 'application/x-ndjson',
        },
        429: { description: 'Overloaded', headers: { 'Retry-After': 'seconds' } },
      },
      errors: ['validation_failed', 'unknown_field', 'invalid_cursor', 'cursor_mismatch', ...STREAM_PROBLEMS],
    },
    async (c) => {
      const query = validateQuery(c, SearchQuery);
      let plan: ReturnType<typeof toPlan>;
      try {
        plan = toPlan(query);
      } catch (error) {
        if (error instanceof UnknownField) {
          throw new Problem(
            'unknown_field',
            `Unknown field "${error.message}". Fields: ${SEARCH_FIELDS.join(', ')}.`,
            {
              errors: [{ field: 'fields', code: 'unknown_field', message: error.message }],
            },
          );
        }
        throw error;
      }
      if (query.q !== undefined && plan.filters.match === undefined) {
        throw new Problem('validation_failed', 'q must contain at least one letter or digit.', {
          errors: [{ field: 'q', code: 'invalid_value', message: 'no searchable word' }],
        });
      }
      const tenantId = c.get('tenantId');
      const fingerprint = queryFingerprint({ filters: plan.filters, fields: plan.fields });
      const after = cursorPosition(cursorSecret, query.cursor, tenantId, fingerprint, ORDER_KEYSET);
      const format = query.format;
      const { body } = searchStream(c, deps, {
        filters: plan.filters,
        fields: plan.fields,
        after,
        limit: query.limit,
        format,
        fingerprint,
      });
      return c.body(body, 200, {
        'content-type':
          format === 'ndjson' ? 'application/x-ndjson; charset=utf-8' : 'application/json; charset=utf-8',
        'cache-control': 'no-store',
      });
    },
  );
  return routes;
}
