import type { Context } from 'hono';
import type { StreamExportMeta } from '../../workers/exports.js';
import type { CursorPosition } from '../domain/cursor.js';
import { type ExportSpec, exportStreamTrailer } from '../domain/export.js';
import { shiftRowGroup } from '../formats/parquet-assembly.js';
import type { StreamHandle } from '../pool/pool.js';
import { type StripeRange, stripedStream } from '../pool/striped-stream.js';
import type { AppDeps } from '../routes/deps.js';
import { needsSort } from '../storage/search-sql.js';
import type { AppEnv } from './types.js';
import { gatedStream } from './worker-stream.js';

/** Batches per stripe: long enough that a stripe's setup (a connection, a statement) is noise. */
const STRIPE_BATCHES = 2;
/** Stripe ends asked for at once (an index scan of this many stripes' rows). */
const CUTS_PER_CALL = 16;
/** What a stripe started ahead may produce before the client takes any of it (a whole stripe, typically). */
const STRIPE_AHEAD_BYTES = 4 * 1024 * 1024;

const text = new TextEncoder();
const NOTHING = new Uint8Array(0);

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
  let after: CursorPosition | null = null;
  const nextRanges = async (): Promise<{ ranges: StripeRange[]; end: boolean }> => {
    if (whole) return { ranges: [{ after: null, floor: null }], end: true };
    const { cuts, end } = await pool.run('stripeCuts', {
      ...base,
      filters: spec.filters,
      after,
      every: config.exportBatchRows * STRIPE_BATCHES,
      count: CUTS_PER_CALL,
    });
    const ranges: StripeRange[] = [];
    for (const floor of cuts) {
      ranges.push({ after, floor });
      after = floor;
    }
    if (end) ranges.push({ after, floor: null }); // the rest, fewer rows than a stripe
    return { ranges, end };
  };
  const open = () =>
    stripedStream({
      ahead: whole ? 1 : config.exportParts,
      sendTimeoutMs: config.streamSendTimeoutS * 1000,
      nextRanges,
      start: (range, index) =>
        pool.stream(
          'streamExport',
          { ...base, spec, batchRows: config.exportBatchRows, range, header: index === 0 },
          {
            credits: Math.max(config.streamCredits, Math.ceil(STRIPE_AHEAD_BYTES / config.streamChunkBytes)),
            chunkBytes: config.streamChunkBytes,
            sendTimeoutMs: 0, // the joined stream times out a client that stopped reading
            trailerOnCrash: (error) => failureTrailer({ code: 'worker_failed', detail: error.message }),
          },
        ),
      finish: async (stripes) => {
        if (spec.format !== 'parquet') return NOTHING;
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
