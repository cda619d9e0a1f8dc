import { describe, expect, it } from 'vitest';
import { type LineChunk, LineChunker, LineTooLong } from '../../src/domain/line-chunker.js';

const text = (c: LineChunk) => new TextDecoder().decode(c.bytes);
const bytes = (s: string) => new TextEncoder().encode(s);
const body = (n: number) => Array.from({ length: n }, (_, i) => `{"n":${i + 1}}\n`).join('');

/** Feeds `input` in pieces of `piece` bytes and returns every chunk, the rest included. */
function chunkAll(chunker: LineChunker, input: string, piece: number): LineChunk[] {
  const all = bytes(input);
  const out: LineChunk[] = [];
  for (let at = 0; at < all.length; at += piece) out.push(...chunker.push(all.slice(at, at + piece)));
  const last = chunker.end();
  if (last) out.push(last);
  return out;
}

describe('LineChunker', () => {
  it('cuts only at line ends, numbers lines, and loses or repeats no byte, whatever the read sizes', () => {
    const input = body(500);
    for (const piece of [1, 7, 64, 1000, 100_000]) {
      const chunks = chunkAll(new LineChunker(200, 1000), input, piece);
      expect(chunks.map(text).join('')).toBe(input);
      let line = 1;
      for (const c of chunks) {
        expect(c.firstLine).toBe(line);
        expect(text(c).endsWith('\n')).toBe(true);
        expect(text(c).split('\n').length - 1).toBe(c.lines);
        line += c.lines;
      }
      expect(line).toBe(501);
    }
  });

  it('ends a chunk at the byte target or the line target, whichever comes first', () => {
    const input = body(1000); // lines of 10 to 13 bytes
    const byLines = chunkAll(new LineChunker(1 << 20, 1000, 1, 300), input, 4096);
    expect(byLines.map((c) => c.lines)).toEqual([300, 300, 300, 100]);
    const byBytes = chunkAll(new LineChunker(1300, 1000, 1, 300), input, 4096);
    for (const c of byBytes.slice(0, -1)) {
      expect(c.lines).toBeLessThan(300);
      expect(c.bytes.length).toBeGreaterThanOrEqual(1300);
      expect(c.bytes.length).toBeLessThan(1300 + 14);
    }
  });

  it('a line over the limit throws LineTooLong with its line number', () => {
    const chunker = new LineChunker(1 << 20, 20);
    chunker.push(bytes('{"a":1}\n{"b":2}\n'));
    expect(() => chunker.push(bytes(`{"c":"${'x'.repeat(30)}"}\n`))).toThrow(LineTooLong);
    let thrown: unknown;
    try {
      new LineChunker(1 << 20, 20).push(bytes(`{}\n{}\n${'x'.repeat(25)}`));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(LineTooLong);
    expect((thrown as LineTooLong).line).toBe(3);
  });

  it('wholeLines hands over what is complete and keeps the partial line; completeLines drops it', () => {
    const chunker = new LineChunker(1 << 20, 1000, 1, 100);
    chunker.push(bytes('{"n":1}\n{"n":2}\n{"n"'));
    const whole = chunker.wholeLines()!;
    expect([text(whole), whole.firstLine, whole.lines]).toEqual(['{"n":1}\n{"n":2}\n', 1, 2]);
    chunker.push(bytes(':3}\n{"n":4'));
    const rest = chunker.completeLines()!;
    expect([text(rest), rest.firstLine, rest.lines]).toEqual(['{"n":3}\n', 3, 1]);
  });

  it('the line target counts from each cut, after wholeLines too', () => {
    const chunker = new LineChunker(1 << 20, 1000, 1, 3);
    expect(chunker.push(bytes('{}\n{}\n'))).toEqual([]);
    chunker.wholeLines();
    const chunks = chunker.push(bytes('{}\n{}\n{}\n{}\n'));
    expect(chunks.map((c) => [c.firstLine, c.lines])).toEqual([[3, 3]]);
    expect(chunker.end()!.firstLine).toBe(6);
  });
});
