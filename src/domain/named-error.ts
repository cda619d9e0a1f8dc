/**
 * An Error whose `name` is its class's name, so a log line, a problem's cause and a failure crossing from a
 * worker (WorkerTaskError.workerName) say which error it was instead of "Error".
 */
export class NamedError extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
