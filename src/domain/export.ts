import * as v from 'valibot';
import { NamedError } from './named-error.js';
import {
  ftsMatch,
  SEARCH_FIELDS,
  type SearchField,
  type SearchFilters,
  SearchQuery,
  searchTrailer,
  toPlan,
} from './search.js';

export const EXPORT_FORMATS = ['csv', 'parquet'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * CSV files are plain or gzip (a multi-member gzip file: one member per checkpointed batch). Parquet files
 * are always compressed inside, per column chunk: zstd by default, or snappy, gzip or none.
 */
export const EXPORT_COMPRESSIONS = ['none', 'gzip', 'zstd', 'snappy'] as const;
export type ExportCompression = (typeof EXPORT_COMPRESSIONS)[number];

export type ExportState = 'queued' | 'running' | 'complete' | 'failed' | 'expired';

/**
 * An attempt of an export job, step by step (each a worker's answer to the job runner): the plan names
 * the parts still to encode, each part runs in its own worker, and the finish joins them.
 */
export type PlanExportResult =
  | { state: 'planned'; parts: number[]; resumedFromRows: number }
  | { state: 'skipped' };
export type ExportPartResult =
  | { state: 'done'; rows: number }
  | { state: 'failed'; error: string }
  | { state: 'interrupted'; rows: number }
  | { state: 'skipped' };
export type FinishExportResult =
  | { state: 'complete'; rows: number; size: number }
  | { state: 'failed'; error: string }
  | { state: 'skipped' };

const FILTER_KEYS = [
  'from',
  'to',
  'status',
  'product_id',
  'min_total_cents',
  'max_total_cents',
  'q',
  'customer_email',
] as const;

/** The search filters, as the search endpoint takes them (strings) but also as JSON arrays and numbers. */
const FilterValue = v.union([
  v.pipe(v.string(), v.maxLength(20_000)),
  v.number(),
  v.pipe(v.array(v.union([v.string(), v.number()])), v.maxLength(1000)),
]);
export const ExportFiltersInput = v.strictObject(
  Object.fromEntries(FILTER_KEYS.map((k) => [k, v.optional(FilterValue)])) as Record<
    (typeof FILTER_KEYS)[number],
    v.OptionalSchema<typeof FilterValue, undefined>
  >,
);
const SearchFilterQuery = v.pick(SearchQuery, [...FILTER_KEYS, 'fields']);

export const ExportRequest = v.strictObject({
  format: v.optional(v.picklist(EXPORT_FORMATS)),
  filters: v.optional(ExportFiltersInput, {}),
  fields: v.optional(v.pipe(v.array(v.string()), v.minLength(1), v.maxLength(32))),
  compression: v.optional(v.picklist(EXPORT_COMPRESSIONS)),
});
export type ExportRequestIn = v.InferOutput<typeof ExportRequest>;

/** What a job needs to run: stored as JSON in the exports row, so a restarted server can resume it. */
export interface ExportSpec {
  format: ExportFormat;
  compression: ExportCompression;
  filters: SearchFilters;
  fields: SearchField[];
  /** The filters as the client sent them, echoed back in the status. */
  requested_filters: Record<string, unknown>;
}

export interface ExportIssue {
  field: string;
  code: string;
  message: string;
}

export class ExportRequestError extends NamedError {
  constructor(
    readonly code: 'validation_failed' | 'unknown_field',
    readonly issues: ExportIssue[],
  ) {
    super(issues.map((i) => `${i.field}: ${i.message}`).join('; '));
  }
}

const DEFAULT_COMPRESSION: Record<ExportFormat, ExportCompression> = { csv: 'none', parquet: 'zstd' };
const ALLOWED_COMPRESSION: Record<ExportFormat, readonly ExportCompression[]> = {
  csv: ['none', 'gzip'],
  parquet: ['none', 'gzip', 'zstd', 'snappy'],
};

/**
 * Validates the filters and fields with the search endpoint's own rules and fixes the format defaults.
 * Every problem is listed, not just the first: the compression, each bad filter, each unknown field.
 */
export function toExportSpec(body: ExportRequestIn, format: ExportFormat): ExportSpec {
  const issues: ExportIssue[] = [];
  const compression = body.compression ?? DEFAULT_COMPRESSION[format];
  if (!ALLOWED_COMPRESSION[format].includes(compression)) {
    issues.push({
      field: 'compression',
      code: 'invalid_value',
      message: `${format} takes ${ALLOWED_COMPRESSION[format].join(', ')}`,
    });
  }
  const asQuery: Record<string, string> = {};
  for (const [key, value] of Object.entries(body.filters)) {
    if (value !== undefined) asQuery[key] = Array.isArray(value) ? value.join(',') : String(value);
  }
  const unknown = (body.fields ?? []).filter((f) => !(SEARCH_FIELDS as readonly string[]).includes(f));
  for (const name of unknown)
    issues.push({ field: 'fields', code: 'unknown_field', message: `unknown field "${name}"` });
  if (body.fields && unknown.length === 0) asQuery.fields = body.fields.join(',');
  const parsed = v.safeParse(SearchFilterQuery, asQuery);
  if (!parsed.success) {
    for (const issue of parsed.issues) {
      const key = v.getDotPath(issue) ?? '';
      issues.push({
        field: key === 'fields' ? 'fields' : `filters.${key}`,
        code: 'invalid_value',
        message: issue.message,
      });
    }
  } else if (parsed.output.q !== undefined && ftsMatch(parsed.output.q) === undefined) {
    issues.push({ field: 'filters.q', code: 'invalid_value', message: 'no searchable word' });
  }
  if (issues.length > 0 || !parsed.success) {
    const onlyUnknown = issues.every((i) => i.code === 'unknown_field');
    throw new ExportRequestError(onlyUnknown ? 'unknown_field' : 'validation_failed', issues);
  }
  const plan = toPlan({ ...parsed.output, limit: 1, format: 'ndjson' });
  return { format, compression, filters: plan.filters, fields: plan.fields, requested_filters: body.filters };
}

export const EXPORT_MEDIA_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv',
  parquet: 'application/vnd.apache.parquet',
};

/** The download's media type: a gzip CSV file is served as the gzip file it is, not content-encoded. */
export function exportContentType(format: ExportFormat, compression: ExportCompression): string {
  if (format === 'csv') return compression === 'gzip' ? 'application/gzip' : 'text/csv; charset=utf-8';
  return EXPORT_MEDIA_TYPES.parquet;
}

export function exportFileName(
  exportId: string,
  format: ExportFormat,
  compression: ExportCompression,
): string {
  return `orders-${exportId}.${format === 'csv' ? (compression === 'gzip' ? 'csv.gz' : 'csv') : 'parquet'}`;
}

/** Export ids are opaque and unguessable: `exp_` and 16 base64url characters (96 random bits). */
export const EXPORT_ID = /^exp_[A-Za-z0-9_-]{16}$/;

/**
 * The in-band end of a direct export cut by a failure: a CSV gets a last line that says so; a Parquet
 * file without its footer is unreadable anyway.
 */
export function exportStreamTrailer(format: ExportFormat, failure: { code: string; detail: string }): string {
  return format === 'csv' ? `\r\n${searchTrailer('ndjson', failure)}` : '';
}
