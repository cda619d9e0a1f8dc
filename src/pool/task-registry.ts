/**
 * The tasks the pool can run, as types derived from their definitions: a task's name, its input and its
 * result are checked where it is called (WorkerPool.run/write/background/open/stream), the way Piscina's
 * `Piscina<T, R>` and Hono's typed routes do, so a wrong name, a missing field or a wrong result type fails
 * to compile, and "go to definition" on a task's input leads to its module.
 */

import type { MessagePort } from 'node:worker_threads';
import type * as PoolModule from '../../workers/index.js';
import type * as UpkeepModule from '../../workers/upkeep.js';
import type { StreamTaskBase, TaskEnvelope } from './protocol.js';

// biome-ignore lint/suspicious/noExplicitAny: a task's input is contravariant; any accepts every task
type AnyTask = (input: any) => Promise<TaskEnvelope<unknown>>;
type TasksOf<M> = { [K in keyof M as M[K] extends AnyTask ? K : never]: M[K] };
type InputOf<T> = T extends (input: infer I) => unknown ? I : never;
type ResultOf<T> = T extends (input: never) => Promise<TaskEnvelope<infer R>> ? R : never;

type PoolTasks = TasksOf<typeof PoolModule>;
type UpkeepTasks = TasksOf<typeof UpkeepModule>;

/** Tasks of the pool's workers (workers/index.ts), which the writer lanes run too. */
export type PoolTaskName = keyof PoolTasks & string;
export type PoolTaskInput<K extends PoolTaskName> = InputOf<PoolTasks[K]>;
export type PoolTaskResult<K extends PoolTaskName> = ResultOf<PoolTasks[K]>;

/** Tasks of the upkeep thread (workers/upkeep.ts). */
export type UpkeepTaskName = keyof UpkeepTasks & string;
export type UpkeepTaskInput<K extends UpkeepTaskName> = InputOf<UpkeepTasks[K]>;
export type UpkeepTaskResult<K extends UpkeepTaskName> = ResultOf<UpkeepTasks[K]>;

/** Streaming tasks: their port, credits and chunk size come from WorkerPool.stream, the rest from the caller. */
export type StreamTaskName = {
  [K in PoolTaskName]: PoolTaskInput<K> extends StreamTaskBase ? K : never;
}[PoolTaskName];
export type StreamTaskInput<K extends StreamTaskName> = Omit<
  PoolTaskInput<K>,
  'port' | 'credits' | 'chunkBytes'
>;

/** Duplex tasks (a port of their own, given by WorkerPool.open) that are not streams. */
export type DuplexTaskName = {
  [K in PoolTaskName]: PoolTaskInput<K> extends { port: MessagePort }
    ? K extends StreamTaskName
      ? never
      : K
    : never;
}[PoolTaskName];
export type DuplexTaskInput<K extends DuplexTaskName> = Omit<PoolTaskInput<K>, 'port'>;
