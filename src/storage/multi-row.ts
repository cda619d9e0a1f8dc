import type { Statement } from 'better-sqlite3';
import type { Db } from './sqlite.js';

/**
 * A multi-row INSERT prepared once per block size: `INSERT ... VALUES (?,?),(?,?),... <tail>`. Fewer,
 * wider statements cut the per-row JS -> SQLite crossing, which is most of an insert's cost here.
 */
export class MultiRowInsert {
  private readonly statements = new Map<number, Statement>();
  private readonly tuple: string;

  constructor(
    private readonly db: Db,
    private readonly head: string,
    private readonly width: number,
    private readonly tail = '',
    private readonly block = 64,
  ) {
    this.tuple = `(${Array(width).fill('?').join(',')})`;
  }

  private statement(rows: number): Statement {
    let s = this.statements.get(rows);
    if (!s) {
      s = this.db.prepare(`${this.head} VALUES ${Array(rows).fill(this.tuple).join(',')} ${this.tail}`);
      this.statements.set(rows, s);
    }
    return s;
  }

  /** Inserts rows (each `width` values); returns RETURNING rows if the tail has a RETURNING clause. */
  all<R>(rows: readonly unknown[][]): R[] {
    const out: R[] = [];
    this.each(rows, (stmt, params) => {
      for (const r of stmt.all(params) as R[]) out.push(r);
    });
    return out;
  }

  run(rows: readonly unknown[][]): number {
    let changes = 0;
    this.each(rows, (stmt, params) => {
      changes += stmt.run(params).changes;
    });
    return changes;
  }

  private each(rows: readonly unknown[][], exec: (stmt: Statement, params: unknown[]) => void): void {
    for (let start = 0; start < rows.length; start += this.block) {
      const end = Math.min(rows.length, start + this.block);
      const params: unknown[] = new Array((end - start) * this.width);
      let k = 0;
      for (let i = start; i < end; i++) {
        const row = rows[i]!;
        for (let j = 0; j < this.width; j++) params[k++] = row[j];
      }
      exec(this.statement(end - start), params);
    }
  }
}
