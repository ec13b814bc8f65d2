/** Thrown for any input that is not distinguished encoding; callers map it to `malformed`. */
export class DerError extends Error {
  override readonly name = 'DerError';
}

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  teletexString: 0x14,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  universalString: 0x1c,
  bmpString: 0x1e,
  sequence: 0x30,
  set: 0x31,
} as const;

/** Context-specific tag `[n]`, constructed or primitive (IMPLICIT primitive types). */
export const contextTag = (n: number, constructed: boolean): number =>
  0x80 | (constructed ? 0x20 : 0) | n;

/** One TLV. `raw` is the whole encoding (what gets signed or compared), `content` its value. */
export interface DerValue {
  readonly tag: number;
  readonly raw: Uint8Array;
  readonly content: Uint8Array;
}

/**
 * Sequential reader over the content of a constructed value. Strict DER only: definite,
 * minimal lengths and low tag numbers, because a lenient parser lets two parties disagree on
 * what a signed structure says.
 */
export class DerReader {
  private offset = 0;

  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.offset >= this.bytes.length;
  }

  peekTag(): number | undefined {
    return this.bytes[this.offset];
  }

  read(expectedTag?: number): DerValue {
    const value = readTlv(this.bytes, this.offset);
    if (expectedTag !== undefined && value.tag !== expectedTag) {
      throw new DerError(
        `expected tag 0x${expectedTag.toString(16)}, found 0x${value.tag.toString(16)}`,
      );
    }
    this.offset += value.raw.length;
    return value;
  }

  optional(tag: number): DerValue | undefined {
    return this.peekTag() === tag ? this.read(tag) : undefined;
  }

  finish(): void {
    if (!this.done) throw new DerError('unexpected trailing data');
  }
}

function readTlv(bytes: Uint8Array, start: number): DerValue {
  const tag = bytes[start];
  const first = bytes[start + 1];
  if (tag === undefined || first === undefined) throw new DerError('truncated');
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers are not used in X.509');
  let length = first;
  let header = 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0) throw new DerError('indefinite length');
    if (count > 4) throw new DerError('length too large');
    length = 0;
    for (let i = 0; i < count; i++) {
      const byte = bytes[start + 2 + i];
      if (byte === undefined) throw new DerError('truncated length');
      if (i === 0 && byte === 0) throw new DerError('non-minimal length');
      length = length * 256 + byte;
    }
    if (length < 0x80) throw new DerError('non-minimal length');
    header += count;
  }
  const end = start + header + length;
  if (end > bytes.length) throw new DerError('truncated value');
  return {
    tag,
    raw: bytes.subarray(start, end),
    content: bytes.subarray(start + header, end),
  };
}

/** The single value that must span `bytes` exactly. */
export function readDer(bytes: Uint8Array, expectedTag?: number): DerValue {
  const reader = new DerReader(bytes);
  const value = reader.read(expectedTag);
  reader.finish();
  return value;
}

export function childrenOf(value: DerValue): DerReader {
  if ((value.tag & 0x20) === 0) throw new DerError('expected a constructed value');
  return new DerReader(value.content);
}

/** Content octets of an INTEGER, checked to be minimal two's complement. */
export function integerBytes(value: DerValue): Uint8Array {
  const { content } = value;
  const [first, second] = content;
  if (first === undefined) throw new DerError('empty INTEGER');
  if (second !== undefined) {
    if ((first === 0x00 && second < 0x80) || (first === 0xff && second >= 0x80)) {
      throw new DerError('non-minimal INTEGER');
    }
  }
  return content;
}

/** A non-negative INTEGER small enough for a JS number (versions, path lengths, reasons). */
export function smallUnsigned(value: DerValue): number {
  const bytes = integerBytes(value);
  if ((bytes[0] ?? 0) & 0x80) throw new DerError('negative INTEGER');
  if (bytes.length > 6) throw new DerError('INTEGER too large');
  return bytes.reduce((acc, byte) => acc * 256 + byte, 0);
}

export function booleanValue(value: DerValue): boolean {
  if (value.tag !== TAG.boolean || value.content.length !== 1) throw new DerError('bad BOOLEAN');
  const byte = value.content[0];
  if (byte === 0xff) return true;
  if (byte === 0x00) return false;
  throw new DerError('BOOLEAN must be 0x00 or 0xFF');
}

export function oidValue(value: DerValue): string {
  if (value.tag !== TAG.oid || value.content.length === 0) throw new DerError('bad OID');
  // BigInt arcs: Lantern's own OIDs sit under 2.25.<128-bit UUID>, far above 2^53.
  const arcs: bigint[] = [];
  let current = 0n;
  let fresh = true;
  for (const byte of value.content) {
    if (fresh && byte === 0x80) throw new DerError('non-minimal OID arc');
    current = current * 128n + BigInt(byte & 0x7f);
    if (current >= 1n << 160n) throw new DerError('OID arc too large');
    fresh = (byte & 0x80) === 0;
    if (fresh) {
      arcs.push(current);
      current = 0n;
    }
  }
  if (!fresh) throw new DerError('truncated OID');
  const [head = 0n, ...rest] = arcs;
  const top = head < 40n ? 0n : head < 80n ? 1n : 2n;
  return [top, head - top * 40n, ...rest].join('.');
}

/** BIT STRING payload; DER requires the unused trailing bits to be zero. */
export function bitStringValue(value: DerValue): { bytes: Uint8Array; unusedBits: number } {
  if (value.tag !== TAG.bitString) throw new DerError('expected BIT STRING');
  const unusedBits = value.content[0];
  if (unusedBits === undefined || unusedBits > 7) throw new DerError('bad BIT STRING');
  const bytes = value.content.subarray(1);
  if (bytes.length === 0 && unusedBits !== 0) throw new DerError('bad empty BIT STRING');
  const last = bytes[bytes.length - 1] ?? 0;
  if ((last & ((1 << unusedBits) - 1)) !== 0) throw new DerError('non-zero padding bits');
  return { bytes, unusedBits };
}

const TIME_SHAPE = {
  [TAG.utcTime]: /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/,
  [TAG.generalizedTime]: /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/,
} as const;

/**
 * RFC 5280 4.1.2.5: UTCTime or GeneralizedTime, always UTC ("Z"), seconds present, no
 * fractions. Returns whole seconds since the epoch, the granularity validity is compared at.
 */
export function timeValue(value: DerValue): number {
  const shape =
    value.tag === TAG.utcTime || value.tag === TAG.generalizedTime
      ? TIME_SHAPE[value.tag]
      : undefined;
  const match =
    value.content.length <= 15 ? shape?.exec(String.fromCharCode(...value.content)) : null;
  if (!match) throw new DerError('bad Time');
  const [y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0] = match.slice(1).map(Number);
  const year = value.tag === TAG.utcTime ? (y >= 50 ? 1900 : 2000) + y : y;
  const ms = Date.UTC(year, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  if (
    back.getUTCFullYear() !== year ||
    back.getUTCMonth() !== mo - 1 ||
    back.getUTCDate() !== d ||
    back.getUTCHours() !== h ||
    back.getUTCMinutes() !== mi ||
    back.getUTCSeconds() !== s
  ) {
    throw new DerError('Time out of range');
  }
  return ms / 1000;
}
