/** A one-line progress bar on stderr (redrawn on a terminal, a line a second otherwise). */
export class Progress {
  private lastLine = 0;
  private readonly started = performance.now();

  constructor(
    private readonly quiet = false,
    private readonly tty = Boolean(process.stderr.isTTY),
  ) {}

  say(text: string, final = false): void {
    if (this.quiet) return;
    if (this.tty) process.stderr.write(`\r${text.padEnd(78)}${final ? '\n' : ''}`);
    else if (final || Date.now() - this.lastLine > 1000) {
      this.lastLine = Date.now();
      process.stderr.write(`${text}\n`);
    }
  }

  /** `done` of `total` bytes, `moved` of them in this run (for the rate). */
  bar(done: number, total: number, moved: number, final = false): void {
    const seconds = (performance.now() - this.started) / 1000;
    const rate = seconds > 0 ? moved / seconds : 0;
    const share = total > 0 ? Math.min(1, done / total) : 1;
    const width = 30;
    const filled = Math.round(share * width);
    this.say(
      `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(share * 100).toFixed(1)}% ${mb(done)}/${mb(total)} ${mb(rate)}/s`,
      final,
    );
  }
}

export const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
