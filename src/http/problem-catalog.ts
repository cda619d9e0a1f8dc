import type { ContentfulStatusCode } from 'hono/utils/http-status';

interface ProblemType {
  status: ContentfulStatusCode;
  /** RFC 9457's title: the same for every occurrence of the type; the detail says what happened this time */
  title: string;
}

/**
 * Every problem code the API answers, with its status and title: one list, so a code cannot be misspelt
 * (Problem takes a ProblemCode) nor answer two statuses, and the OpenAPI document lists per operation
 * which of them it can answer (test/unit/openapi.test.ts and the servers of the integration tests check
 * that an answered code is documented for its operation).
 */
export const PROBLEM_TYPES = {
  // the request itself
  validation_failed: { status: 400, title: 'The request is not valid' },
  malformed_json: { status: 400, title: 'The body is not JSON' },
  unknown_field: { status: 400, title: 'A field name is not known' },
  invalid_cursor: { status: 400, title: 'The cursor is not valid' },
  cursor_mismatch: { status: 400, title: 'The cursor belongs to another query' },
  invalid_range: { status: 400, title: 'The date range is not valid' },
  range_too_large: { status: 400, title: 'The date range is too large' },
  format_conflict: { status: 400, title: 'Accept and the body ask for different formats' },
  missing_event_id: { status: 400, title: 'The price event has no id' },
  invalid_idempotency_key: { status: 400, title: 'The Idempotency-Key is not valid' },
  // bodies: size, encoding, framing
  body_incomplete: { status: 400, title: 'The body ended early' },
  line_too_long: { status: 400, title: 'A line is too long' },
  corrupt_gzip: { status: 400, title: 'The gzip body is damaged' },
  corrupt_zip: { status: 400, title: 'The zip body is damaged' },
  truncated_zip: { status: 400, title: 'The zip body is cut short' },
  empty_zip: { status: 400, title: 'The zip archive holds no file' },
  malformed_multipart: { status: 400, title: 'The multipart body is not valid' },
  no_file_part: { status: 400, title: 'The multipart body has no file' },
  body_timeout: { status: 408, title: 'The body did not arrive in time' },
  body_too_large: { status: 413, title: 'The body is too large' },
  decompressed_too_large: { status: 413, title: 'The body is too large once decompressed' },
  decompression_ratio_exceeded: { status: 413, title: 'The body decompresses too far (a bomb)' },
  too_many_parts: { status: 413, title: 'The multipart body has too many parts' },
  too_many_zip_members: { status: 413, title: 'The zip archive has too many entries' },
  too_many_rows: { status: 413, title: 'The body holds too many rows' },
  unsupported_media_type: { status: 415, title: 'The Content-Type is not accepted here' },
  unsupported_content_encoding: { status: 415, title: 'The Content-Encoding is not accepted' },
  unsupported_zip_method: { status: 415, title: 'The zip entry is compressed in a way we do not read' },
  // who is asking
  missing_api_key: { status: 401, title: 'An API key is needed' },
  invalid_api_key: { status: 401, title: 'The API key is not valid' },
  invalid_admin_token: { status: 401, title: 'The admin token is not valid' },
  // what is asked for
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'The method is not allowed here' },
  tenant_exists: { status: 409, title: 'The tenant already exists' },
  idempotency_in_flight: { status: 409, title: 'A request with this Idempotency-Key is in progress' },
  idempotency_key_reused: { status: 422, title: 'The Idempotency-Key was used with another request' },
  event_id_reused: { status: 422, title: 'The event id was used with another body' },
  // exports
  export_not_ready: { status: 409, title: 'The export is not finished' },
  export_failed: { status: 409, title: 'The export failed' },
  export_expired: { status: 410, title: 'The export has expired' },
  range_not_satisfiable: { status: 416, title: 'The byte range is outside the file' },
  export_quota_exceeded: { status: 413, title: "The tenant's export storage is full" },
  too_many_exports: { status: 429, title: 'Too many export jobs' },
  // uploads (tus)
  tus_version_unsupported: { status: 412, title: 'The tus version is not supported' },
  invalid_upload_length: { status: 400, title: 'Upload-Length is not valid' },
  invalid_upload_metadata: { status: 400, title: 'Upload-Metadata is not valid' },
  invalid_upload_offset: { status: 400, title: 'Upload-Offset is not valid' },
  offset_mismatch: { status: 409, title: 'Upload-Offset is not where the upload stands' },
  upload_locked: { status: 409, title: 'Another request is writing to the upload' },
  upload_gone: { status: 410, title: 'The upload was terminated or expired' },
  upload_ended: { status: 409, title: 'The upload is complete or failed; it takes no more bytes' },
  upload_too_large: { status: 413, title: 'The upload is too large' },
  exceeds_upload_length: { status: 413, title: 'The bytes go past Upload-Length' },
  upload_quota_exceeded: { status: 413, title: "The tenant's upload storage is full" },
  too_many_uploads: { status: 429, title: 'Too many open uploads' },
  // load and limits
  overloaded: { status: 429, title: 'The server is busy' },
  rate_limited: { status: 429, title: 'Too many requests' },
  too_many_streams: { status: 429, title: 'Too many open streams' },
  // the server
  internal_error: { status: 500, title: 'Internal error' },
  ingest_failed: { status: 500, title: 'The ingest failed' },
  unzip_failed: { status: 500, title: 'The zip body could not be read' },
  tenant_unavailable: { status: 503, title: "The tenant's storage is unavailable" },
  storage_busy: { status: 503, title: 'The storage is busy' },
  shutting_down: { status: 503, title: 'The server is shutting down' },
  console_not_built: { status: 503, title: 'The console is not built' },
  check_unavailable: { status: 501, title: 'The check cannot run on this database' },
  insufficient_storage: { status: 507, title: 'The disk is full' },
} as const satisfies Record<string, ProblemType>;

export type ProblemCode = keyof typeof PROBLEM_TYPES;

export function isProblemCode(code: string): code is ProblemCode {
  return Object.hasOwn(PROBLEM_TYPES, code);
}

/**
 * Codes any operation may answer besides its own, by how it is authorised: a failure on our side, a damaged
 * or full store, a shutdown, a request arriving at a path whose method is not served.
 */
export const COMMON_PROBLEMS: Record<'none' | 'api_key' | 'admin', readonly ProblemCode[]> = {
  none: ['internal_error', 'method_not_allowed', 'shutting_down'],
  api_key: [
    'internal_error',
    'method_not_allowed',
    'shutting_down',
    'missing_api_key',
    'invalid_api_key',
    'not_found',
    'tenant_unavailable',
    'storage_busy',
    'insufficient_storage',
  ],
  admin: [
    'internal_error',
    'method_not_allowed',
    'shutting_down',
    'invalid_admin_token',
    'not_found',
    'tenant_unavailable',
    'storage_busy',
    'insufficient_storage',
  ],
};
