import { Hono } from 'hono';
import type { H } from 'hono/types';
import type { ApiSpec, Operation } from './openapi.js';
import { Problem } from './problem.js';
import type { AppEnv } from './types.js';

/**
 * One area of the API (prices, uploads, …) as a Hono sub-app, mounted by the app with `app.route(base, …)`.
 * A route and its OpenAPI operation are added together, so no route can exist undocumented. Operations
 * name their whole path (as the contract and OpenAPI document do), and handlers see its parameters typed:
 * `c.req.param('product_id')` is a string for a path that has `:product_id`.
 */
export class RouteGroup {
  readonly app = new Hono<AppEnv>();

  constructor(
    private readonly spec: ApiSpec,
    /** where the app mounts this group; every operation's path starts with it */
    readonly base: string,
  ) {}

  add<P extends string>(op: Operation & { path: P }, ...handlers: H<AppEnv, P>[]): void {
    this.spec.add(op);
    const routed: H<AppEnv> = (c, next) => {
      c.set('operation', op);
      return next();
    };
    this.app.on(op.method.toUpperCase(), this.relative(op.path), routed, ...(handlers as H<AppEnv>[]));
  }

  /**
   * Documents an operation that another route serves: Hono answers HEAD through the GET route of the same
   * path (without its body), so a HEAD handler of our own would never run.
   */
  documented(op: Operation & { method: 'head' }): void {
    this.relative(op.path);
    this.spec.add(op);
  }

  /** Mounts the group on `app`. */
  mountOn(app: Hono<AppEnv>): void {
    app.route(this.base, this.app);
  }

  private relative(path: string): string {
    if (this.base === '/') return path;
    if (path !== this.base && !path.startsWith(`${this.base}/`))
      throw new Error(`route ${path} is outside its group ${this.base}`);
    return path.slice(this.base.length) || '/';
  }
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
      throw new Problem('method_not_allowed', `Allowed methods: ${allow}.`, {
        headers: { Allow: allow },
      });
    });
  }
}
