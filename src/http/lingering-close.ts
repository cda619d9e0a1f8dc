import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';

export interface LingerLimits {
  /** How long a connection keeps reading (and dropping) a refused body before it is closed. */
  ms: number;
  /** It is closed sooner once the client has sent nothing for this long (it is not sending: no need to wait). */
  idleMs: number;
}

const plainDestroySoon = new WeakMap<Socket, () => void>();

/**
 * Lingering close for answers sent before the request body was read (a 429 from admission control, a
 * 413, a 401): the server sends its answer and its FIN, then lets the client finish sending (the body is
 * read and dropped), for a while, before it closes. Closing at once makes the kernel reset the connection
 * when more body bytes arrive, and a client still writing its body then sees EPIPE or ECONNRESET instead
 * of the answer waiting in its receive buffer (1 ingest attempt in 159 under admission pressure, issue 21).
 * @hono/node-server drains such bodies for 500 ms only, then closes the socket; Node's own close path for
 * `Connection: close` closes it as soon as the answer is written. Both go through `socket.destroySoon()`,
 * which, while the request's body is unfinished, becomes: end our side, destroy when the client ends its
 * side or after `ms`.
 */
export function lingerOnEarlyAnswers(server: Server, limits: LingerLimits): void {
  server.on('request', (req: IncomingMessage) => {
    const socket = req.socket;
    if (!plainDestroySoon.has(socket)) plainDestroySoon.set(socket, socket.destroySoon.bind(socket));
    socket.destroySoon = () => {
      if (req.complete) plainDestroySoon.get(socket)!();
      else linger(socket, req, limits);
    };
  });
}

function linger(socket: Socket, req: IncomingMessage, limits: LingerLimits): void {
  if (socket.destroyed) return;
  let seen = socket.bytesRead;
  const close = () => {
    clearTimeout(timer);
    clearInterval(idle);
    socket.destroy();
  };
  const timer = setTimeout(close, limits.ms);
  // the client stopped sending (nothing read since the last look): no need to wait any longer
  const idle = setInterval(() => {
    if (socket.bytesRead === seen) close();
    seen = socket.bytesRead;
  }, limits.idleMs);
  timer.unref();
  idle.unref();
  socket.end(); // the answer is out; our FIN follows it, and the client can read both
  socket.once('end', close); // the client finished (or gave up): nothing more will come
  socket.once('close', () => {
    clearTimeout(timer);
    clearInterval(idle);
  });
  req.resume(); // the rest of the body is read and dropped, so the client's writes keep succeeding
}
