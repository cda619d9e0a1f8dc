import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createGzip, type Gzip } from 'node:zlib';

const FLUSH_AT = 1 << 20;

/**
 * A text file written in ~1 MiB pieces, optionally gzip-compressed on the way, waiting for 'drain' so
 * memory stays flat however large the file grows. Gzip output is deterministic (no timestamp).
 */
export class DatasetFile {
  private parts: string[] = [];
  private length = 0;
  private readonly file: WriteStream;
  private readonly sink: Gzip | WriteStream;
  rows = 0;

  constructor(
    readonly path: string,
    gzip: boolean,
  ) {
    this.file = createWriteStream(path);
    if (gzip) {
      const z = createGzip({ level: 6 });
      z.pipe(this.file);
      this.sink = z;
    } else this.sink = this.file;
  }

  async line(text: string): Promise<void> {
    this.rows++;
    this.parts.push(text);
    this.length += text.length;
    if (this.length >= FLUSH_AT) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.length === 0) return;
    const text = this.parts.join('');
    this.parts = [];
    this.length = 0;
    if (!this.sink.write(text)) await once(this.sink, 'drain');
  }

  async close(): Promise<void> {
    await this.flush();
    const finished = once(this.file, 'finish');
    this.sink.end();
    await finished;
  }
}
