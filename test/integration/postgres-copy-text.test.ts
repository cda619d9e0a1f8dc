import { describe, expect, it } from 'vitest';
import { copyInto, copyLine, copyValue } from '../../src/storage/postgres/copy-text.js';
import { postgresUnavailable, suiteSchema } from '../helpers/postgres.js';

/** COPY's text format as our writers produce it (src/storage/postgres/copy-text.ts). */
describe('COPY text lines', () => {
  it('escape backslash, tab, newline and carriage return; null is \\N; numbers print as they are', () => {
    expect(copyValue(null)).toBe('\\N');
    expect(copyValue(-12.5)).toBe('-12.5');
    expect(copyValue('a\tb\nc\rd\\e')).toBe('a\\tb\\nc\\rd\\\\e');
    expect(copyValue('\\N')).toBe('\\\\N'); // the text "\N" is not a null
    expect(copyLine(['x', 1, null])).toBe('x\t1\t\\N\n');
  });
});

const unavailable = await postgresUnavailable();
if (unavailable) console.warn(`COPY into PostgreSQL not tested: ${unavailable}`);

describe.skipIf(unavailable !== null)('COPY text into PostgreSQL', () => {
  const suite = suiteSchema({ setup: 'CREATE TABLE copied (i integer, t text, n bigint)' });

  it('reads back every value as written, over several chunks of the stream', async () => {
    const awkward = [
      'tab\there',
      'line\nbreak',
      'cr\rlf\r\n',
      'back\\slash',
      '\\N',
      '',
      'Édith 日本 🚀',
      'a"b\'c',
    ];
    // ~2 MB of lines: the stream goes in several 256 KiB writes, a value may not be split across them
    const rows = Array.from({ length: 20_000 }, (_, i) => [
      i,
      `${awkward[i % awkward.length]}${'x'.repeat(i % 200)}`,
      i % 7 === 0 ? null : i * 1_000_003,
    ]);
    const { client } = suite;
    await client.query('BEGIN');
    await copyInto(client, 'copied (i, t, n)', rows.map(copyLine));
    await client.query('COMMIT');
    const back = await client.query<{ i: number; t: string; n: string | null }>(
      'SELECT i, t, n FROM copied ORDER BY i',
    );
    expect(back.rows.map((r) => [r.i, r.t, r.n === null ? null : Number(r.n)])).toEqual(rows);
  });

  it('a COPY that fails (a value of the wrong type) fails the caller, and the transaction rolls back', async () => {
    const { client } = suite;
    await client.query('BEGIN');
    await expect(copyInto(client, 'copied (i, t, n)', [copyLine(['not a number', 't', 1])])).rejects.toThrow(
      /invalid input syntax for type integer/,
    );
    await client.query('ROLLBACK');
    expect((await client.query('SELECT count(*)::int AS n FROM copied')).rows[0]).toEqual({ n: 20_000 });
  });
});
