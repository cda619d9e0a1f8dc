import type { HttpBindings } from '@hono/node-server';
import type { Logger } from '../obs/logger.js';
import type { BodyDeadlines } from './body-deadline.js';
import type { Operation } from './openapi.js';

/** The Hono environment of this app: Node bindings plus what middleware puts on the context. */
export interface AppEnv {
  Bindings: HttpBindings;
  Variables: {
    requestId: string;
    log: Logger;
    /** The authenticated key's tenant. */
    tenantId: number;
    /** The authenticated API key (for per-key limits). */
    keyId: number;
    idempotencyKey: string | undefined;
    /** how long a JSON body may take to arrive (--request-timeout-s, --body-idle-timeout-s) */
    jsonDeadlines: BodyDeadlines;
    /** the documented operation the request was routed to (absent before routing and for unknown paths) */
    operation: Operation | undefined;
  };
}
