import { describe, expect, it } from 'vitest';
import { decideRange, etagMatches } from '../../src/http/range.js';

const etag = '"abc"';
const opts = { etag, lastModified: 'Tue, 24 Nov 2026 10:00:00 GMT' };

describe('decideRange', () => {
  it('serves single ranges, clamps the end, and handles suffixes', () => {
    expect(decideRange('bytes=0-9', 100, opts)).toEqual({ kind: 'partial', start: 0, end: 9 });
    expect(decideRange('bytes=90-', 100, opts)).toEqual({ kind: 'partial', start: 90, end: 99 });
    expect(decideRange('bytes=90-500', 100, opts)).toEqual({ kind: 'partial', start: 90, end: 99 });
    expect(decideRange('bytes=-10', 100, opts)).toEqual({ kind: 'partial', start: 90, end: 99 });
    expect(decideRange('bytes=-1000', 100, opts)).toEqual({ kind: 'partial', start: 0, end: 99 });
  });

  it('is unsatisfiable past the end, for a zero suffix, and on an empty file', () => {
    expect(decideRange('bytes=100-', 100, opts)).toEqual({ kind: 'unsatisfiable' });
    expect(decideRange('bytes=100-200', 100, opts)).toEqual({ kind: 'unsatisfiable' });
    expect(decideRange('bytes=-0', 100, opts)).toEqual({ kind: 'unsatisfiable' });
    expect(decideRange('bytes=0-', 0, opts)).toEqual({ kind: 'unsatisfiable' });
  });

  it('ignores what it does not serve: several ranges, other units, reversed or malformed ranges', () => {
    for (const h of ['bytes=0-1,5-6', 'items=0-5', 'bytes=9-3', 'bytes=a-b', 'bytes=-', 'bytes 0-5'])
      expect(decideRange(h, 100, opts), h).toEqual({ kind: 'full' });
    expect(decideRange(undefined, 100, opts)).toEqual({ kind: 'full' });
  });

  it('If-Range: honoured only for the exact strong ETag or exact date', () => {
    expect(decideRange('bytes=0-9', 100, { ...opts, ifRange: etag }).kind).toBe('partial');
    expect(decideRange('bytes=0-9', 100, { ...opts, ifRange: '"old"' }).kind).toBe('full');
    expect(decideRange('bytes=0-9', 100, { ...opts, ifRange: `W/${etag}` }).kind).toBe('full');
    expect(decideRange('bytes=0-9', 100, { ...opts, ifRange: opts.lastModified }).kind).toBe('partial');
    expect(decideRange('bytes=0-9', 100, { ...opts, ifRange: 'Mon, 23 Nov 2026 10:00:00 GMT' }).kind).toBe(
      'full',
    );
  });
});

describe('etagMatches', () => {
  it('matches lists, weak forms and *', () => {
    expect(etagMatches('"x", "abc"', etag)).toBe(true);
    expect(etagMatches('W/"abc"', etag)).toBe(true);
    expect(etagMatches('*', etag)).toBe(true);
    expect(etagMatches('"x"', etag)).toBe(false);
    expect(etagMatches(undefined, etag)).toBe(false);
  });
});
