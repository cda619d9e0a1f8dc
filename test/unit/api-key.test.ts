import { describe, expect, it } from 'vitest';
import { generateApiKey, parseApiKey, secretMatches, tokensEqual } from '../../src/domain/api-key.js';

describe('api keys', () => {
  it('generates unique keys that parse back to lookup id and secret', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(a.apiKey).not.toBe(b.apiKey);
    expect(parseApiKey(a.apiKey)).toEqual({ lookupId: a.lookupId, secret: a.secret });
    expect(secretMatches(a.secret, a.secretHash)).toBe(true);
    expect(secretMatches(b.secret, a.secretHash)).toBe(false);
  });

  it('rejects malformed keys, including SQL and oversized input', () => {
    for (const bad of ['', 'of_', "of_abc' OR 1=1 --_x", 'x'.repeat(10_000), 'of_AAAAAAAAAAAA_short']) {
      expect(parseApiKey(bad)).toBeNull();
    }
  });

  it('compares admin tokens of any length without throwing', () => {
    expect(tokensEqual('s3cret', 's3cret')).toBe(true);
    expect(tokensEqual('s3cre', 's3cret')).toBe(false);
    expect(tokensEqual('', 's3cret')).toBe(false);
  });
});
