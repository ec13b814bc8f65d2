import type { KeyObject } from 'node:crypto';
import { createHash } from 'node:crypto';

/** RFC 7638 thumbprint of an EC public key: SHA-256 over the required members in order. */
export function jwkThumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  const canonical = `{"crv":"${jwk.crv}","kty":"${jwk.kty}","x":"${jwk.x}","y":"${jwk.y}"}`;
  return createHash('sha256').update(canonical).digest('base64url');
}
