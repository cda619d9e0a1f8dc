/**
 * Anomalies as they commit, told to this process's change streams (the SSE route), per tenant. On SQLite
 * the price intake announces what its own commits recorded; on PostgreSQL every server hears every
 * server's anomalies through LISTEN/NOTIFY (src/prices/anomaly-notifications.ts) and announces them here.
 * When that feed breaks, the streams are interrupted: they end, and their clients reconnect with
 * Last-Event-ID and read what they missed from the table, so nothing is skipped silently.
 */
import { EventEmitter } from 'node:events';
import type { PriceEventResult } from '../domain/price.js';

/** An anomaly, or null: the live feed broke and the stream must start again from the table. */
export type AnomalyListener = (result: PriceEventResult | null) => void;

const INTERRUPTED = 'interrupted';

export class AnomalyBus {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  announce(tenantId: number, result: PriceEventResult): void {
    this.emitter.emit(String(tenantId), result);
  }

  /** Every subscriber hears null: its stream ends and its client resumes from the table. */
  interrupt(): void {
    this.emitter.emit(INTERRUPTED);
  }

  /** Calls `listener` with each anomaly the tenant records from now on; returns the unsubscribe. */
  subscribe(tenantId: number, listener: AnomalyListener): () => void {
    const onInterrupt = () => listener(null);
    this.emitter.on(String(tenantId), listener);
    this.emitter.on(INTERRUPTED, onInterrupt);
    return () => {
      this.emitter.off(String(tenantId), listener);
      this.emitter.off(INTERRUPTED, onInterrupt);
    };
  }
}
