import { Hono } from 'hono';
import { accessLog } from './http/access-log.js';
import { requireApiKey, tenantGuard } from './http/auth.js';
import { bodyDeadlines } from './http/body-deadline.js';
import { headCancelsBody } from './http/head.js';
import { problemCodes } from './http/openapi.js';
import { Problem, problemResponse } from './http/problem.js';
import { methodNotAllowed } from './http/register.js';
import { requestId } from './http/request-id.js';
import { storageProblem } from './http/storage-problem.js';
import type { AppEnv } from './http/types.js';
import { accountRoutes } from './routes/account.js';
import { adminRoutes } from './routes/admin.js';
import { consoleRoutes } from './routes/console.js';
import type { AppDeps } from './routes/deps.js';
import { exportRoutes } from './routes/exports.js';
import { ingestRoutes } from './routes/ingest.js';
import { opsRoutes } from './routes/ops.js';
import { priceRoutes } from './routes/prices.js';
import { privacyRoutes } from './routes/privacy.js';
import { salesRoutes } from './routes/sales.js';
import { searchRoutes } from './routes/search.js';
import { stockRoutes } from './routes/stock.js';
import { uploadRoutes } from './routes/uploads.js';

/** Wires middleware and every route module. Routes stay thin; the work is in workers and domain code. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', headCancelsBody());
  app.use('*', requestId());
  const jsonDeadlines = bodyDeadlines(deps.config.body, 'json');
  app.use('*', (c, next) => {
    c.set('jsonDeadlines', jsonDeadlines);
    return next();
  });
  app.use('*', accessLog(deps.log, deps.metrics));
  app.use('/api/v1/tenants/:tenant_id/*', requireApiKey(deps.catalog, deps.health), tenantGuard());
  app.use('/api/v1/me', requireApiKey(deps.catalog, deps.health));
  const ingestAuth = requireApiKey(deps.catalog, deps.health);
  // tus clients discover capabilities with OPTIONS before they hold a key
  app.use('/api/v1/ingest/*', (c, next) => (c.req.method === 'OPTIONS' ? next() : ingestAuth(c, next)));

  opsRoutes(deps).mountOn(app);
  adminRoutes(deps).mountOn(app);
  accountRoutes(deps).mountOn(app);
  ingestRoutes(deps).mountOn(app);
  searchRoutes(deps).mountOn(app);
  stockRoutes(deps).mountOn(app);
  salesRoutes(deps).mountOn(app);
  priceRoutes(deps).mountOn(app);
  privacyRoutes(deps).mountOn(app);
  exportRoutes(deps).mountOn(app);
  uploadRoutes(deps).mountOn(app);
  consoleRoutes(deps).mountOn(app);
  methodNotAllowed(app, deps.openapi);

  app.notFound((c) =>
    problemResponse(c, new Problem('not_found', `No route for ${c.req.method} ${c.req.path}.`)),
  );
  app.onError((error, c) => {
    const log = c.get('log') ?? deps.log;
    const answer = (problem: Problem) => {
      // a code the operation's OpenAPI entry does not list is a documentation bug: said, counted, answered
      const operation = c.get('operation');
      if (operation && !problemCodes(operation).has(problem.code)) {
        log.warn(
          { code: problem.code, operation: `${operation.method} ${operation.path}` },
          'problem code not documented for its operation',
        );
        deps.metrics.undocumentedProblems.inc({ code: problem.code });
      }
      return problemResponse(c, problem);
    };
    if (error instanceof Problem) return answer(error);
    const storage = storageProblem(error);
    if (storage) {
      log.error({ err: error, req_id: c.get('requestId'), code: storage.code }, 'storage failure');
      deps.faults.observe(error, c.get('tenantId'));
      return answer(storage);
    }
    log.error({ err: error, req_id: c.get('requestId') }, 'unhandled error');
    return answer(
      new Problem(
        'internal_error',
        'Something went wrong on our side; the request id identifies it in the logs.',
      ),
    );
  });
  return app;
}
