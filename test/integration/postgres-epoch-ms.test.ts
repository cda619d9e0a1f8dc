import { describe, expect, it } from 'vitest';
import { epochMsOf, timestampOf } from '../../src/storage/postgres/epoch-ms.js';
import { numbered } from '../../src/storage/postgres/placeholders.js';
import { postgresUnavailable, suiteSchema } from '../helpers/postgres.js';

describe('placeholders for node-postgres', () => {
  it('numbers `?` in order', () => {
    expect(numbered('a = ? AND b IN (?, ?) OR c = ?')).toBe('a = $1 AND b IN ($2, $3) OR c = $4');
    expect(numbered('no parameters')).toBe('no parameters');
  });
});

const unavailable = await postgresUnavailable();
if (unavailable) console.warn(`epoch ms on PostgreSQL not tested: ${unavailable}`);

/** Times cross the storage seam as epoch ms (src/storage/postgres/epoch-ms.ts): none may move by a ms. */
describe.skipIf(unavailable !== null)('epoch milliseconds through timestamptz', () => {
  const suite = suiteSchema({ setup: 'CREATE TABLE times (i integer, at timestamptz)' });

  it('every millisecond comes back exactly: before 1970, odd milliseconds, far ahead', async () => {
    const { client } = suite;
    const ms = [
      0,
      -1,
      -86_400_001,
      1,
      999,
      1_735_689_600_001,
      1_735_689_600_123,
      4_102_444_799_999, // 2099-12-31T23:59:59.999Z
      ...Array.from({ length: 20_000 }, (_, i) => 1_700_000_000_000 + i * 86_399_997 + (i % 1000)),
    ];
    await client.query(
      `INSERT INTO times (i, at) SELECT u.i, to_timestamp(u.ms / 1000) FROM unnest($1::int[], $2::float8[]) AS u (i, ms)`,
      [ms.map((_, i) => i), ms],
    );
    // the same conversion the stores write, one parameter at a time for a few
    for (const one of ms.slice(0, 8)) {
      const { rows } = await client.query<{ at: number }>(
        `SELECT ${epochMsOf('at')} FROM (SELECT ${timestampOf(1)} AS at) s`,
        [one],
      );
      expect(rows[0]!.at).toBe(one);
    }
    const { rows } = await client.query<{ at: number }>(`SELECT ${epochMsOf('at')} FROM times ORDER BY i`);
    expect(rows.map((r) => r.at)).toEqual(ms);
  });
});
