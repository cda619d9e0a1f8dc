import type { MessagePort } from 'node:worker_threads';
import { NamedError } from '../domain/named-error.js';
import { Utf8Builder } from '../formats/utf8-builder.js';
import type { ControlMessage, StreamMessage } from '../pool/protocol.js';

export class StreamCancelled extends NamedError {
  constructor() {
    super('stream cancelled by the consumer');
  }
}

/**
 * The worker end of a stream. Text is gathered into chunks of about `chunkBytes` (encoded as UTF-8 into a
 * buffer the sink keeps, src/formats/utf8-builder.ts); each chunk costs one credit, and with no credit
 * left the producer awaits until the consumer grants one. So the producer is never more than `credits`
 * chunks ahead, and a consumer that goes away (cancel) stops it at its next write.
 */
export class StreamSink {
  private credits: number;
  private readonly pending: Utf8Builder;
  private wake: (() => void) | null = null;
  private cancelledFlag = false;
  private finished = false;
  chunksSent = 0;
  bytesSent = 0;

  constructor(
    private readonly port: MessagePort,
    credits: number,
    private readonly chunkBytes: number,
  ) {
    this.credits = credits;
    this.pending = new Utf8Builder(chunkBytes + 16 * 1024);
    port.on('message', (m: ControlMessage) => {
      if (m.t === 'credit') this.credits += m.n;
      else if (m.t === 'cancel') this.cancelledFlag = true;
      const wake = this.wake;
      this.wake = null;
      wake?.();
    });
    this.post({ t: 'start' });
  }

  get cancelled(): boolean {
    return this.cancelledFlag;
  }

  /** Queues text; sends a chunk (waiting for credit) once enough has gathered. */
  async write(text: string): Promise<void> {
    this.pending.append(text);
    if (this.pending.size >= this.chunkBytes) await this.flush();
  }

  /**
   * Sends bytes (after any gathered text), in chunks of at most `chunkBytes`. The chunks are copies, so the
   * caller's buffer is never transferred away (detached) under it. (Not `slice`: on a Buffer it is a view
   * of the same memory, and a Buffer from zlib or Buffer's pool is a view of a larger block.)
   */
  async writeBytes(bytes: Uint8Array): Promise<void> {
    await this.flush();
    for (let at = 0; at < bytes.length; at += this.chunkBytes)
      await this.send(new Uint8Array(bytes.subarray(at, Math.min(bytes.length, at + this.chunkBytes))));
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    await this.send(this.pending.take());
  }

  private async send(bytes: Uint8Array): Promise<void> {
    while (this.credits <= 0 && !this.cancelledFlag) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
    if (this.cancelledFlag) throw new StreamCancelled();
    this.credits--;
    this.chunksSent++;
    this.bytesSent += bytes.byteLength;
    // A fresh buffer owns its ArrayBuffer, so it can be transferred instead of copied.
    const owned =
      bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
    this.post({ t: 'chunk', b: owned }, [owned.buffer as ArrayBuffer]);
  }

  /** Flushes and closes the stream normally. */
  async end(meta: unknown = null): Promise<void> {
    await this.flush();
    this.finish({ t: 'end', meta });
  }

  /** Closes the stream with a failure; `trailer` (e.g. an in-band error line) is sent first when possible. */
  fail(code: string, detail: string, trailer?: string): void {
    if (trailer && !this.cancelledFlag) {
      this.pending.append(trailer);
      const bytes = this.pending.take();
      this.post({ t: 'chunk', b: bytes }, [bytes.buffer]);
    }
    this.finish({ t: 'error', code, detail });
  }

  private finish(message: StreamMessage): void {
    if (this.finished) return;
    this.finished = true;
    this.post(message);
    this.port.close();
  }

  private post(message: StreamMessage, transfer: ArrayBuffer[] = []): void {
    this.port.postMessage(message, transfer);
  }
}
