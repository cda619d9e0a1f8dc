/**
 * Runs `work` every `intervalMs`, never two runs at once (a run still going when the next is due makes it
 * skip), on a timer that does not keep the process alive. Returns the function that stops it.
 */
export function startPeriodic(intervalMs: number, work: () => Promise<void>): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void work().finally(() => {
      running = false;
    });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
