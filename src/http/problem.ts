import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { NamedError } from '../domain/named-error.js';
import { PROBLEM_TYPES, type ProblemCode } from './problem-catalog.js';

export interface FieldError {
  field: string;
  code: string;
  message: string;
}

export interface ProblemInit {
  errors?: FieldError[];
  headers?: Record<string, string>;
  extra?: Record<string, unknown>;
}

/** An RFC 9457 problem with a stable snake_case `code` (its status and title from the catalog). Thrown anywhere in a route, answered by onError. */
export class Problem extends NamedError {
  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
    readonly init: ProblemInit = {},
  ) {
    super(detail);
  }

  /** Its status, from the catalog (src/http/problem-catalog.ts). */
  get status(): ContentfulStatusCode {
    return PROBLEM_TYPES[this.code].status;
  }

  /** The same problem with more headers or fields (e.g. the counts committed before it). */
  with(init: ProblemInit): Problem {
    return new Problem(this.code, this.detail, {
      ...this.init,
      ...init,
      headers: { ...this.init.headers, ...init.headers },
      extra: { ...this.init.extra, ...init.extra },
    });
  }

  body(requestId: string): Record<string, unknown> {
    return {
      type: `urn:orderflow:problem:${this.code}`,
      title: PROBLEM_TYPES[this.code].title,
      status: this.status,
      detail: this.detail,
      code: this.code,
      request_id: requestId,
      ...(this.init.errors ? { errors: this.init.errors } : {}),
      ...this.init.extra,
    };
  }
}

export function problemResponse(c: Context, problem: Problem): Response {
  const requestId = (c.get('requestId') as string | undefined) ?? '';
  const headers: Record<string, string> = {
    'content-type': 'application/problem+json',
    ...problem.init.headers,
  };
  return c.body(JSON.stringify(problem.body(requestId)), problem.status, headers);
}
