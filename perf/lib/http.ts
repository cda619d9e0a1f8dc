import { createReadStream } from 'node:fs';
import { request } from 'node:http';

export interface Answer {
  status: number;
  text: string;
}

/**
 * One HTTP request on a connection of its own. A benchmark pauses for seconds between requests (another
 * engine's step runs meanwhile), and a kept-alive connection can be closed by the server's keep-alive
 * timeout just as the next request goes out on it.
 */
export function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; file?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.file) createReadStream(options.file, { highWaterMark: 1 << 20 }).pipe(req);
    else req.end(options.body);
  });
}
