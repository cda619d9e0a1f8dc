/** `?,?,?` for n bound values. */
export function placeholders(n: number): string {
  return Array(n).fill('?').join(',');
}

/**
 * A WHERE clause built from optional filters: each condition is added with its bound values only when
 * the filter is given, so the SQL text and the parameter list can never drift apart.
 */
export class Where {
  private readonly clauses: string[];
  readonly params: unknown[] = [];

  constructor(...fixed: string[]) {
    this.clauses = [...fixed];
  }

  /** Adds `clause` with `params` when `value` is neither undefined nor null. */
  when(value: unknown, clause: string, ...params: unknown[]): this {
    if (value !== undefined && value !== null) {
      this.clauses.push(clause);
      this.params.push(...params);
    }
    return this;
  }

  /** Adds `column IN (?,…)` (with an optional prefix such as `+`) when the list is given. */
  whenIn(
    values: readonly unknown[] | undefined,
    column: string,
    wrap: (list: string) => string = (l) => l,
  ): this {
    return values
      ? this.when(values, wrap(`${column} IN (${placeholders(values.length)})`), ...values)
      : this;
  }

  /** ` WHERE a AND b`, or '' when there is no condition. */
  sql(): string {
    return this.clauses.length ? ` WHERE ${this.clauses.join(' AND ')}` : '';
  }
}
