import { readdirSync, readlinkSync } from 'node:fs';

/** Files of this process (every thread's) open on `path` or a file named from it (its WAL, say); Linux. */
export function filesOpenOn(path: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith(path);
    } catch {
      return false;
    }
  }).length;
}
