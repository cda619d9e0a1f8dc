/**
 * A worker gone quiet gives back what its last load left behind (issue 21, item 8). A pool worker stays
 * for the server's life, and once the load ends nothing runs in it to close its shard connections (they
 * close after a task, when idle for 10 s) or to make V8 collect: its old generation stays at the size the
 * load grew it to, and its page caches stay resident. So when no task has run on the thread for `quietMs`,
 * it closes the connections no task holds and asks V8 for one full collection; the main thread's idle
 * `malloc_trim` then hands the freed pages back to the system.
 */
export interface IdleCollectorOptions {
  /** how long the thread must have run no task before it collects */
  quietMs: number;
  /** what it does then: close idle connections, collect */
  collect: () => void;
  setTimer?: (run: () => void, ms: number) => { unref?: () => unknown };
  clearTimer?: (timer: unknown) => void;
}

/** Counts the thread's running tasks and collects once after each quiet spell of `quietMs`. */
export class IdleCollector {
  private running = 0;
  private timer: unknown = null;
  private readonly setTimer: NonNullable<IdleCollectorOptions['setTimer']>;
  private readonly clearTimer: NonNullable<IdleCollectorOptions['clearTimer']>;

  constructor(private readonly options: IdleCollectorOptions) {
    this.setTimer = options.setTimer ?? ((run, ms) => setTimeout(run, ms));
    this.clearTimer = options.clearTimer ?? ((timer) => clearTimeout(timer as NodeJS.Timeout));
  }

  taskStarted(): void {
    this.running++;
    this.disarm();
  }

  taskEnded(): void {
    this.running = Math.max(0, this.running - 1);
    if (this.running > 0) return;
    this.disarm();
    const timer = this.setTimer(() => {
      this.timer = null;
      if (this.running === 0) this.options.collect();
    }, this.options.quietMs);
    // a quiet thread's pending collection must not keep it alive (a lane exits when idle)
    timer.unref?.();
    this.timer = timer;
  }

  private disarm(): void {
    if (this.timer === null) return;
    this.clearTimer(this.timer);
    this.timer = null;
  }
}
