import type { Handler, Hono, MiddlewareHandler } from 'hono';
import type { ApiSpec, Operation } from './openapi.js';
import { Problem } from './problem.js';
import type { AppEnv } from './types.js';

/**
 * Registers a route and its OpenAPI operation together, so no route can exist undocumented.
 */
export function register(
  app: Hono<AppEnv>,
  spec: ApiSpec,
  op: Operation,
  ...handlers: (MiddlewareHandler<AppEnv> | Handler<AppEnv>)[]
): void {
  spec.add(op);
  app.on(op.method.toUpperCase(), op.path, ...(handlers as [MiddlewareHandler<AppEnv>]));
}

/**
 * Documents an operation that another route serves: Hono answers HEAD through the GET route of the same
 * path (without its body), so a HEAD handler of our own would never run.
 */
export function documented(spec: ApiSpec, op: Operation & { method: 'head' }): void {
  spec.add(op);
}

/** After all routes: a known path with an unsupported method answers 405 with Allow. */
export function methodNotAllowed(app: Hono<AppEnv>, spec: ApiSpec): void {
  const byPath = new Map<string, Set<string>>();
  for (const op of spec.operations) {
    const methods = byPath.get(op.path) ?? new Set<string>();
    methods.add(op.method.toUpperCase());
    if (op.method === 'get') methods.add('HEAD');
    byPath.set(op.path, methods);
  }
  for (const [path, methods] of byPath) {
    const allow = [...methods].join(', ');
    app.all(path, () => {
      throw new Problem(405, 'method_not_allowed', `Allowed methods: ${allow}.`, {
        headers: { Allow: allow },
      });
    });
  }
}
