import { createHash } from 'node:crypto';

/** TPM 2.0 constants (TCG TPM 2.0 Library, Part 2) the CA needs to read a device's evidence. */
export const TPM_ALG_ECC = 0x0023;
export const TPM_ALG_SHA256 = 0x000b;
export const TPM_ALG_NULL = 0x0010;
export const TPM_ALG_ECDSA = 0x0018;
export const TPM_ECC_NIST_P256 = 0x0003;
export const TPM_GENERATED_VALUE = 0xff544347;
export const TPM_ST_ATTEST_CERTIFY = 0x8017;

export const ATTRIBUTE = {
  fixedTPM: 1 << 1,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const;

/** A TPMT_PUBLIC of an ECC key, as much of it as the checks need, and its TPM name. */
export interface TpmEccPublic {
  nameAlg: number;
  attributes: number;
  /** TPMT_ECC_SCHEME: the scheme and its hash, NULL for an unrestricted key. */
  scheme: number;
  schemeHash: number;
  curve: number;
  x: Buffer;
  y: Buffer;
  /** nameAlg ‖ H(TPMT_PUBLIC): what the TPM certifies and binds credentials to. */
  name: Buffer;
}

/** Thrown on evidence that is not a well-formed TPM structure; the caller answers 400. */
export class TpmStructureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TpmStructureError';
  }
}

/** A big-endian reader that fails closed on truncation. */
class Reader {
  at = 0;
  constructor(
    private readonly buffer: Buffer,
    private readonly what: string,
  ) {}

  u16(): number {
    this.need(2);
    const value = this.buffer.readUInt16BE(this.at);
    this.at += 2;
    return value;
  }

  u32(): number {
    this.need(4);
    const value = this.buffer.readUInt32BE(this.at);
    this.at += 4;
    return value;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const value = this.buffer.subarray(this.at, this.at + n);
    this.at += n;
    return value;
  }

  tpm2b(): Buffer {
    return this.bytes(this.u16());
  }

  end(): void {
    if (this.at !== this.buffer.length) throw new TpmStructureError(`${this.what}: trailing bytes`);
  }

  private need(n: number): void {
    if (this.at + n > this.buffer.length) throw new TpmStructureError(`${this.what}: truncated`);
  }
}

/** A TPM2B_PUBLIC holding an ECC key (the attestation key, the device key). */
export function parseEccPublic(tpm2b: Buffer): TpmEccPublic {
  const outer = new Reader(tpm2b, 'TPM2B_PUBLIC');
  const area = outer.tpm2b();
  outer.end();
  const r = new Reader(area, 'TPMT_PUBLIC');
  if (r.u16() !== TPM_ALG_ECC) throw new TpmStructureError('TPMT_PUBLIC: not an ECC key');
  const nameAlg = r.u16();
  if (nameAlg !== TPM_ALG_SHA256)
    throw new TpmStructureError('TPMT_PUBLIC: nameAlg is not SHA-256');
  const attributes = r.u32();
  r.tpm2b(); // authPolicy
  if (r.u16() !== TPM_ALG_NULL) r.bytes(4); // symmetric: keyBits, mode
  const scheme = r.u16();
  const schemeHash = scheme === TPM_ALG_NULL ? TPM_ALG_NULL : r.u16();
  const curve = r.u16();
  if (r.u16() !== TPM_ALG_NULL) r.u16(); // kdf
  const x = r.tpm2b();
  const y = r.tpm2b();
  r.end();
  const name = Buffer.concat([u16(nameAlg), createHash('sha256').update(area).digest()]);
  return { nameAlg, attributes, scheme, schemeHash, curve, x, y, name };
}

/** TPMS_ATTEST of a TPM2_Certify: what the TPM says it certified, with which nonce. */
export interface CertifyInfo {
  extraData: Buffer;
  /** The certified object's name. */
  name: Buffer;
}

export function parseCertifyInfo(attest: Buffer): CertifyInfo {
  const r = new Reader(attest, 'TPMS_ATTEST');
  if (r.u32() !== TPM_GENERATED_VALUE)
    throw new TpmStructureError('TPMS_ATTEST: not TPM-generated');
  if (r.u16() !== TPM_ST_ATTEST_CERTIFY) throw new TpmStructureError('TPMS_ATTEST: not a certify');
  r.tpm2b(); // qualifiedSigner
  const extraData = r.tpm2b();
  r.bytes(17 + 8); // clockInfo, firmwareVersion
  const name = r.tpm2b();
  r.tpm2b(); // qualifiedName
  r.end();
  return { extraData, name };
}

/** TPMT_SIGNATURE (ECDSA, SHA-256) as `r ‖ s`, 32 bytes each. */
export function ecdsaSignatureOf(signature: Buffer): Buffer {
  const r = new Reader(signature, 'TPMT_SIGNATURE');
  if (r.u16() !== TPM_ALG_ECDSA || r.u16() !== TPM_ALG_SHA256) {
    throw new TpmStructureError('TPMT_SIGNATURE: not ECDSA with SHA-256');
  }
  const sigR = r.tpm2b();
  const sigS = r.tpm2b();
  r.end();
  if (sigR.length > 32 || sigS.length > 32) throw new TpmStructureError('TPMT_SIGNATURE: too long');
  return Buffer.concat([leftPad(sigR), leftPad(sigS)]);
}

export function leftPad(value: Buffer, size = 32): Buffer {
  if (value.length >= size) return value;
  return Buffer.concat([Buffer.alloc(size - value.length), value]);
}

export function u16(n: number): Buffer {
  return Buffer.of(n >> 8, n & 0xff);
}

export function u32(n: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(n >>> 0);
  return out;
}
