import { fromPem } from '@lantern/shared';
import type { Signer } from './signer.js';

/** The issuing CA as a JWS signer: its key, and its certificate for `x5c`. */
export interface CaJwsKey {
  issuingPem: string;
  signer: Signer;
}

/**
 * A compact JWS (ES256) by the issuing CA with its certificate in `x5c`: what the CA says to
 * devices (revocation pages, server time, token keys), checked by an agent against its pinned
 * root, and the audit checkpoints, checked against the issuing certificate.
 */
export async function caSignedJws(key: CaJwsKey, typ: string, claims: object): Promise<string> {
  const header = { alg: 'ES256', typ, x5c: [fromPem(key.issuingPem).toString('base64')] };
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(
    JSON.stringify(claims),
  ).toString('base64url')}`;
  const signature = await key.signer.sign(Buffer.from(input), 'ieee-p1363');
  return `${input}.${signature.toString('base64url')}`;
}
