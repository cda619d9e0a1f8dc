import { type FileHandle, open } from 'node:fs/promises';
import type { StagedAppend } from './staging.js';

/**
 * Commits a growing file's durable length in the background: fdatasync, then `commit(offset)`, one at a
 * time, the newest target winning. The body keeps streaming in meanwhile: the commit of an upload's
 * offset takes the shard's write lock, which a writer lane may hold for a whole transaction, and a
 * PATCH that waited for it stopped reading its socket (perf.md, uploads).
 */
class OffsetCommitter {
  private target: number;
  private committed: number;
  private running: Promise<void> | null = null;
  failure: unknown = null;

  constructor(
    private readonly file: FileHandle,
    start: number,
    private readonly commit: (offset: number) => Promise<void>,
  ) {
    this.target = start;
    this.committed = start;
  }

  /** Asks for everything up to `offset` to be made durable and committed (soon, not now). */
  request(offset: number): void {
    this.target = Math.max(this.target, offset);
    this.running ??= this.run().finally(() => {
      this.running = null;
    });
  }

  private async run(): Promise<void> {
    try {
      while (this.committed < this.target && this.failure === null) {
        const target = this.target;
        await this.file.datasync();
        await this.commit(target);
        this.committed = target;
      }
    } catch (error) {
      this.failure = error;
    }
  }

  /** Waits for the commit in flight (its failure stays in `failure`). */
  async drain(): Promise<void> {
    await this.running;
  }
}

export interface AppendOptions extends StagedAppend {
  /** The staging file. */
  path: string;
}

export interface Appended {
  offset: number;
  overflow: boolean;
  /** What stopped the body early, if anything (the caller decides the answer). */
  error: unknown;
}

/**
 * Appends a request body to a staging file at `offset`, committing the durable length every
 * `durableEvery` bytes without pausing the body, and fdatasync'ing at the end, also when the body stops
 * early (a client gone, a deadline): what arrived is kept. The caller commits the final offset.
 */
export async function appendBody(body: AsyncIterable<Buffer>, options: AppendOptions): Promise<Appended> {
  const file = await open(options.path, 'r+');
  const committer = new OffsetCommitter(file, options.offset, options.commit);
  let position = options.offset;
  let sinceCommit = 0;
  let overflow = false;
  let error: unknown = null;
  try {
    for await (const piece of body) {
      if (committer.failure !== null) throw committer.failure;
      let bytes = piece;
      if (options.length !== null && position + bytes.length > options.length) {
        bytes = bytes.subarray(0, options.length - position);
        overflow = true;
      }
      if (bytes.length) await file.write(bytes, 0, bytes.length, position);
      position += bytes.length;
      sinceCommit += bytes.length;
      if (overflow) break;
      if (sinceCommit >= options.durableEvery) {
        sinceCommit = 0;
        committer.request(position);
      }
    }
  } catch (caught) {
    error = caught;
  } finally {
    await committer.drain();
    await file.datasync();
    await file.close();
  }
  // a background commit that failed after the body's last byte is still this append's failure
  return { offset: position, overflow, error: error ?? committer.failure };
}
