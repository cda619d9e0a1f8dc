import { NamedError } from '../domain/named-error.js';
/**
 * A schema-less Thrift compact-protocol codec: it reads any struct into a tree that keeps every field's id
 * and wire type, and writes such a tree back byte for byte. Parquet footers are Thrift compact structs; this
 * is what lets us edit one (shift offsets, merge row groups) without generated Thrift code. One codec,
 * reader and writer side by side, a little past ~300 lines.
 */

export enum WireType {
  Stop = 0,
  True = 1,
  False = 2,
  Byte = 3,
  I16 = 4,
  I32 = 5,
  I64 = 6,
  Double = 7,
  Binary = 8,
  List = 9,
  Set = 10,
  Map = 11,
  Struct = 12,
}

export type ThriftValue =
  | boolean
  | number
  | bigint
  | Uint8Array
  | ThriftStruct
  | EncodedStruct
  | { elementType: WireType; items: ThriftValue[] }
  | { keyType: WireType; valueType: WireType; entries: [ThriftValue, ThriftValue][] };

/**
 * A struct already encoded, written as its bytes: a long list of structs (a Parquet footer's row
 * groups) is then written without holding every item parsed at once. Written only, never read.
 */
export interface EncodedStruct {
  encoded: Uint8Array;
}

export interface ThriftField {
  id: number;
  type: WireType;
  value: ThriftValue;
}

export type ThriftStruct = ThriftField[];

export class ThriftError extends NamedError {
  readonly code = 'thrift_malformed';
}

class Reader {
  pos = 0;
  constructor(private readonly bytes: Uint8Array) {}

  byte(): number {
    if (this.pos >= this.bytes.length) throw new ThriftError('unexpected end of Thrift data');
    return this.bytes[this.pos++]!;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 70n) throw new ThriftError('varint too long');
    }
  }

  zigzag(): bigint {
    const n = this.varint();
    return (n >> 1n) ^ -(n & 1n);
  }

  take(length: number): Uint8Array {
    if (length < 0 || this.pos + length > this.bytes.length)
      throw new ThriftError('binary runs past the end');
    const out = this.bytes.slice(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  value(type: WireType, depth: number): ThriftValue {
    if (depth > 64) throw new ThriftError('nesting too deep');
    switch (type) {
      case WireType.True:
        return true;
      case WireType.False:
        return false;
      case WireType.Byte:
        return (this.byte() << 24) >> 24;
      case WireType.I16:
      case WireType.I32:
        return Number(this.zigzag());
      case WireType.I64:
        return this.zigzag();
      case WireType.Double: {
        const view = new DataView(this.take(8).buffer);
        return view.getFloat64(0, true);
      }
      case WireType.Binary:
        return this.take(Number(this.varint()));
      case WireType.List:
      case WireType.Set: {
        const header = this.byte();
        const elementType = (header & 0x0f) as WireType;
        const size = header >> 4 === 0x0f ? Number(this.varint()) : header >> 4;
        const items: ThriftValue[] = [];
        for (let i = 0; i < size; i++) {
          // booleans inside containers are one byte each: 1 true, 2 false
          items.push(
            elementType === WireType.True || elementType === WireType.False
              ? this.byte() === WireType.True
              : this.value(elementType, depth + 1),
          );
        }
        return { elementType, items };
      }
      case WireType.Map: {
        const size = Number(this.varint());
        if (size === 0) return { keyType: WireType.Stop, valueType: WireType.Stop, entries: [] };
        const types = this.byte();
        const keyType = (types >> 4) as WireType;
        const valueType = (types & 0x0f) as WireType;
        const entries: [ThriftValue, ThriftValue][] = [];
        for (let i = 0; i < size; i++)
          entries.push([this.value(keyType, depth + 1), this.value(valueType, depth + 1)]);
        return { keyType, valueType, entries };
      }
      case WireType.Struct:
        return this.struct(depth + 1);
      default:
        throw new ThriftError(`unknown wire type ${type}`);
    }
  }

  struct(depth = 0): ThriftStruct {
    const fields: ThriftStruct = [];
    let lastId = 0;
    for (;;) {
      const header = this.byte();
      const type = (header & 0x0f) as WireType;
      if (type === WireType.Stop) return fields;
      const delta = header >> 4;
      const id = delta === 0 ? Number(this.zigzag()) : lastId + delta;
      lastId = id;
      fields.push({ id, type, value: this.value(type, depth) });
    }
  }
}

class Writer {
  /** the output so far, grown by doubling (not a number per byte: footers run to megabytes) */
  private out = new Uint8Array(256);
  private length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.out.length) return;
    const grown = new Uint8Array(Math.max(2 * this.out.length, this.length + n));
    grown.set(this.out.subarray(0, this.length));
    this.out = grown;
  }

  byte(b: number): void {
    this.reserve(1);
    this.out[this.length++] = b & 0xff;
  }

  varint(n: bigint): void {
    let v = BigInt.asUintN(64, n);
    while (v >= 0x80n) {
      this.byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.byte(Number(v));
  }

  zigzag(n: bigint): void {
    this.varint((n << 1n) ^ (n >> 63n));
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.out.set(b, this.length);
    this.length += b.length;
  }

  value(type: WireType, value: ThriftValue): void {
    switch (type) {
      case WireType.True:
      case WireType.False:
        return; // carried by the field header
      case WireType.Byte:
        this.byte(value as number);
        return;
      case WireType.I16:
      case WireType.I32:
        this.zigzag(BigInt(value as number));
        return;
      case WireType.I64:
        this.zigzag(BigInt(value as bigint | number));
        return;
      case WireType.Double: {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setFloat64(0, value as number, true);
        this.bytes(b);
        return;
      }
      case WireType.Binary: {
        const b = value as Uint8Array;
        this.varint(BigInt(b.length));
        this.bytes(b);
        return;
      }
      case WireType.List:
      case WireType.Set: {
        const { elementType, items } = value as { elementType: WireType; items: ThriftValue[] };
        if (items.length < 15) this.byte((items.length << 4) | elementType);
        else {
          this.byte(0xf0 | elementType);
          this.varint(BigInt(items.length));
        }
        for (const item of items) {
          if (elementType === WireType.True || elementType === WireType.False)
            this.byte(item ? WireType.True : WireType.False);
          else this.value(elementType, item);
        }
        return;
      }
      case WireType.Map: {
        const { keyType, valueType, entries } = value as {
          keyType: WireType;
          valueType: WireType;
          entries: [ThriftValue, ThriftValue][];
        };
        this.varint(BigInt(entries.length));
        if (entries.length === 0) return;
        this.byte((keyType << 4) | valueType);
        for (const [k, v] of entries) {
          this.value(keyType, k);
          this.value(valueType, v);
        }
        return;
      }
      case WireType.Struct:
        if (Array.isArray(value)) this.struct(value);
        else this.bytes((value as EncodedStruct).encoded);
        return;
      default:
        throw new ThriftError(`unknown wire type ${type}`);
    }
  }

  struct(fields: ThriftStruct): void {
    let lastId = 0;
    for (const field of fields) {
      const type =
        field.type === WireType.True || field.type === WireType.False
          ? field.value
            ? WireType.True
            : WireType.False
          : field.type;
      const delta = field.id - lastId;
      if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
      else {
        this.byte(type);
        this.zigzag(BigInt(field.id));
      }
      lastId = field.id;
      this.value(type, field.value);
    }
    this.byte(WireType.Stop);
  }

  result(): Uint8Array {
    return this.out.slice(0, this.length);
  }
}

export function readStruct(bytes: Uint8Array): ThriftStruct {
  return new Reader(bytes).struct();
}

export function writeStruct(fields: ThriftStruct): Uint8Array {
  const writer = new Writer();
  writer.struct(fields);
  return writer.result();
}

export function field(struct: ThriftStruct, id: number): ThriftField | undefined {
  return struct.find((f) => f.id === id);
}

/** Sets (or adds, keeping ids ascending) a field. */
export function setField(struct: ThriftStruct, id: number, type: WireType, value: ThriftValue): void {
  const existing = field(struct, id);
  if (existing) {
    existing.type = type;
    existing.value = value;
    return;
  }
  struct.push({ id, type, value });
  struct.sort((a, b) => a.id - b.id);
}

export function removeFields(struct: ThriftStruct, ids: readonly number[]): ThriftStruct {
  return struct.filter((f) => !ids.includes(f.id));
}
