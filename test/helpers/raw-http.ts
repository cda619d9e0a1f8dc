import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** the socket error the client saw, if any */
  error: string | null;
}

/**
 * An HTTP/1.1 request written by hand on a socket, for what fetch cannot do: send a body piece by piece on
 * a schedule (`pieces`, each after its delay), then stall, and read whatever answer comes.
 */
export function rawRequest(
  port: number,
  head: { method: string; path: string; headers: Record<string, string> },
  pieces: { afterMs: number; bytes: string | Buffer }[],
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let raw = '';
    let error: string | null = null;
    socket.on('data', (d) => {
      raw += d.toString('utf8');
    });
    socket.on('error', (e) => {
      error = (e as NodeJS.ErrnoException).code ?? e.message;
    });
    socket.on('close', () => {
      const [top = '', ...rest] = raw.split('\r\n\r\n');
      const [statusLine = '', ...lines] = top.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
      );
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body: rest.join('\r\n\r\n'), error });
    });
    const headerText = Object.entries({ host: 'x', ...head.headers })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.write(`${head.method} ${head.path} HTTP/1.1\r\n${headerText}\r\n`);
    let at = 0;
    for (const piece of pieces) {
      at += piece.afterMs;
      setTimeout(() => {
        if (!socket.destroyed) socket.write(piece.bytes);
      }, at);
    }
  });
}
