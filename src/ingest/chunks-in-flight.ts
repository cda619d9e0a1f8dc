/**
 * The chunks of one body or upload handed on and not yet committed: at most `max` at once (while they are,
 * the source is not read, so a fast client is slowed to the database's pace and memory stays bounded),
 * the first failure kept, and each chunk's bytes released from ingest's budget when it settles either way.
 * Request bodies (src/ingest/ingest-dispatch.ts) and uploads (src/jobs/upload-processor.ts) both feed
 * their chunks through one.
 */
export class ChunksInFlight {
  private readonly pending = new Set<Promise<void>>();
  /** the first chunk failure, if any: the caller stops cutting and reports it */
  failure: Error | null = null;

  constructor(private readonly max: number) {}

  get size(): number {
    return this.pending.size;
  }

  /** Follows one chunk's work: `done` with its result, `settled` when it is over (success or not). */
  track<T>(work: Promise<T>, settled: () => void, done?: (value: T) => void): void {
    const tracked: Promise<void> = work
      .then(
        (value) => done?.(value),
        (error: Error) => {
          this.failure ??= error;
        },
      )
      .finally(() => {
        settled();
        this.pending.delete(tracked);
      });
    this.pending.add(tracked);
  }

  /** Waits until another chunk may go out; throws the first failure instead. */
  async room(): Promise<void> {
    while (this.pending.size >= this.max) await Promise.race(this.pending);
    if (this.failure) throw this.failure;
  }

  /** Waits for every chunk handed on to settle. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }
}
