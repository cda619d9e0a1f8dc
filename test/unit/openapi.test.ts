import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { Admission } from '../../src/http/admission.js';
import type { StorageHealth } from '../../src/http/health.js';
import { ApiSpec, toOpenApiPath } from '../../src/http/openapi.js';
import type { StorageFaults } from '../../src/http/storage-faults.js';
import type { StreamGate } from '../../src/http/stream-gate.js';
import type { ShardWriteQueue } from '../../src/ingest/write-queue.js';
import type { ExportJobs } from '../../src/jobs/export-jobs.js';
import type { UploadJobs } from '../../src/jobs/upload-jobs.js';
import { createLogger } from '../../src/obs/logger.js';
import { Metrics } from '../../src/obs/metrics.js';
import type { WorkerPool } from '../../src/pool/pool.js';
import type { AppDeps } from '../../src/routes/deps.js';
import { Catalog } from '../../src/storage/catalog.js';
import { removeDir, tempDataDir } from '../helpers/server.js';

const dir = tempDataDir();
const catalog = new Catalog(dir);
afterAll(() => {
  catalog.close();
  removeDir(dir);
});

/** The real app, wired with the real route modules; the pool is never called while routes are registered. */
function build() {
  const pool = {
    queueSize: 0,
    activeTasks: 0,
    capacity: 1,
    writeLock: new SharedArrayBuffer(16),
  } as unknown as WorkerPool;
  const config = loadConfig(['--data', dir], {});
  const metrics = new Metrics();
  const deps: AppDeps = {
    config,
    catalog,
    pool,
    metrics,
    log: createLogger('silent'),
    admission: new Admission(pool, config.pool, metrics),
    cursorSecret: 'x',
    openapi: new ApiSpec(),
    exports: {} as ExportJobs,
    uploads: {} as UploadJobs,
    writes: {} as ShardWriteQueue,
    health: {} as StorageHealth,
    streams: {} as StreamGate,
    faults: {} as StorageFaults,
    state: { ready: true, draining: false, bootId: 'b' },
    shutdown: new AbortController().signal,
  };
  return {
    app: createApp(deps),
    doc: deps.openapi.document() as {
      openapi: string;
      info: Record<string, string>;
      paths: Record<string, Record<string, Record<string, unknown>>>;
    },
  };
}

describe('OpenAPI document', () => {
  const { app, doc } = build();
  const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'];

  it('describes every route the app serves (and nothing it does not)', () => {
    const served = new Set(
      app.routes
        .filter(
          (r) => METHODS.includes(r.method.toLowerCase()) && r.path.startsWith('/') && !r.path.includes('*'),
        )
        .map((r) => `${r.method.toLowerCase()} ${toOpenApiPath(r.path)}`),
    );
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)),
    );
    // Hono answers HEAD through the GET route of the path: a documented HEAD needs that GET
    const heads = [...documented].filter((op) => op.startsWith('head '));
    for (const head of heads) expect(served).toContain(head.replace(/^head /, 'get '));
    expect([...served].sort()).toEqual([...documented].filter((op) => !heads.includes(op)).sort());
    expect(served.size).toBeGreaterThan(20);
  });

  it('is structurally valid OpenAPI 3.1: info, unique operationIds, declared path parameters, responses, security', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBeTruthy();
    expect(doc.info.version).toBeTruthy();
    const ids = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      expect(path.startsWith('/')).toBe(true);
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(ops)) {
        expect(METHODS).toContain(method);
        const id = op.operationId as string;
        expect(ids.has(id), id).toBe(false);
        ids.add(id);
        const params =
          (op.parameters as { name: string; in: string; required?: boolean; schema?: unknown }[]) ?? [];
        for (const p of params) {
          expect(['path', 'query', 'header']).toContain(p.in);
          expect(p.schema).toBeDefined();
        }
        const pathParams = params.filter((p) => p.in === 'path');
        expect(pathParams.map((p) => p.name).sort()).toEqual([...templated].sort());
        expect(pathParams.every((p) => p.required === true)).toBe(true);
        const responses = op.responses as Record<string, { description?: string }>;
        // every operation documents its errors too, except OPTIONS discovery, which has none
        expect(Object.keys(responses).length).toBeGreaterThan(method === 'options' ? 0 : 1);
        for (const r of Object.values(responses)) expect(typeof r.description).toBe('string');
        expect(Array.isArray(op.security)).toBe(true);
      }
    }
  });

  it('passes the OpenAPI 3.1 JSON-schema validator (@seriousme/openapi-schema-validator)', async () => {
    const validator = new Validator();
    const result = await validator.validate(JSON.parse(JSON.stringify(doc)));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    // and it does reject: a response without its required description
    const broken = JSON.parse(JSON.stringify(doc));
    const firstOp = Object.values(
      Object.values(broken.paths)[0] as Record<string, { responses: Record<string, unknown> }>,
    )[0]!;
    firstOp.responses['200'] = { content: {} };
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });
});
