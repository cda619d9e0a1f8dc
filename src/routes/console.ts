import type { Context } from 'hono';
import { accepted } from '../http/accept.js';
import { CONSOLE_SECURITY_HEADERS, ConsoleAssets, type ConsoleFile } from '../http/console-assets.js';
import { Problem } from '../http/problem.js';
import { RouteGroup } from '../http/register.js';
import type { AppEnv } from '../http/types.js';
import { CONSOLE_BUILD_DIR } from '../paths.js';
import type { AppDeps } from './deps.js';

/** Sends a console file: gzip when the client takes it, 304 for a matching If-None-Match. */
function send(c: Context<AppEnv>, file: ConsoleFile, cacheControl: string): Response {
  const headers: Record<string, string> = {
    ...CONSOLE_SECURITY_HEADERS,
    'Content-Type': file.type,
    'Cache-Control': cacheControl,
    ETag: file.etag,
    Vary: 'Accept-Encoding',
  };
  if (c.req.header('if-none-match') === file.etag) return c.body(null, 304, headers);
  const gzip = file.gzip && accepted(c.req.header('accept-encoding')).includes('gzip');
  if (gzip) headers['Content-Encoding'] = 'gzip';
  return c.body(gzip && file.gzip ? file.gzip : file.body, 200, headers);
}

/** The web console: a page and its hashed assets, served by this process (no CDN, no second server). */
export function consoleRoutes(deps: AppDeps, dir = CONSOLE_BUILD_DIR): RouteGroup {
  const routes = new RouteGroup(deps.openapi, '/console');
  const assets = new ConsoleAssets(dir);
  routes.add(
    {
      method: 'get',
      path: '/console',
      summary: 'The web console: sign in with an API key; it uses only this public API',
      tag: 'console',
      auth: 'none',
      responses: { 200: { description: 'The single-page console', contentType: 'text/html' } },
      errors: ['console_not_built'],
    },
    (c) => {
      const index = assets.index();
      if (!index)
        throw new Problem('console_not_built', 'The console assets are missing: run `npm run build`.');
      // the page names its assets by hash: it is revalidated every time, they never change
      return send(c, index, 'no-cache');
    },
  );
  routes.add(
    {
      method: 'get',
      path: '/console/assets/:file',
      summary: "The console's scripts and styles, named by content hash (cached for a year)",
      tag: 'console',
      auth: 'none',
      responses: { 200: { description: 'A JS or CSS bundle' } },
      errors: ['not_found'],
    },
    (c) => {
      const file = assets.asset(c.req.param('file'));
      if (!file) throw new Problem('not_found', 'No such console asset.');
      return send(c, file, 'public, max-age=31536000, immutable');
    },
  );
  return routes;
}
