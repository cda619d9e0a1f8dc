import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { MultiRowInsert, statementRows } from '../../src/storage/multi-row.js';

describe('multi-row inserts', () => {
  it('splits a batch into whole blocks, then powers of two', () => {
    const sizes = (count: number) => {
      const out: number[] = [];
      for (let left = count; left > 0; left -= out.at(-1)!) out.push(statementRows(left, 64));
      return out;
    };
    expect(sizes(200)).toEqual([64, 64, 64, 8]);
    expect(sizes(63)).toEqual([32, 16, 8, 4, 2, 1]);
    expect(sizes(1)).toEqual([1]);
    expect(sizes(0)).toEqual([]);
  });

  it('inserts every row of any batch size with at most 1 + log2(block) statements prepared', () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)');
    let prepared = 0;
    const prepare = db.prepare.bind(db);
    db.prepare = ((sql: string) => {
      prepared++;
      return prepare(sql);
    }) as typeof db.prepare;
    const insert = new MultiRowInsert(db, 'INSERT INTO t (a, b)', 2, 'RETURNING a');
    let next = 0;
    for (let count = 0; count <= 130; count++) {
      const rows = Array.from({ length: count }, () => [next, `row ${next++}`]);
      expect(insert.all<{ a: number }>(rows).map((r) => r.a)).toEqual(rows.map((r) => r[0]));
    }
    expect((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n).toBe(next);
    expect(prepared - 1).toBeLessThanOrEqual(7); // 64, 32, 16, 8, 4, 2, 1 (the count above is the extra one)
  });
});
