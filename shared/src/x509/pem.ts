import { DerError } from './der.js';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/]*={0,2}$/;

/** RFC 7468 labels, plus the bare "CRL" that @peculiar/x509 writes. */
export type PemLabel = 'CERTIFICATE' | 'X509 CRL' | 'CRL';

/** RFC 7468 text: base64 in lines of 64 between the label's lines. */
export function toPem(der: Uint8Array | ArrayBuffer, label = 'CERTIFICATE'): string {
  const bytes = der instanceof ArrayBuffer ? new Uint8Array(der) : der;
  const lines =
    Buffer.from(bytes)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The DER of the first block with this label, for PEM this process or its own CA wrote. */
export function fromPem(pem: string, label = 'CERTIFICATE'): Buffer {
  for (const [, blockLabel, body] of pem.matchAll(PEM_BLOCK)) {
    if (blockLabel === label) return Buffer.from((body ?? '').replace(/\s+/g, ''), 'base64');
  }
  throw new TypeError(`no ${label} PEM block`);
}

/**
 * DER bytes from either DER or a PEM text (string or bytes) holding exactly one block with one
 * of the given labels: the strict reading, for what came from outside. Always returns a private
 * copy so later changes to the caller's buffer cannot alter what was validated.
 */
export function toDer(input: Uint8Array | string, labels: readonly PemLabel[]): Uint8Array {
  if (typeof input !== 'string' && input[0] === 0x30) return new Uint8Array(input);
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('latin1');
  const blocks = [...text.matchAll(PEM_BLOCK)];
  const [block] = blocks;
  if (blocks.length !== 1 || !block || !labels.includes(block[1] as PemLabel)) {
    throw new DerError(`expected DER or exactly one PEM block labelled ${labels.join(' or ')}`);
  }
  const body = (block[2] ?? '').replace(/\s+/g, '');
  if (!BASE64_BODY.test(body) || body.length % 4 !== 0) throw new DerError('bad PEM base64');
  return new Uint8Array(Buffer.from(body, 'base64'));
}
