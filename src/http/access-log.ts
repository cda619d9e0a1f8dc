import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { AppEnv } from './types.js';

/**
 * One log line and one duration sample per request, taken when the response has really finished (or the
 * client went away): for a stream that is the last byte, not the headers.
 */
export function accessLog(log: Logger, metrics: Metrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const start = performance.now();
    c.set('log', log.child({ req_id: c.get('requestId') }));
    c.set('idempotencyKey', c.req.header('idempotency-key'));
    await next();
    const matched = routePath(c, -1);
    const route = matched === '*' || matched === '/*' ? 'unmatched' : matched;
    const write = (aborted: boolean) => {
      const durationS = (performance.now() - start) / 1000;
      const status = c.res.status;
      metrics.httpRequests.inc({ method: c.req.method, route, status: String(status) });
      metrics.httpDuration.observe({ method: c.req.method, route }, durationS);
      const tenantId = c.get('tenantId');
      const idem = c.get('idempotencyKey');
      log.info(
        {
          req_id: c.get('requestId'),
          method: c.req.method,
          route,
          path: c.req.path,
          status,
          duration_ms: Math.round(durationS * 100000) / 100,
          ...(tenantId !== undefined ? { tenant_id: tenantId } : {}),
          ...(idem ? { idempotency_key: idem } : {}),
          ...(aborted ? { aborted: true } : {}),
        },
        'request',
      );
    };
    const outgoing = c.env?.outgoing;
    if (outgoing) outgoing.once('close', () => write(!outgoing.writableFinished));
    else write(false);
  };
}
