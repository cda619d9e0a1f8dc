/**
 * Collects items that arrive together (same tick, same key) and hands them to `flush` as one batch, so a
 * worker writes them in one transaction; each caller still waits for its own item's result. The first item
 * of a batch waits `lingerMs` for others; items arriving while a batch is being written form the next
 * one. One batch per key is in flight at a time, which keeps a key's items in arrival order.
 */
export class GroupCommitter<I, O> {
  private readonly queues = new Map<
    number,
    { items: I[]; waiters: { resolve: (o: O) => void; reject: (e: unknown) => void }[] }
  >();
  private readonly busy = new Set<number>();
  batches = 0;

  constructor(
    private readonly flush: (key: number, items: I[]) => Promise<O[]>,
    private readonly maxBatch = 500,
    /** How long the first item of a batch waits for company (PostgreSQL's commit_delay, in spirit). */
    private readonly lingerMs = 2,
  ) {}

  submit(key: number, item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      let q = this.queues.get(key);
      if (!q) {
        q = { items: [], waiters: [] };
        this.queues.set(key, q);
      }
      q.items.push(item);
      q.waiters.push({ resolve, reject });
      if (!this.busy.has(key)) {
        this.busy.add(key);
        setTimeout(() => this.drain(key), this.lingerMs);
      }
    });
  }

  private async drain(key: number): Promise<void> {
    const q = this.queues.get(key);
    if (!q || q.items.length === 0) {
      this.busy.delete(key);
      this.queues.delete(key);
      return;
    }
    const items = q.items.splice(0, this.maxBatch);
    const waiters = q.waiters.splice(0, items.length);
    this.batches++;
    try {
      const results = await this.flush(key, items);
      waiters.forEach((w, i) => {
        w.resolve(results[i]!);
      });
    } catch (error) {
      for (const w of waiters) w.reject(error);
    }
    await this.drain(key);
  }
}
