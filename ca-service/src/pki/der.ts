import { createHash, randomBytes } from 'node:crypto';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

export function toPem(der: Uint8Array | ArrayBuffer, label = 'CERTIFICATE'): string {
  const base64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString(
    'base64',
  );
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Every PEM block with the given label, in order; throws if there is none. */
export function pemBlocks(pem: string, label: string): Buffer[] {
  const blocks: Buffer[] = [];
  for (const match of pem.matchAll(PEM_BLOCK)) {
    if (match[1] === label)
      blocks.push(Buffer.from((match[2] ?? '').replace(/\s+/g, ''), 'base64'));
  }
  if (blocks.length === 0) throw new TypeError(`no ${label} PEM block`);
  return blocks;
}

export function fromPem(pem: string, label = 'CERTIFICATE'): Buffer {
  const [first] = pemBlocks(pem, label);
  return first as Buffer;
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** RFC 5280 §4.1.2.2: positive, at most 20 octets; 128 random bits, top bit clear. */
export function randomSerial(): Buffer {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x01;
  return serial;
}
