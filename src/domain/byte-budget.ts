/**
 * Bytes handed out across many holders, with waiting: `reserve` resolves once the bytes fit under the
 * limit (or nothing at all is held, so one item larger than the limit still goes through). Ingest holds a
 * chunk's bytes from the moment it is cut until its rows are committed, so 20 requests loading at once
 * share one bound instead of each holding its own window (issue 21: 264 MB with 20 tenants).
 */
export class ByteBudget {
  private held = 0;
  private readonly waiting: { bytes: number; resolve: () => void }[] = [];

  constructor(
    private readonly limit: number,
    /** told of every change, for the ingest_pending_bytes gauge */
    private readonly onChange: (held: number) => void = () => {},
  ) {}

  get used(): number {
    return this.held;
  }

  /** Whether nothing more fits now (new ingest requests are refused with 429 then). */
  get exhausted(): boolean {
    return this.held >= this.limit;
  }

  reserve(bytes: number): Promise<void> {
    if (this.waiting.length === 0 && this.fits(bytes)) {
      this.take(bytes);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push({ bytes, resolve }));
  }

  release(bytes: number): void {
    this.held -= bytes;
    this.onChange(this.held);
    // in order: a large reservation is not passed over forever by small ones
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes)) {
      const next = this.waiting.shift()!;
      this.take(next.bytes);
      next.resolve();
    }
  }

  private fits(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.limit;
  }

  private take(bytes: number): void {
    this.held += bytes;
    this.onChange(this.held);
  }
}
