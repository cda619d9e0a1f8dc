import * as v from 'valibot';
import { IsoDateTime } from './dates.js';

export const STOCK_MODES = ['merge', 'last_write_wins', 'reject'] as const;
export type StockMode = (typeof STOCK_MODES)[number];

const id = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(Number.MAX_SAFE_INTEGER));

export const StockEventSchema = v.object({
  event_id: v.pipe(v.string(), v.regex(/^[\x21-\x7e]{1,128}$/, '1 to 128 printable ASCII characters')),
  product_id: id,
  delta: v.optional(v.pipe(v.number(), v.integer(), v.minValue(-1_000_000_000), v.maxValue(1_000_000_000))),
  quantity: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(2_000_000_000))),
  expected_version: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  occurred_at: IsoDateTime,
});
export type StockEvent = v.InferOutput<typeof StockEventSchema>;

export const StockBulkBody = v.object({
  mode: v.picklist(STOCK_MODES),
  events: v.pipe(v.array(StockEventSchema), v.minLength(1)),
});
export type StockBulk = v.InferOutput<typeof StockBulkBody>;

export interface ProductStock {
  stock: number;
  version: number;
  /** occurred_at of the last applied last_write_wins write, epoch ms */
  writtenAt: number | null;
}

export type GroupStatus = 'applied' | 'rejected' | 'stale' | 'failed';

export interface GroupOutcome {
  status: GroupStatus;
  /** State after the group (unchanged unless applied). */
  stock: number;
  version: number;
  writtenAt: number | null;
  /** The events that changed something, in order, with the stock after each. */
  applied: { event: StockEvent; stockAfter: number }[];
  /** Events skipped because their event_id was applied before (client retries). */
  duplicates: string[];
  error?: { code: string; message: string; event_id?: string };
}

/** Checks a request's shape beyond the schema: one of delta/quantity per event, mode rules, unique ids. */
export function requestErrors(
  body: StockBulk,
  maxEvents: number,
): { field: string; code: string; message: string }[] {
  const errors: { field: string; code: string; message: string }[] = [];
  if (body.events.length > maxEvents) {
    errors.push({
      field: 'events',
      code: 'too_many_events',
      message: `at most ${maxEvents} events per request`,
    });
  }
  const seen = new Set<string>();
  body.events.forEach((e, i) => {
    const has = (e.delta !== undefined ? 1 : 0) + (e.quantity !== undefined ? 1 : 0);
    if (has !== 1)
      errors.push({
        field: `events.${i}`,
        code: 'delta_xor_quantity',
        message: 'give exactly one of delta or quantity',
      });
    if (body.mode === 'merge' && e.delta === undefined && e.quantity !== undefined) {
      errors.push({
        field: `events.${i}.quantity`,
        code: 'mode_mismatch',
        message: 'merge mode takes delta',
      });
    }
    if (body.mode === 'last_write_wins' && e.quantity === undefined && e.delta !== undefined) {
      errors.push({
        field: `events.${i}.delta`,
        code: 'mode_mismatch',
        message: 'last_write_wins sets quantity',
      });
    }
    if (body.mode === 'reject' && e.expected_version === undefined) {
      errors.push({
        field: `events.${i}.expected_version`,
        code: 'required',
        message: 'reject mode needs expected_version',
      });
    }
    if (seen.has(e.event_id))
      errors.push({
        field: `events.${i}.event_id`,
        code: 'duplicate_event_id',
        message: 'event_id repeated in this request',
      });
    seen.add(e.event_id);
  });
  return errors;
}

/**
 * Applies one product's events (in request order) to its current state, all or nothing. Pure: the
 * caller persists the outcome in the product's savepoint.
 * - merge: adds deltas; an intermediate or final negative stock fails the whole group.
 * - last_write_wins: sets quantity; an event not newer than the last applied write is stale.
 * - reject: each event's expected_version must equal the version at that point (delta or quantity).
 * A version counts applied groups: it goes up by one per group that changed something.
 */
export function applyGroup(
  mode: StockMode,
  current: ProductStock,
  events: readonly StockEvent[],
  alreadyApplied: ReadonlySet<string>,
): GroupOutcome {
  let stock = current.stock;
  let writtenAt = current.writtenAt;
  const applied: GroupOutcome['applied'] = [];
  const duplicates: string[] = [];
  const unchanged = (status: GroupStatus, error?: GroupOutcome['error']): GroupOutcome => ({
    status,
    stock: current.stock,
    version: current.version,
    writtenAt: current.writtenAt,
    applied: [],
    duplicates,
    ...(error ? { error } : {}),
  });
  for (const e of events) {
    if (alreadyApplied.has(e.event_id)) {
      duplicates.push(e.event_id);
      continue;
    }
    if (mode === 'reject' && e.expected_version !== current.version) {
      return unchanged('rejected', {
        code: 'version_conflict',
        message: `expected_version ${e.expected_version} but the product is at version ${current.version}`,
        event_id: e.event_id,
      });
    }
    if (mode === 'last_write_wins') {
      if (writtenAt !== null && e.occurred_at <= writtenAt) continue; // stale: a newer write already landed
      stock = e.quantity!;
      writtenAt = e.occurred_at;
    } else {
      stock = e.delta !== undefined ? stock + e.delta : e.quantity!;
    }
    if (stock < 0) {
      return unchanged('failed', {
        code: 'insufficient_stock',
        message: `event ${e.event_id} would take stock to ${stock}`,
        event_id: e.event_id,
      });
    }
    applied.push({ event: e, stockAfter: stock });
  }
  if (applied.length === 0) {
    const fresh = events.filter((e) => !alreadyApplied.has(e.event_id));
    return unchanged(fresh.length > 0 && mode === 'last_write_wins' ? 'stale' : 'applied');
  }
  return { status: 'applied', stock, version: current.version + 1, writtenAt, applied, duplicates };
}

/** What a bulk update answers for one product (the contract's `results[]`). */
export interface ProductResult {
  product_id: number;
  status: GroupStatus;
  quantity: number | null;
  version: number | null;
  events_applied: number;
  events_duplicate: number;
  error?: { code: string; message: string; event_id?: string };
}

/** A request's events grouped by product, the products in ascending id order (the order they are locked in). */
export function eventsByProduct(events: readonly StockEvent[]): {
  ids: number[];
  of: Map<number, StockEvent[]>;
} {
  const of = new Map<number, StockEvent[]>();
  for (const e of events) {
    const list = of.get(e.product_id) ?? [];
    list.push(e);
    of.set(e.product_id, list);
  }
  return { ids: [...of.keys()].sort((a, b) => a - b), of };
}

export function unknownProductResult(productId: number): ProductResult {
  return {
    product_id: productId,
    status: 'failed',
    quantity: null,
    version: null,
    events_applied: 0,
    events_duplicate: 0,
    error: { code: 'unknown_product', message: `product ${productId} does not exist` },
  };
}

export function groupResult(productId: number, outcome: GroupOutcome): ProductResult {
  return {
    product_id: productId,
    status: outcome.status,
    quantity: outcome.stock,
    version: outcome.version,
    events_applied: outcome.applied.length,
    events_duplicate: outcome.duplicates.length,
    ...(outcome.error ? { error: outcome.error } : {}),
  };
}

/** The product's result when writing its applied group failed: nothing of it stayed. */
export function writeFailedResult(result: ProductResult, current: ProductStock, error: Error): ProductResult {
  return {
    ...result,
    status: 'failed',
    quantity: current.stock,
    version: current.version,
    events_applied: 0,
    error: { code: 'write_failed', message: error.message },
  };
}
