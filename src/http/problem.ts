import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { NamedError } from '../domain/named-error.js';

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

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
};

/** An RFC 9457 problem with a stable snake_case `code`. Thrown anywhere in a route, answered by onError. */
export class Problem extends NamedError {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    readonly detail: string,
    readonly init: ProblemInit = {},
  ) {
    super(detail);
  }

  body(requestId: string): Record<string, unknown> {
    return {
      type: `urn:orderflow:problem:${this.code}`,
      title: TITLES[this.status] ?? 'Error',
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
