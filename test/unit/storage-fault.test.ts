import { describe, expect, it } from 'vitest';
import { storageProblem } from '../../src/http/storage-problem.js';
import { lostConnection, rerunOnLostConnection, storageFault } from '../../src/storage/storage-fault.js';

const withCode = (code: string) => Object.assign(new Error(code), { code });

describe('storage faults, from either backend', () => {
  it.each([
    ['SQLITE_FULL', 'disk_full'],
    ['ENOSPC', 'disk_full'],
    ['sqlite_corrupt', 'damaged'],
    ['SQLITE_BUSY_SNAPSHOT', 'busy'],
    // PostgreSQL SQLSTATEs
    ['53100', 'disk_full'],
    ['57P01', 'busy'],
    ['08006', 'busy'],
    ['53300', 'busy'],
    ['40001', 'busy'],
    ['40P01', 'busy'],
    ['55P03', 'busy'],
    ['ECONNREFUSED', 'busy'],
    // not a storage fault: a bug or bad data, answered 500 / by the caller
    ['23505', null],
    ['42P01', null],
    ['XX001', null],
  ])('%s is %s', (code, fault) => {
    expect(storageFault(withCode(code))).toBe(fault);
  });

  it('a lost PostgreSQL connection is a 503 the client may retry, never a tenant marked damaged', () => {
    const problem = storageProblem(withCode('57P01'));
    expect(problem?.code).toBe('storage_busy');
    expect(problem?.status).toBe(503);
    expect(storageProblem(withCode('53100'))?.status).toBe(507);
  });

  it('tells a lost connection (replaced, and work that may run twice rerun) from contention (only retried by the client)', () => {
    for (const code of ['57P01', '08006', 'ECONNRESET']) expect(lostConnection(withCode(code))).toBe(true);
    expect(lostConnection(new Error('Connection terminated unexpectedly'))).toBe(true);
    for (const code of ['40P01', '40001', '53300', 'SQLITE_BUSY'])
      expect(lostConnection(withCode(code))).toBe(false);
    expect(lostConnection(undefined)).toBe(false);
  });

  it('reruns work while it fails on a dropped connection, as many times as allowed, and never on another error', async () => {
    const failing = (failures: number, error: unknown) => {
      let calls = 0;
      const work = async () => {
        calls++;
        if (calls <= failures) throw error;
        return calls;
      };
      return { work, calls: () => calls };
    };
    // a pool of two whose both idle connections were dropped: the third try has a new one
    const twoDropped = failing(2, withCode('57P01'));
    expect(await rerunOnLostConnection(2, twoDropped.work)).toBe(3);
    const tooMany = failing(3, withCode('57P01'));
    await expect(rerunOnLostConnection(2, tooMany.work)).rejects.toMatchObject({ code: '57P01' });
    expect(tooMany.calls()).toBe(3);
    const other = failing(1, withCode('23505'));
    await expect(rerunOnLostConnection(5, other.work)).rejects.toMatchObject({ code: '23505' });
    expect(other.calls()).toBe(1);
  });
});
