/**
 * Arrival sequence of ingested rows: grows with every call in a process and, across processes, with the
 * clock (microseconds since the epoch, or one past the last value when the clock has not moved). Writers
 * that commit out of order compare it to keep the latest line's values (a customer's name and email);
 * between two servers it orders writes as well as their clocks agree, which is all two concurrent
 * requests to different servers can mean by "latest".
 */
let last = 0;

export function nextWriteSeq(now = Date.now()): number {
  last = Math.max(last + 1, now * 1000);
  return last;
}
