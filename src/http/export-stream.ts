import type { Context } from 'hono';
import type { StreamExportMeta } from '../../workers/exports.js';
import { type ExportSpec, exportStreamTrailer } from '../domain/export.js';
import { EMPTY_BYTES } from '../formats/encoder.js';
import { shiftRowGroup } from '../formats/parquet-assembly.js';
import type { StreamHandle } from '../pool/pool.js';
import { stripedStream } from '../pool/striped-stream.js';
import type { AppDeps } from '../routes/deps.js';
import { needsSort } from '../storage/search-sql.js';
import { keysetStripes, stripeStreamOptions } from './keyset-stripes.js';
import type { AppEnv } from './types.js';
import { gatedStream } from './worker-stream.js';

/** Batches per stripe: long enough that a stripe's setup (a connection, a statement) is noise. */
const STRIPE_BATCHES = 1;

const text = new TextEncoder();

/**
 * A direct export (POST with Accept: text/csv or Parquet) as consecutive stripes of the keyset order, each
 * encoded by its own worker task, `--export-parts` at once, joined in order (src/pool/striped-stream.ts):
 * the first stripe writes the file's opening bytes, each Parquet stripe reports its row groups, and the
 * footer over all of them is made at the end. Filters that need a sort (product, text, email) stream in
 * one stripe.
 */
export function directExportStream(
  c: Context<AppEnv>,
  deps: Pick<AppDeps, 'pool' | 'config' | 'admission' | 'streams' | 'faults'>,
  spec: ExportSpec,
): StreamHandle {
  const { config, pool } = deps;
  const base = { requestId: c.get('requestId'), tenantId: c.get('tenantId') };
  const whole = needsSort(spec.filters);
  const stripes = keysetStripes(pool, base, spec.filters, null, config.exportBatchRows * STRIPE_BATCHES);
  const nextRanges = whole
    ? async () => ({ ranges: [{ after: null, floor: null, limit: null }], end: true })
    : stripes.nextRanges;
  const open = () =>
    stripedStream({
      ahead: whole ? 1 : config.exportParts + 1,
      sendTimeoutMs: config.streamSendTimeoutS * 1000,
      nextRanges,
      start: (range, index) =>
        pool.stream(
          'streamExport',
          { ...base, spec, batchRows: config.exportBatchRows, range, header: index === 0 },
          stripeStreamOptions(config, (error) =>
            failureTrailer({ code: 'worker_failed', detail: error.message }),
          ),
        ),
      finish: async (stripes) => {
        if (spec.format !== 'parquet') return EMPTY_BYTES;
        const rowGroups = stripes.flatMap((s) =>
          (s.meta as StreamExportMeta).rowGroups.map((g) => shiftRowGroup(g, s.offset)),
        );
        return pool.run('exportTrailer', { ...base, spec, rowGroups });
      },
      failureTrailer,
    });
  const failureTrailer = (failure: { code: string; detail: string }) => {
    const trailer = exportStreamTrailer(spec.format, failure);
    return trailer ? text.encode(trailer) : null;
  };
  return gatedStream(c, deps, open, { logName: 'export', logFields: { format: spec.format } });
}
