import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = (options: { type: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

let collector: Collect | null = null;

/**
 * V8's collector (`gc`), taken the way jest's leak detector takes it: the flag set at run time, the function
 * read from a fresh context. `{ type: 'minor' }` asks for a scavenge, `{ type: 'major' }` for a full collection.
 */
export function v8Collector(): Collect {
  if (!collector) {
    setFlagsFromString('--expose-gc');
    collector = runInNewContext('gc') as Collect;
  }
  return collector;
}
