/**
 * On PostgreSQL, every server hears every server's anomalies (issue 17): one connection per process
 * LISTENs on the channel the price writer notifies in its transaction (delivered at commit, in commit
 * order), and announces each anomaly on the process's bus. When the connection is lost the bus interrupts
 * the open streams (their clients resume from the table) and the listener reconnects; once it listens
 * again it interrupts them once more, for the streams opened while it was down.
 */
import type pg from 'pg';
import type { PriceEventResult } from '../domain/price.js';
import type { Logger } from '../obs/logger.js';
import { loadPgDriver } from '../storage/postgres/driver.js';
import { ANOMALY_CHANNEL } from '../storage/postgres/prices.js';
import type { AnomalyBus } from './anomaly-bus.js';

const RECONNECT_MS = 1000;

export async function listenForAnomalies(
  url: string,
  bus: AnomalyBus,
  log: Logger,
): Promise<{ stop(): Promise<void> }> {
  let client: pg.Client | null = null;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const connect = async (): Promise<void> => {
    const { Client } = await loadPgDriver();
    const c = new Client({ connectionString: url });
    c.on('notification', (message) => {
      try {
        const { tenantId, result } = JSON.parse(message.payload ?? '') as {
          tenantId: number;
          result: PriceEventResult;
        };
        bus.announce(tenantId, result);
      } catch (error) {
        log.error({ err: error }, 'an anomaly notification could not be read');
      }
    });
    c.on('error', (error) => {
      log.warn(
        { err: error },
        'the anomaly notification connection failed: streams interrupted, reconnecting',
      );
      lost(c);
    });
    c.on('end', () => lost(c));
    await c.connect();
    await c.query(`LISTEN ${ANOMALY_CHANNEL}`);
    client = c;
  };
  const lost = (c: pg.Client) => {
    if (client !== c || stopped) return;
    client = null;
    bus.interrupt();
    c.end().catch(() => {});
    const again = () => {
      if (stopped) return;
      connect().then(
        () => {
          // streams opened while the feed was down missed what committed meanwhile: they restart too
          bus.interrupt();
          log.info('anomaly notifications listening again');
        },
        (error) => {
          log.warn({ err: error }, 'reconnecting the anomaly notifications failed');
          retry = setTimeout(again, RECONNECT_MS);
        },
      );
    };
    retry = setTimeout(again, RECONNECT_MS);
  };
  await connect();
  return {
    async stop() {
      stopped = true;
      clearTimeout(retry);
      await client?.end();
    },
  };
}
