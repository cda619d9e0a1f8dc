import { createHash, randomUUID } from 'node:crypto';
import type { IdempotencyInput } from '../../workers/idempotency.js';
import type { WorkerPool } from '../pool/pool.js';
import type { BeginResult } from '../storage/idempotency.js';
import { Problem } from './problem.js';

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export function checkIdempotencyKey(key: string | undefined): string | undefined {
  if (key === undefined) return undefined;
  if (!KEY_PATTERN.test(key)) {
    throw new Problem(
      'invalid_idempotency_key',
      'Idempotency-Key must be 1 to 255 printable ASCII characters.',
    );
  }
  return key;
}

/** One request's claim on an idempotency key, held in the tenant's shard through the pool. */
export class IdempotencyClaim {
  readonly owner: string;

  constructor(
    private readonly pool: WorkerPool,
    private readonly base: { requestId: string; tenantId: number },
    readonly scope: string,
    readonly key: string,
    private readonly bootId: string,
    private readonly ttlMs: number,
  ) {
    this.owner = `${bootId}/${randomUUID()}`;
  }

  /** The task answers per operation (`begin`: a BeginResult, the others: whether it applied). */
  private call<T extends BeginResult | boolean>(
    op: IdempotencyInput['op'],
    extra: Partial<IdempotencyInput> = {},
  ): Promise<T> {
    return this.pool.run('idempotency', {
      ...this.base,
      op,
      scope: this.scope,
      key: this.key,
      owner: this.owner,
      ...extra,
    }) as Promise<T>;
  }

  begin(): Promise<BeginResult> {
    return this.call('begin', { bootId: this.bootId, ttlMs: this.ttlMs });
  }

  complete(fingerprint: string, status: number, body: string): Promise<boolean> {
    return this.call('complete', { fingerprint, status, body, ttlMs: this.ttlMs });
  }

  release(): Promise<boolean> {
    return this.call('release');
  }
}

export function inFlightProblem(): Problem {
  return new Problem(
    'idempotency_in_flight',
    'A request with this Idempotency-Key is still being processed; retry later.',
    {
      headers: { 'Retry-After': '2' },
    },
  );
}

export function keyReusedProblem(): Problem {
  return new Problem(
    'idempotency_key_reused',
    'This Idempotency-Key was used with a different request body.',
  );
}

/** A running sha256 over what identifies a request: a few header values, then the raw body bytes. */
export function fingerprinter(parts: string[]): { update(b: Uint8Array): void; digest(): string } {
  const h = createHash('sha256');
  h.update(parts.join('\n'));
  h.update('\n\n');
  return {
    update: (b) => h.update(b),
    digest: () => h.digest('hex'),
  };
}
