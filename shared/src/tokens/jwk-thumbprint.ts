import { createHash } from 'node:crypto';

export type ThumbprintInput =
  { kty: 'EC'; crv: string; x: string; y: string } | { kty: 'OKP'; crv: string; x: string };

/**
 * RFC 7638: SHA-256 over the required members only, in lexicographic order, no whitespace. Used
 * as `kid`, so the name of a key is derived from the key and cannot be pointed at another one.
 */
export function jwkThumbprint(jwk: ThumbprintInput): string {
  const canonical =
    jwk.kty === 'EC'
      ? JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
      : JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  return createHash('sha256').update(canonical).digest('base64url');
}
