import * as v from 'valibot';
import { IsoDateTime } from './dates.js';
import { wellFormed } from './text.js';

const id = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(Number.MAX_SAFE_INTEGER));
const nonNegative = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1e13));

/** A price sample as the generator writes it and the loader reads it. */
export const PriceSampleSchema = v.object({
  product_id: id,
  observed_at: IsoDateTime,
  price_cents: nonNegative,
  event_id: v.optional(v.pipe(v.string(), wellFormed, v.maxLength(128))),
});
export type PriceSample = v.InferOutput<typeof PriceSampleSchema>;

/** An applied stock event from the dataset (history, with the state after it). */
export const StockHistorySchema = v.object({
  event_id: v.pipe(v.string(), wellFormed, v.minLength(1), v.maxLength(128)),
  product_id: id,
  delta: v.pipe(v.number(), v.integer()),
  occurred_at: IsoDateTime,
  stock_after: nonNegative,
  version_after: nonNegative,
});
export type StockHistory = v.InferOutput<typeof StockHistorySchema>;
