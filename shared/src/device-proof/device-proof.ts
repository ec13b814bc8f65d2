import { createHash, randomBytes } from 'node:crypto';

export const DEVICE_PROOF_TYPE = 'lantern-device-proof+jwt';
/** Request header that carries the proof on agent → CA calls. */
export const DEVICE_PROOF_HEADER = 'lantern-device-proof';
export const DEVICE_PROOF_LIFETIME_SECONDS = 60;

export interface DeviceProofClaims {
  htm: string;
  htu: string;
  iat: number;
  exp: number;
  jti: string;
  /** base64url SHA-256 of the exact request body bytes (of the empty string when none). */
  bh: string;
}

export function bodyHash(body: Uint8Array | string): string {
  return createHash('sha256').update(body).digest('base64url');
}

export interface DeviceProofInput {
  method: string;
  url: string;
  body: Uint8Array | string;
  /** base64 DER: binding certificate first, then the issuing CA. */
  x5c: readonly string[];
  nowSeconds: number;
  /** Signs with the device key; returns the 64-byte IEEE P1363 signature. */
  sign(data: Uint8Array): Uint8Array;
}

/**
 * docs/architecture.md §5: a DPoP-style proof, signed by the device key, bound to one request (method, URL,
 * body hash), short-lived, single-use (jti), carrying the chain so the CA needs no lookup to
 * check it.
 */
export function createDeviceProof(input: DeviceProofInput): string {
  const header = { alg: 'ES256', typ: DEVICE_PROOF_TYPE, x5c: input.x5c };
  const claims: DeviceProofClaims = {
    htm: input.method.toUpperCase(),
    htu: input.url,
    iat: input.nowSeconds,
    exp: input.nowSeconds + DEVICE_PROOF_LIFETIME_SECONDS,
    jti: randomBytes(16).toString('base64url'),
    bh: bodyHash(input.body),
  };
  const signingInput = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(
    JSON.stringify(claims),
  ).toString('base64url')}`;
  const signature = Buffer.from(input.sign(Buffer.from(signingInput)));
  return `${signingInput}.${signature.toString('base64url')}`;
}
