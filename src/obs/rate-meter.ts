/**
 * Counts events in one-second buckets over a sliding window, so "rows per second right now" and
 * "tasks drained per second" are cheap to read without keeping every timestamp.
 */
export class RateMeter {
  private readonly buckets: Float64Array;
  private readonly stamps: Float64Array;

  constructor(
    private readonly windowSeconds = 10,
    private readonly now: () => number = Date.now,
  ) {
    this.buckets = new Float64Array(windowSeconds);
    this.stamps = new Float64Array(windowSeconds);
  }

  add(amount = 1): void {
    const second = Math.floor(this.now() / 1000);
    const slot = second % this.windowSeconds;
    if (this.stamps[slot] !== second) {
      this.stamps[slot] = second;
      this.buckets[slot] = 0;
    }
    this.buckets[slot]! += amount;
  }

  /** Events per second over the completed seconds of the window (the current partial second is excluded). */
  perSecond(): number {
    const current = Math.floor(this.now() / 1000);
    let total = 0;
    for (let i = 0; i < this.windowSeconds; i++) {
      const age = current - this.stamps[i]!;
      if (age >= 1 && age <= this.windowSeconds - 1) total += this.buckets[i]!;
    }
    return total / (this.windowSeconds - 1);
  }
}
