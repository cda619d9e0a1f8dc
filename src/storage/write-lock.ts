/**
 * One writer per shard across all worker threads: a table of int32 mutexes in a SharedArrayBuffer,
 * indexed by tenant id. A waiting writer sleeps in Atomics.wait instead of spinning on SQLITE_BUSY.
 * Held only around synchronous transactions, never across an await, so a holder always finishes.
 * Main thread code must not take it (Atomics.wait would block the event loop).
 */
const UNLOCKED = 0;
const LOCKED = 1;
const CONTENDED = 2;

export const WRITE_LOCK_SLOTS = 4096;

export function createWriteLockBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(WRITE_LOCK_SLOTS * Int32Array.BYTES_PER_ELEMENT);
}

export class ShardWriteLock {
  private readonly cells: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.cells = new Int32Array(buffer);
  }

  private slot(tenantId: number): number {
    return tenantId % this.cells.length;
  }

  /**
   * Whether another thread waits for the tenant's lock (call while holding it): a long writer, such as a
   * writer lane filling a big transaction, commits early and lets it in.
   */
  contended(tenantId: number): boolean {
    return Atomics.load(this.cells, this.slot(tenantId)) === CONTENDED;
  }

  /** Runs `work` while holding the tenant's write lock (a futex-style mutex: lock, then sleep when contended). */
  withLock<T>(tenantId: number, work: () => T): T {
    const i = this.slot(tenantId);
    let state = Atomics.compareExchange(this.cells, i, UNLOCKED, LOCKED);
    if (state !== UNLOCKED) {
      if (state !== CONTENDED) state = Atomics.exchange(this.cells, i, CONTENDED);
      while (state !== UNLOCKED) {
        Atomics.wait(this.cells, i, CONTENDED, 1000);
        state = Atomics.exchange(this.cells, i, CONTENDED);
      }
    }
    try {
      return work();
    } finally {
      if (Atomics.exchange(this.cells, i, UNLOCKED) === CONTENDED) Atomics.notify(this.cells, i, 1);
    }
  }
}
