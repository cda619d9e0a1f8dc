import type { Context } from 'hono';
import type { StreamExportMeta } from '../../workers/exports.js';
import { type ExportSpec, exportStreamTrailer } from '../domain/export.js';
import { EMPTY_BYTES } from '../formats/encoder.js';
import { appendSum, deflatePart, EMPTY_SUM, gzipClosing } from '../formats/gzip-parts.js';
import { shiftRowGroup } from '../formats/parquet-assembly.js';
import type { StreamHandle } from '../pool/stream-receiver.js';
import { stripedStream } from '../pool/striped-stream.js';
import type { AppDeps } from '../routes/deps.js';
import { needsSort } from '../storage/search-sql.js';
import { keysetStripes, stripeStreamOptions } from './keyset-stripes.js';
import type { AppEnv } from './types.js';
import { gatedStream } from './worker-stream.js';

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
  /** Content-Encoding gzip: each stripe deflates its part of one gzip member (src/formats/gzip-parts.ts). */
  transferGzip: boolean,
): StreamHandle {
  const { config, pool } = deps;
  const base = { requestId: c.get('requestId'), tenantId: c.get('tenantId') };
  const whole = needsSort(spec.filters);
  // a stripe is one batch: a finished stripe frees its worker while an earlier one is still being sent
  const stripes = keysetStripes(pool, base, spec.filters, null, config.export.batchRows);
  const nextRanges = whole
    ? async () => ({ ranges: [{ after: null, floor: null, limit: null }], end: true })
    : stripes.nextRanges;
  const open = () =>
    stripedStream({
      ahead: whole ? 1 : config.export.parts + 1,
      sendTimeoutMs: config.streams.sendTimeoutS * 1000,
      nextRanges,
      start: (range, index) =>
        pool.stream(
          'streamExport',
          { ...base, spec, batchRows: config.export.batchRows, range, header: index === 0, transferGzip },
          stripeStreamOptions(config.streams, (error) =>
            failureTrailer({ code: 'worker_failed', detail: error.message }),
          ),
        ),
      finish: async (stripes) => {
        const metas = stripes.map((s) => s.meta as StreamExportMeta);
        const trailer = spec.format === 'parquet' ? await parquetFooter(metas) : EMPTY_BYTES;
        if (!transferGzip) return trailer;
        let sum = metas.reduce((all, m) => appendSum(all, m.gzip!), EMPTY_SUM);
        if (trailer.length === 0) return gzipClosing(sum);
        const last = deflatePart(trailer);
        sum = appendSum(sum, last);
        return Buffer.concat([last.bytes, gzipClosing(sum)]);
      },
      failureTrailer,
    });
  /** The footer over every stripe's row groups, each moved to where its stripe's bytes start. */
  const parquetFooter = (metas: readonly StreamExportMeta[]) => {
    let offset = 0;
    const rowGroups = metas.flatMap((m) => {
      const moved = m.rowGroups.map((g) => shiftRowGroup(g, offset));
      offset += m.bytes;
      return moved;
    });
    return pool.run('exportTrailer', { ...base, spec, rowGroups });
  };
  const failureTrailer = (failure: { code: string; detail: string }) => {
    // a gzip-encoded body cannot carry plain text: cut short, its member has no closing
    const trailer = transferGzip ? '' : exportStreamTrailer(spec.format, failure);
    return trailer ? text.encode(trailer) : null;
  };
  return gatedStream(c, deps, open, { logName: 'export', logFields: { format: spec.format } });
}
