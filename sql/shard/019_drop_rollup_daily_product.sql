-- Product rankings read every line of their range once, from the day line blocks (018) and the orders not in
-- them: faster than the per-day product sums and sketches were (a year's top 100 ranked from 2.7M sum rows,
-- then sketches or lines per ranked product) and exact in both precisions. Those two tables were the shard's
-- largest (210 MB of 724 on the 1M-order preset) and about a fifth of a rebuild's time: gone.
DROP TABLE IF EXISTS rollup_daily_product_sketch;
DROP TABLE IF EXISTS rollup_daily_product;
