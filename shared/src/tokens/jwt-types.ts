/** The JWS algorithms Lantern produces and accepts; everything else is refused by name. */
export type JwsAlgorithm = 'ES256' | 'EdDSA';

/** A protected header as the verifier hands it back: `alg` already checked against the allow-list. */
export interface JwsHeader {
  alg: JwsAlgorithm;
  kid?: string;
  typ?: string;
  cty?: string;
  /** Base64 DER certificates, leaf first (offline session tokens and device proofs carry one). */
  x5c?: string[];
  [parameter: string]: unknown;
}

/** What a signer may put in the header; `alg` comes from the key, never from the caller. */
export interface JwsHeaderInput {
  alg?: never;
  kid?: string;
  typ?: string;
  cty?: string;
  x5c?: string[];
  [parameter: string]: unknown;
}

export interface JwtClaims {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  /** NumericDate: seconds since the epoch. */
  exp?: number;
  nbf?: number;
  iat?: number;
  jti?: string;
  [claim: string]: unknown;
}

/** Claims of a token that passed verification: it had to carry `exp`. */
export type VerifiedJwtClaims = JwtClaims & { exp: number };

/** A JSON Web Key as it arrives from the wire: nothing about it is trusted yet. */
export interface Jwk {
  kty?: unknown;
  crv?: unknown;
  x?: unknown;
  y?: unknown;
  kid?: unknown;
  use?: unknown;
  alg?: unknown;
  key_ops?: unknown;
  [member: string]: unknown;
}

export interface Jwks {
  keys: readonly Jwk[];
}

/** The only shape Lantern publishes: a public signing key named by its RFC 7638 thumbprint. */
export type PublicSigningJwk =
  | { kty: 'EC'; crv: 'P-256'; x: string; y: string; kid: string; use: 'sig'; alg: 'ES256' }
  | { kty: 'OKP'; crv: 'Ed25519'; x: string; kid: string; use: 'sig'; alg: 'EdDSA' };

export interface PublicJwks {
  keys: PublicSigningJwk[];
}
