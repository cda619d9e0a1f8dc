import { threadId } from 'node:worker_threads';

/**
 * One writer per shard across all worker threads: a table of int32 mutexes in a SharedArrayBuffer,
 * indexed by tenant id, and beside it the holder of each (its thread id + 1). A waiting writer sleeps in
 * Atomics.wait instead of spinning on SQLITE_BUSY. Held only around synchronous transactions, never
 * across an await, so a live holder always finishes; a thread that dies holding it (out of memory, say)
 * has it released by the main thread (`releaseAbandoned`), and SQLite rolls back its transaction when its
 * connection goes with the thread. Main thread code must not take it (Atomics.wait would block the event
 * loop), except the inline ingest path, which never waits long.
 */
const UNLOCKED = 0;
const LOCKED = 1;
const CONTENDED = 2;

export const WRITE_LOCK_SLOTS = 4096;

export function createWriteLockBuffer(): SharedArrayBuffer {
  // the mutexes, then their holders
  return new SharedArrayBuffer(2 * WRITE_LOCK_SLOTS * Int32Array.BYTES_PER_ELEMENT);
}

export class ShardWriteLock {
  private readonly cells: Int32Array;
  /** the thread holding each mutex, as its thread id + 1 (0: none) */
  private readonly holders: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.cells = new Int32Array(buffer, 0, WRITE_LOCK_SLOTS);
    this.holders = new Int32Array(buffer, WRITE_LOCK_SLOTS * Int32Array.BYTES_PER_ELEMENT, WRITE_LOCK_SLOTS);
  }

  /**
   * Releases every mutex held by a thread that is not in `live` (thread ids): called on the main thread
   * when a worker thread exits, so a thread that died inside a transaction does not leave its shard locked
   * for good. Returns the slots released.
   */
  releaseAbandoned(live: ReadonlySet<number>): number[] {
    const released: number[] = [];
    for (let i = 0; i < WRITE_LOCK_SLOTS; i++) {
      const holder = Atomics.load(this.holders, i);
      if (holder === 0 || live.has(holder - 1)) continue;
      if (Atomics.compareExchange(this.holders, i, holder, 0) !== holder) continue;
      Atomics.store(this.cells, i, UNLOCKED);
      Atomics.notify(this.cells, i);
      released.push(i);
    }
    return released;
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

  /**
   * Runs `work` holding the tenant's write lock if it is free now, without waiting: `{ ran: false }` when
   * another thread holds it.
   */
  tryWithLock<T>(tenantId: number, work: () => T): { ran: true; value: T } | { ran: false } {
    const i = this.slot(tenantId);
    if (Atomics.compareExchange(this.cells, i, UNLOCKED, LOCKED) !== UNLOCKED) return { ran: false };
    return { ran: true, value: this.holding(i, work) };
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
    return this.holding(i, work);
  }

  /** Runs `work` in lock slot `i`, just acquired: names this thread its holder, then releases it. */
  private holding<T>(i: number, work: () => T): T {
    Atomics.store(this.holders, i, threadId + 1);
    try {
      return work();
    } finally {
      Atomics.store(this.holders, i, 0);
      if (Atomics.exchange(this.cells, i, UNLOCKED) === CONTENDED) Atomics.notify(this.cells, i, 1);
    }
  }
}
