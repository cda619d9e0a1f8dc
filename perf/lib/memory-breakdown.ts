import { readFileSync } from 'node:fs';

/**
 * A process's resident memory by kind of mapping (Linux /proc/<pid>/smaps), in bytes: `file` (the node
 * binary, shared libraries, ICU data), `brk` (malloc's main arena), `anon` (everything else anonymous: V8's
 * heaps, malloc's other arena, blocks mapped on their own, thread stacks). Null where /proc is not there.
 */
export function residentByKind(pid: number): { file: number; brk: number; anon: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return null;
  }
  const kb = { file: 0, brk: 0, anon: 0 };
  let kind: keyof typeof kb = 'anon';
  for (const line of text.split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (mapping) {
      const name = mapping[1]!;
      kind = name === '[heap]' ? 'brk' : name.startsWith('/') ? 'file' : 'anon';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kb[kind] += Number(rss[1]);
  }
  return { file: kb.file * 1024, brk: kb.brk * 1024, anon: kb.anon * 1024 };
}
