import type { MessagePort } from 'node:worker_threads';
import type { Observation } from '../obs/observations.js';
import type { SerializedError } from './task-error.js';

/** Worker → main messages on a stream's port, in order: start, chunk*, then exactly one of end | error. */
export type StreamMessage =
  | { t: 'start' }
  | { t: 'chunk'; b: Uint8Array }
  | { t: 'end'; meta: unknown }
  | { t: 'error'; code: string; detail: string };

/** Main → worker messages: grant more chunks, or stop. */
export type ControlMessage = { t: 'credit'; n: number } | { t: 'cancel' };

/**
 * What every task returns through Piscina: its value (or its failure, as data: src/pool/task-error.ts) plus
 * the metric observations it made.
 */
export interface TaskEnvelope<T> {
  value: T;
  obs: Observation[];
  error?: SerializedError;
}

/** Fields every task input carries. */
export interface TaskBase {
  requestId: string;
  tenantId: number;
}

export interface StreamTaskBase extends TaskBase {
  port: MessagePort;
  credits: number;
  chunkBytes: number;
}

/** Messages of an unzipStream channel: compressed bytes in, member bytes out, one reply per message. */
export type UnzipRequest = { t: 'data'; b: Uint8Array } | { t: 'end' } | { t: 'close' };
export interface UnzipReply {
  /** the member bytes this step completed, in one buffer (transferred) */
  bytes: Uint8Array;
  /** decompressed bytes so far */
  outBytes: number;
  /** the zip body's problem (its code is a ProblemCode of the catalog; the status follows from it) */
  failure: { code: string; message: string } | null;
}
