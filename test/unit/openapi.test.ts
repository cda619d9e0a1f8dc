import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, describe, expect, it } from 'vitest';
import { toOpenApiPath } from '../../src/http/openapi.js';
import { PROBLEM_TYPES } from '../../src/http/problem-catalog.js';
import { inProcessApp } from '../helpers/app.js';

const built = inProcessApp();
afterAll(() => built.close());

/** The real app, wired with the real route modules; the pool is never called while routes are registered. */
function build() {
  return {
    app: built.app,
    doc: built.deps.openapi.document() as {
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

  it('documents every code of the problem catalog on some operation, and only catalog codes', () => {
    const documented = new Set(
      Object.values(doc.paths).flatMap((ops) =>
        Object.values(ops).flatMap((op) => op['x-problem-codes'] as string[]),
      ),
    );
    for (const code of documented) expect(Object.keys(PROBLEM_TYPES)).toContain(code);
    expect(Object.keys(PROBLEM_TYPES).filter((code) => !documented.has(code))).toEqual([]);
  });
});
