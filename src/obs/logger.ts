import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * JSON-lines logger on stdout. Synchronous writes keep lines whole and ordered when the main thread and
 * workers share the same file descriptor.
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, ...bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 1, sync: true }),
  );
}
