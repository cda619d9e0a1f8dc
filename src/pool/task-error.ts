/** An error as it crosses from a worker to the main thread: its class name, code and message, on purpose. */
export interface SerializedError {
  name: string;
  message: string;
  /** SQLite's extended code (SQLITE_FULL, SQLITE_CORRUPT, ...), a Node errno code (ENOSPC), or our own */
  code?: string;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(error) };
}

/**
 * A task failed in a worker. Structured cloning would turn a SqliteError into a plain Error without its
 * code (or a plain object, which Hono does not even hand to its error handler: a bare, empty 500), so
 * workers return failures as data and the main thread throws this, with the worker's name and code.
 */
export class WorkerTaskError extends Error {
  override readonly name = 'WorkerTaskError';
  readonly code: string | undefined;
  /** the class of the error in the worker (SqliteError, RangeError, ...) */
  readonly workerName: string;

  constructor(
    readonly task: string,
    failure: SerializedError,
  ) {
    super(failure.message);
    this.code = failure.code;
    this.workerName = failure.name;
  }
}
