import { gunzipSync } from 'node:zlib';
import type { Context } from 'hono';
import * as v from 'valibot';
import { withDeadlines } from './body-deadline.js';
import { type FieldError, Problem } from './problem.js';
import type { ProblemCode } from './problem-catalog.js';

/** Turns valibot issues into the field list of a validation problem. */
export function fieldErrors(issues: readonly v.BaseIssue<unknown>[]): FieldError[] {
  return issues.map((issue) => ({
    field: v.getDotPath(issue) ?? '(root)',
    code:
      issue.type === 'object' && issue.input === undefined
        ? 'required'
        : `invalid_${issue.kind === 'schema' ? 'type' : 'value'}`,
    message: issue.message,
  }));
}

export function validate<S extends v.GenericSchema>(
  schema: S,
  input: unknown,
  what = 'request',
): v.InferOutput<S> {
  const result = v.safeParse(schema, input);
  if (!result.success) {
    throw new Problem('validation_failed', `The ${what} has invalid fields.`, {
      errors: fieldErrors(result.issues),
    });
  }
  return result.output;
}

/** Validates the query string (every value a string; repeated keys are rejected, not silently merged). */
export function validateQuery<S extends v.GenericSchema>(c: Context, schema: S): v.InferOutput<S> {
  const all = c.req.queries();
  const flat: Record<string, string> = {};
  for (const [key, values] of Object.entries(all)) {
    if (values.length > 1) {
      throw new Problem('validation_failed', `Query parameter "${key}" is given more than once.`, {
        errors: [{ field: key, code: 'duplicate_parameter', message: 'give each parameter once' }],
      });
    }
    flat[key] = values[0]!;
  }
  return validate(schema, flat, 'query string');
}

/**
 * Reads a JSON body with a size limit (after decompression): wrong type 415, too large 413, unparsable 400.
 * `Content-Encoding: gzip` is decoded; any other encoding is 415. A parse error names where the body broke,
 * never what it holds (a problem must not echo a client's raw bytes back).
 */
/** What reading and validating a JSON body can answer (its deadlines included): documented for every JSON operation. */
export const JSON_BODY_PROBLEMS = [
  'validation_failed',
  'malformed_json',
  'body_too_large',
  'corrupt_gzip',
  'unsupported_media_type',
  'unsupported_content_encoding',
  'body_timeout',
] as const satisfies readonly ProblemCode[];

export async function readJsonBody(c: Context, maxBytes: number): Promise<unknown> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
    throw new Problem('unsupported_media_type', 'Send the body as application/json.');
  }
  const encoding = (c.req.header('content-encoding') ?? 'identity').trim().toLowerCase();
  if (!['identity', 'gzip', 'x-gzip'].includes(encoding))
    throw new Problem('unsupported_content_encoding', 'Content-Encoding may be gzip or absent.');
  const gzip = encoding !== 'identity';
  const declared = Number(c.req.header('content-length') ?? Number.NaN);
  if (!gzip && declared > maxBytes) throw tooLarge(maxBytes);
  const body = c.req.raw.body;
  if (!body) throw new Problem('malformed_json', 'The request has no body.');
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const value of withDeadlines(body, c.get('jsonDeadlines'))) {
    size += value.byteLength;
    if (size > maxBytes) throw tooLarge(maxBytes);
    parts.push(value);
  }
  let bytes: Buffer = Buffer.concat(parts);
  if (gzip) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: maxBytes });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(maxBytes);
      throw new Problem('corrupt_gzip', 'The gzip-encoded body is corrupt.');
    }
  }
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new Problem('malformed_json', `The body is not valid JSON${jsonErrorPlace(error as Error)}.`);
  }
}

/** Where JSON.parse gave up ("at position 12", "at the end"), without the input V8 quotes in its message. */
function jsonErrorPlace(error: Error): string {
  const position = /position (\d+)/.exec(error.message);
  if (position) return ` (at character ${position[1]})`;
  return /end of JSON input|Unterminated/.test(error.message) ? ' (it ends too early)' : '';
}

function tooLarge(maxBytes: number): Problem {
  return new Problem('body_too_large', `The body is larger than ${maxBytes} bytes.`);
}

/** A positive integer id from a path segment; anything else is 404 (it names nothing). */
export function pathId(raw: string | undefined): number {
  if (!raw || !/^[1-9]\d{0,15}$/.test(raw)) throw new Problem('not_found', 'No such resource.');
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Problem('not_found', 'No such resource.');
  return n;
}
