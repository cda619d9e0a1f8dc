import type { Logger } from '../obs/logger.js';
import type { StreamOutcome } from '../pool/stream-receiver.js';

/**
 * One log line when a streamed response ends: debug when complete, warn otherwise, with the worker's
 * error code and detail (why it failed) and the bytes sent. Message: "<name> stream ended[ early]".
 */
export function logStreamEnd(
  log: Logger,
  name: string,
  done: Promise<StreamOutcome>,
  fields: Record<string, unknown> = {},
  /** told of the worker's error code when the stream failed (a damaged shard is checked from here) */
  onError?: (code: string) => void,
): void {
  done.then((o) => {
    const entry = { outcome: o.status, code: o.code, detail: o.detail, bytes: o.bytes, ...fields };
    if (o.status === 'complete') log.debug(entry, `${name} stream ended`);
    else if (o.status === 'error') {
      log.error(entry, `${name} stream ended early`);
      if (o.code) onError?.(o.code);
    } else log.warn(entry, `${name} stream ended early`);
  });
}
