/** The tables bulk loading can fill; HTTP ingest exposes orders and products. */
export const INGEST_KINDS = ['orders', 'products', 'price_history', 'stock_events'] as const;
export type IngestKind = (typeof INGEST_KINDS)[number];

export interface ChunkSummary {
  received: number;
  inserted: number;
  duplicate: number;
  failed: number;
  errors: import('./order-schema.js').RowError[];
}

export function emptySummary(): ChunkSummary {
  return { received: 0, inserted: 0, duplicate: 0, failed: 0, errors: [] };
}

export function addSummary(into: ChunkSummary, part: ChunkSummary, maxErrors: number): void {
  into.received += part.received;
  into.inserted += part.inserted;
  into.duplicate += part.duplicate;
  into.failed += part.failed;
  for (const e of part.errors) {
    if (into.errors.length >= maxErrors) break;
    into.errors.push(e);
  }
}
