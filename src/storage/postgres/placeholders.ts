/** `?` placeholders (as the shared Where builder writes them) numbered `$1…` in order, as node-postgres wants. */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
