import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PreparedBackend, SERVER_BACKENDS } from '../helpers/backends.js';
import { removeDir, startServer, type TestServer } from '../helpers/server.js';

/**
 * An answer sent before the body was read (401 here; 429 from admission control takes the same path) must
 * reach a client that is still sending its body and reads only once it has sent it all, as simple
 * clients do. Before the lingering close, the server closed the connection 500 ms after answering, the
 * client's next writes were reset, and the answer in its receive buffer was lost with them.
 */
for (const backend of SERVER_BACKENDS)
  describe.skipIf(backend.skip !== null)(`early answers on ${backend.name}`, () => {
    let s: TestServer;
    let prepared: PreparedBackend;
    beforeAll(async () => {
      prepared = await backend.prepare();
      s = await startServer({ args: prepared.args }); // the key is looked up in the backend's catalog
    });
    afterAll(async () => {
      await s?.stop();
      if (s) removeDir(s.dataDir);
      await prepared?.cleanup();
    });

    /** Sends headers and a body of `chunks` x 64 KiB, one chunk every `everyMs`, then reads the whole answer. */
    function slowPost(path: string, headers: Record<string, string>, chunks: number, everyMs: number) {
      return new Promise<{ answer: string; error: string | null }>((resolve) => {
        const socket = connect(s.port, '127.0.0.1');
        const length = chunks * 65536;
        let answer = '';
        let error: string | null = null;
        socket.pause(); // read nothing until the body is sent
        socket.on('data', (d) => {
          answer += d.toString('latin1');
        });
        socket.on('error', (e) => {
          error = (e as NodeJS.ErrnoException).code ?? e.message;
        });
        socket.on('close', () => resolve({ answer, error }));
        const head = Object.entries({ ...headers, 'content-length': String(length), host: 'x' })
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join('');
        socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n`);
        let sent = 0;
        const timer = setInterval(() => {
          if (socket.destroyed) return clearInterval(timer);
          socket.write(Buffer.alloc(65536, 32));
          if (++sent === chunks) {
            clearInterval(timer);
            socket.resume(); // now read the answer, as a client that writes first and reads after would
          }
        }, everyMs);
      });
    }

    describe('answers sent before the body was read', () => {
      it('reach a client still sending a body for seconds (lingering close)', async () => {
        const { answer, error } = await slowPost(
          '/api/v1/ingest/orders/',
          { authorization: 'Bearer of_not-a-key', 'content-type': 'application/x-ndjson' },
          40,
          50,
        );
        expect(error).toBeNull();
        expect(answer).toMatch(/^HTTP\/1\.1 401/);
        expect(answer).toContain('"code":"invalid_api_key"');
      });
    });
  });
