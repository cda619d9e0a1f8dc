import * as v from 'valibot';
import { IsoDateTime } from './dates.js';

export const PriceEventBody = v.object({
  event_id: v.optional(
    v.pipe(v.string(), v.regex(/^[\x21-\x7e]{1,128}$/, '1 to 128 printable ASCII characters')),
  ),
  price_cents: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1e13)),
  observed_at: IsoDateTime,
});
export type PriceEventInput = v.InferOutput<typeof PriceEventBody>;

export const ReviewBody = v.object({ status: v.picklist(['reviewed', 'dismissed', 'accepted']) });

export interface AnomalyPolicy {
  /** A change of at least this many percent against the last accepted price is an anomaly. */
  thresholdPct: number;
  /** How many recent samples the rolling median looks at. */
  medianWindow: number;
  /** A price at least this many percent away from the rolling median is an anomaly. */
  medianPct: number;
}

export const DEFAULT_POLICY: AnomalyPolicy = { thresholdPct: 20, medianWindow: 9, medianPct: 40 };

export interface Assessment {
  change_pct: number | null;
  anomaly: boolean;
  reasons: string[];
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Two rules, both documented in design.md:
 * - step: |price − last accepted| / last accepted ≥ thresholdPct (default 20%). The reference is the
 *   last *accepted* price, so a spike under review does not become the baseline: the return to normal
 *   after a spike is not flagged a second time.
 * - robust: with at least 5 recent samples, |price − median| / median ≥ medianPct (default 40%). It
 *   catches a price walked far from its history in steps that each stay under the threshold, while a
 *   slow, steady drift (the median follows it) is not flagged.
 * A first price (nothing accepted yet) is never an anomaly; a change from 0 is always one.
 */
export function assessPrice(
  lastAccepted: number | null,
  recent: readonly number[],
  price: number,
  policy: AnomalyPolicy = DEFAULT_POLICY,
): Assessment {
  const reasons: string[] = [];
  let change_pct: number | null = null;
  if (lastAccepted !== null) {
    change_pct =
      lastAccepted === 0
        ? price === 0
          ? 0
          : Number.POSITIVE_INFINITY
        : ((price - lastAccepted) / lastAccepted) * 100;
    if (Math.abs(change_pct) >= policy.thresholdPct - 1e-9) reasons.push('threshold');
  }
  if (recent.length >= 5) {
    const m = median(recent.slice(0, policy.medianWindow));
    if (m > 0 && (Math.abs(price - m) / m) * 100 >= policy.medianPct - 1e-9) reasons.push('rolling_median');
  }
  const rounded =
    change_pct === null || !Number.isFinite(change_pct) ? change_pct : Math.round(change_pct * 100) / 100;
  return {
    change_pct: rounded === Number.POSITIVE_INFINITY ? null : rounded,
    anomaly: reasons.length > 0,
    reasons,
  };
}

export interface PriceEventRecord {
  event_id: string;
  product_id: number;
  price_cents: number;
  observed_at: number;
  fingerprint: string;
}

export interface PriceEventResult {
  seq: number;
  event_id: string;
  product_id: number;
  previous_price_cents: number | null;
  price_cents: number;
  change_pct: number | null;
  anomaly: boolean;
  reasons: string[];
  status: string;
  observed_at: string;
}

/**
 * A stored price_events row, as either backend hands it over: SQLite with the flag as 0/1 and the time as
 * epoch ms, PostgreSQL with a boolean and a Date.
 */
export interface StoredPriceEvent extends Omit<PriceEventResult, 'anomaly' | 'reasons' | 'observed_at'> {
  anomaly: number | boolean;
  reason: string | null;
  fingerprint: string;
  observed_at: number | Date;
}

/** A stored event as the service answers it: the flag a boolean, the reasons a list, the time ISO 8601. */
export function priceEventResult(r: StoredPriceEvent): PriceEventResult {
  return {
    seq: r.seq,
    event_id: r.event_id,
    product_id: r.product_id,
    previous_price_cents: r.previous_price_cents,
    price_cents: r.price_cents,
    change_pct: r.change_pct,
    anomaly: r.anomaly === true || r.anomaly === 1,
    reasons: r.reason ? r.reason.split(',') : [],
    status: r.status,
    observed_at: new Date(r.observed_at).toISOString(),
  };
}

/** A price event as the API shows it: without its sequence (the SSE id, the cursor) and observation time. */
export function publicPriceEvent(r: PriceEventResult): Omit<PriceEventResult, 'seq' | 'observed_at'> {
  const { seq: _seq, observed_at: _observedAt, reasons, ...shown } = r;
  return { ...shown, reasons };
}

export type PriceOutcome =
  | { kind: 'created' | 'replayed'; result: PriceEventResult }
  | { kind: 'mismatch' | 'unknown_product' };
