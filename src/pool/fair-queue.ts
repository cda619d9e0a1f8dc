import { type PiscinaTask, queueOptionsSymbol, type TaskQueue } from 'piscina';

/** Tasks that work for no tenant in particular wait in a turn of their own. */
const NO_TENANT = -1;

/** The tenant a task works for, as Piscina's queue sees it (`queueOptionsSymbol` on the task's input). */
export interface TenantQueueOptions {
  tenantId: number;
}

/**
 * The task input with the tenant it works for attached for the queue. A symbol key: structured clone leaves
 * it out, so the worker receives the input as it was.
 */
export function forTenantQueue<T extends object>(input: T, tenantId: number | undefined): T {
  const options: TenantQueueOptions = { tenantId: tenantId ?? NO_TENANT };
  return { ...input, [queueOptionsSymbol]: options };
}

function tenantOf(task: PiscinaTask): number {
  const options = task[queueOptionsSymbol] as Partial<TenantQueueOptions> | null;
  return options?.tenantId ?? NO_TENANT;
}

/**
 * Piscina's queue of tasks waiting for a worker, taken by tenant in turns: each tenant's tasks in the order
 * they came, the tenants round robin, one task per turn. With one first-come queue, a tenant that asked
 * for 48 slow reads at once made another tenant's point read wait behind all of them (2.2–2.4 s, where it
 * took 20 ms alone); now it waits for at most one task of each tenant ahead of it in the turn.
 */
export class FairTaskQueue implements TaskQueue {
  /** Waiting tasks by tenant; the Map's order is the turn: the first key is served next. */
  private readonly byTenant = new Map<number, PiscinaTask[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Tasks of `tenantId` waiting now. */
  queuedFor(tenantId: number): number {
    return this.byTenant.get(tenantId)?.length ?? 0;
  }

  /** Tenants with at least one task waiting. */
  get tenantsWaiting(): number {
    return this.byTenant.size;
  }

  push(task: PiscinaTask): void {
    const tenant = tenantOf(task);
    const waiting = this.byTenant.get(tenant);
    if (waiting) waiting.push(task);
    else this.byTenant.set(tenant, [task]);
    this.count++;
  }

  /** Piscina puts back a task it could not hand to a worker: first of its tenant, its tenant served next. */
  unshift(task: PiscinaTask): void {
    const tenant = tenantOf(task);
    const waiting = [task, ...(this.byTenant.get(tenant) ?? [])];
    const rest = [...this.byTenant].filter(([t]) => t !== tenant);
    this.byTenant.clear();
    for (const [t, tasks] of [[tenant, waiting] as const, ...rest]) this.byTenant.set(t, tasks);
    this.count++;
  }

  shift(): PiscinaTask | null {
    const next = this.byTenant.entries().next();
    if (next.done) return null;
    const [tenant, waiting] = next.value;
    const task = waiting.shift()!;
    // the tenant's turn is over: to the back of the line if it has more waiting
    this.byTenant.delete(tenant);
    if (waiting.length > 0) this.byTenant.set(tenant, waiting);
    this.count--;
    return task;
  }

  remove(task: PiscinaTask): void {
    const tenant = tenantOf(task);
    const waiting = this.byTenant.get(tenant);
    const at = waiting?.indexOf(task) ?? -1;
    if (at === -1) return;
    waiting!.splice(at, 1);
    if (waiting!.length === 0) this.byTenant.delete(tenant);
    this.count--;
  }
}
