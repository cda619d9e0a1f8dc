import { toJsonSchema } from '@valibot/to-json-schema';
import type * as v from 'valibot';
import { COMMON_PROBLEMS, type ProblemCode } from './problem-catalog.js';
import { JSON_BODY_PROBLEMS } from './validation.js';

export type Auth = 'none' | 'api_key' | 'admin';

/** Every problem code an operation can answer: its own and the common ones of its auth. */
export function problemCodes(op: Pick<Operation, 'auth' | 'errors' | 'body'>): Set<ProblemCode> {
  const json = op.body?.some((b) => b.contentType === 'application/json') ? JSON_BODY_PROBLEMS : [];
  return new Set([...(op.errors ?? []), ...json, ...COMMON_PROBLEMS[op.auth]]);
}

export interface ResponseDoc {
  description: string;
  contentType?: string;
  schema?: v.GenericSchema | Record<string, unknown>;
  headers?: Record<string, string>;
}

export interface Operation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete' | 'head' | 'options';
  /** Hono path, e.g. /api/v1/tenants/:tenant_id/orders/search */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  auth: Auth;
  query?: v.ObjectSchema<v.ObjectEntries, undefined>;
  headers?: Record<string, string>;
  body?: { contentType: string; schema?: v.GenericSchema; description?: string }[];
  responses: Record<number, ResponseDoc>;
  /** Problem codes this operation can answer besides the common ones of its auth (COMMON_PROBLEMS). */
  errors?: ProblemCode[];
}

const PROBLEM_SCHEMA = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail', 'code', 'request_id'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', description: 'stable snake_case error code' },
    request_id: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        properties: { field: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
};

function jsonSchema(schema: v.GenericSchema | Record<string, unknown>): Record<string, unknown> {
  if ('kind' in schema && (schema as { kind: unknown }).kind === 'schema') {
    const out = toJsonSchema(
      schema as v.GenericSchema,
      { errorMode: 'ignore', target: 'openapi-3.0' } as never,
    ) as Record<string, unknown>;
    delete out.$schema;
    return out;
  }
  return schema as Record<string, unknown>;
}

export function toOpenApiPath(path: string): string {
  return path.replace(/:([A-Za-z_]+)/g, '{$1}');
}

/** Every documented operation; routes register here, and /openapi.json is built from it. */
export class ApiSpec {
  readonly operations: Operation[] = [];

  add(op: Operation): Operation {
    this.operations.push(op);
    return op;
  }

  document(): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const op of this.operations) {
      const path = toOpenApiPath(op.path);
      const pathParams = [...op.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({
        name: m[1],
        in: 'path',
        required: true,
        schema:
          m[1]!.endsWith('_id') && !['export_id', 'upload_id', 'event_id', 'customer_id'].includes(m[1]!)
            ? { type: 'integer', minimum: 1 }
            : { type: 'string' },
      }));
      const query = op.query
        ? Object.entries(op.query.entries).map(([name, schema]) => {
            const js = jsonSchema(schema as v.GenericSchema);
            return {
              name,
              in: 'query',
              required: (schema as { type: string }).type !== 'optional',
              schema: js,
              ...(typeof js.description === 'string' ? { description: js.description } : {}),
            };
          })
        : [];
      const headers = Object.entries(op.headers ?? {}).map(([name, description]) => ({
        name,
        in: 'header',
        required: false,
        description,
        schema: { type: 'string' },
      }));
      const responses: Record<string, unknown> = {};
      for (const [status, r] of Object.entries(op.responses)) {
        responses[status] = {
          description: r.description,
          ...(r.headers
            ? {
                headers: Object.fromEntries(
                  Object.entries(r.headers).map(([h, d]) => [
                    h,
                    { description: d, schema: { type: 'string' } },
                  ]),
                ),
              }
            : {}),
          ...(r.schema || r.contentType
            ? {
                content: {
                  [r.contentType ?? 'application/json']: r.schema ? { schema: jsonSchema(r.schema) } : {},
                },
              }
            : {}),
        };
      }
      responses.default = {
        description: `Error (problem+json). Codes: ${[...problemCodes(op)].join(', ')}`,
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      };
      const operation: Record<string, unknown> = {
        operationId: `${op.method}_${path.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '')}`,
        summary: op.summary,
        ...(op.description ? { description: op.description } : {}),
        tags: [op.tag],
        parameters: [...pathParams, ...query, ...headers],
        responses,
        security: op.auth === 'none' ? [] : op.auth === 'admin' ? [{ adminToken: [] }] : [{ apiKey: [] }],
        'x-problem-codes': [...problemCodes(op)],
      };
      if (op.body) {
        operation.requestBody = {
          required: true,
          content: Object.fromEntries(
            op.body.map((b) => [
              b.contentType,
              {
                ...(b.schema
                  ? { schema: jsonSchema(b.schema) }
                  : { schema: { type: 'string', format: 'binary' } }),
              },
            ]),
          ),
        };
      }
      const entry = paths[path] ?? {};
      entry[op.method] = operation;
      paths[path] = entry;
    }
    return {
      openapi: '3.1.0',
      info: {
        title: 'Orderflow API',
        version: '1',
        description:
          'Multi-tenant e-commerce analytics: bulk ingest, streamed search, sales metrics, price events, exports, stock.',
      },
      servers: [{ url: '/' }],
      paths,
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'A tenant API key (of_...)' },
          adminToken: { type: 'http', scheme: 'bearer', description: 'The server admin token' },
        },
        schemas: { Problem: PROBLEM_SCHEMA },
      },
    };
  }
}
