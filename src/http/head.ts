import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './types.js';

/**
 * Hono answers HEAD by running the GET route and dropping its body. A dropped stream is never read nor
 * cancelled, so a streaming route (search, exports) would keep its worker waiting for credit forever and
 * a file download would keep its file open. This cancels the body of every HEAD response.
 */
export function headCancelsBody(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    if (c.req.method === 'HEAD') await c.res.body?.cancel().catch(() => {});
  };
}
