import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** One file of the built console, held in memory with its gzip form (the whole console is ~150 KiB). */
export interface ConsoleFile {
  body: Uint8Array<ArrayBuffer>;
  gzip: Uint8Array<ArrayBuffer> | null;
  type: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/** Asset names the build makes: a name, a content hash, an extension; nothing that could leave the folder. */
const ASSET_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9]+)+$/;

/**
 * The console's built files (tools/build-console.ts writes them to dist/console). Read once and kept:
 * assets are named by their hash, so a file under one name never changes while the process runs, and
 * index.html is re-read only when a rebuild replaced it.
 */
export class ConsoleAssets {
  private readonly cache = new Map<string, ConsoleFile | null>();
  /** the modification time of the index.html cached: a rebuild writes a new one */
  private indexMtimeMs = -1;

  constructor(private readonly dir: string) {}

  /** The page itself, or null when the console was not built. */
  index(): ConsoleFile | null {
    const path = join(this.dir, 'index.html');
    const mtimeMs = existsSync(path) ? statSync(path).mtimeMs : -1;
    if (mtimeMs !== this.indexMtimeMs) {
      this.cache.delete('index.html');
      this.indexMtimeMs = mtimeMs;
    }
    return this.load('index.html', path);
  }

  asset(name: string): ConsoleFile | null {
    if (!ASSET_NAME.test(name)) return null;
    return this.load(name, join(this.dir, 'assets', name));
  }

  private load(key: string, path: string): ConsoleFile | null {
    if (this.cache.has(key)) return this.cache.get(key) ?? null;
    const type = TYPES[extname(path)];
    if (!type || !existsSync(path)) return null;
    const body = new Uint8Array(readFileSync(path));
    const file: ConsoleFile = {
      body,
      gzip: body.length > 1024 ? new Uint8Array(gzipSync(body, { level: 9 })) : null,
      type,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    };
    this.cache.set(key, file);
    return file;
  }
}

/**
 * The console's Content-Security-Policy: its own scripts, styles and API only (no inline code, no other
 * origin, no framing). Styles set from script through CSSOM (chart sizes, bar widths) are not inline styles.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const CONSOLE_SECURITY_HEADERS = {
  'Content-Security-Policy': CONSOLE_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
};
