import { MessageChannel } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { StreamMessage } from '../../src/pool/protocol.js';
import { StreamSink } from '../../src/worker/stream-sink.js';

describe('StreamSink.writeBytes', () => {
  it('sends copies: a Buffer that is a view of a larger block arrives whole and stays usable', async () => {
    const { port1, port2 } = new MessageChannel();
    const chunks: Uint8Array[] = [];
    const ended = new Promise<void>((resolve) =>
      port2.on('message', (m: StreamMessage) => {
        if (m.t === 'chunk') chunks.push(m.b);
        if (m.t === 'end') resolve();
      }),
    );
    const sink = new StreamSink(port1, 1000, 64);
    // zlib hands back a view of its (larger) output block; Buffer#slice of it would be a view too
    const gz = gzipSync(Buffer.alloc(50_000, 'ab'));
    expect(gz.buffer.byteLength).toBeGreaterThan(gz.byteLength);
    const pooled = Buffer.from('x'.repeat(300)); // from Buffer's shared pool
    await sink.writeBytes(gz);
    await sink.writeBytes(pooled);
    await sink.end();
    await ended;
    port2.close();
    expect(Buffer.concat(chunks).equals(Buffer.concat([gz, pooled]))).toBe(true);
    // nothing of the caller's was transferred away
    expect(gz.byteLength).toBeGreaterThan(0);
    expect(pooled.toString()).toBe('x'.repeat(300));
  });
});
