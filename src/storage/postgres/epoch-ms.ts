/**
 * Times cross the storage seam as milliseconds since the epoch (as SQLite stores them); PostgreSQL keeps
 * them as timestamptz. These write the conversions into SQL.
 */

/** SQL: a timestamptz column read as epoch ms, under its own name. */
export const epochMsOf = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8 AS ${column}`;

/** SQL: parameter `$n` (epoch ms) as a timestamptz. */
export const timestampOf = (n: number) => `to_timestamp($${n}::float8 / 1000)`;
