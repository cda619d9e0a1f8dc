import { describe, expect, it } from 'vitest';
import { jsonBytes, Utf8Builder } from '../../src/formats/utf8-builder.js';
import { random as seeded } from '../helpers/random.js';

const utf8 = new TextEncoder();

/** Text that crosses every UTF-8 length: ASCII, 2-byte, 3-byte, and 4-byte (a surrogate pair). */
const PIECES = [
  'a',
  'ok ',
  'é',
  'Zoë',
  '北京',
  '“Ω”',
  '😀',
  'x😀y',
  '\n',
  '"',
  '\\',
  '\u2028',
  // longer than the builder gathers before encoding: written at once, after what was gathered
  'é😀'.repeat(9_000),
  'x'.repeat(20_000),
];

describe('Utf8Builder', () => {
  it('gives the bytes TextEncoder gives of the pieces joined, growing from a tiny buffer', () => {
    const random = seeded(7);
    for (const initial of [1, 3, 4, 64]) {
      const builder = new Utf8Builder(initial);
      for (let round = 0; round < 20; round++) {
        const pieces = Array.from(
          { length: Math.floor(random() * 40) },
          () => PIECES[Math.floor(random() * PIECES.length)]!,
        );
        for (const p of pieces) builder.append(p);
        const joined = pieces.join('');
        // at least a byte per UTF-16 unit, at most the bytes: what is gathered counts a unit a byte
        expect(builder.size).toBeGreaterThanOrEqual(joined.length);
        expect(builder.size).toBeLessThanOrEqual(utf8.encode(joined).length);
        const bytes = builder.take();
        expect(Buffer.from(bytes).equals(Buffer.from(utf8.encode(joined)))).toBe(true);
        expect(builder.size).toBe(0);
      }
    }
  });

  it('hands out a copy of its own: transferring or changing it leaves the builder whole', () => {
    const builder = new Utf8Builder(8);
    builder.append('first');
    const first = builder.take();
    expect(first.byteOffset).toBe(0);
    expect(first.buffer.byteLength).toBe(first.byteLength);
    structuredClone(first.buffer, { transfer: [first.buffer] });
    builder.append('second');
    expect(new TextDecoder().decode(builder.take())).toBe('second');
  });

  it('reset drops what was written', () => {
    const builder = new Utf8Builder();
    builder.append('dropped');
    builder.reset();
    builder.append('kept');
    expect(new TextDecoder().decode(builder.take())).toBe('kept');
  });
});

describe('jsonBytes', () => {
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

  it('is JSON.stringify, byte for byte, whatever the value and depth', () => {
    const nullProto = Object.assign(Object.create(null) as object, { a: 1, b: 'ü' });
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    const values: unknown[] = [
      { data: [{ key: '2025-06-01T00:00:00Z', orders: 3, p50: null }], meta: { elapsed_ms: 1.5 } },
      { a: undefined, b: () => 1, c: Symbol('s'), d: [undefined, () => 1, Symbol('t'), null], e: 'x' },
      [new Date(0), { toJSON: () => 'custom' }, new Point(1, 2), nullProto],
      { nested: { deeper: { deepest: [1, [2, [3]]] } }, empty: {}, list: [] },
      // biome-ignore lint/suspicious/noSparseArray: a hole is written as null, as JSON.stringify does
      [1, , 3],
      { '': 'empty key', 'quote"key': '\u2028 line separator', emoji: '😀', bigNumber: 1e21, neg: -0 },
      'just a string',
      42,
      null,
      [],
      {},
    ];
    for (const value of values)
      for (const depth of [0, 1, 2, 3, 5])
        expect(decode(jsonBytes(value, new Utf8Builder(4), depth)), JSON.stringify(value)).toBe(
          JSON.stringify(value),
        );
  });

  it('writes what JSON.stringify leaves out at the top as null, where an answer has to be a document', () => {
    expect(decode(jsonBytes(undefined, new Utf8Builder()))).toBe('null');
  });

  it('throws where JSON.stringify throws (a BigInt), and the builder serves the next answer', () => {
    const builder = new Utf8Builder();
    expect(() => jsonBytes({ data: [{ ok: 1 }, { n: 1n }] }, builder)).toThrow(TypeError);
    expect(builder.size).toBeGreaterThan(0);
    expect(decode(jsonBytes({ ok: true }, builder))).toBe('{"ok":true}');
  });
});
