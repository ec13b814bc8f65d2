import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { keyAlgorithm } from './key-algorithm.js';
import type { JwsAlgorithm } from './jwt-types.js';
import { UnusableKeyError } from '../errors/errors.js';

/** Verification keys by `kid`, built once from a JWKS so the hot path is a single map lookup. */
export type JwtKeySet = ReadonlyMap<string, KeyObject>;

export interface ImportJwksOptions {
  /** Keys for other algorithms are left out of the set. Default: ES256 only. */
  algorithms?: readonly JwsAlgorithm[];
}

// `k` is the secret of a symmetric key: a JWKS carrying one is leaking it, like `d` for EC.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const MAX_KEYS = 64;

/**
 * Keys this verifier cannot use (another type or curve, `use: enc`, no `kid`, a point that does
 * not import) are skipped, as RFC 7517 §5 asks, so that a CA publishing a future key type does
 * not break older agents; their tokens then fail as `unknown_kid`. A JWKS that is not a key set,
 * repeats a kid or carries private parts is refused outright: that is a publishing mistake to
 * surface, not to work around.
 */
export function importJwks(jwks: unknown, options: ImportJwksOptions = {}): JwtKeySet {
  const algorithms = options.algorithms ?? ['ES256'];
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (typeof jwks !== 'object' || !Array.isArray(keys)) {
    throw new UnusableKeyError('A JWKS is an object with a `keys` array.');
  }
  if (keys.length > MAX_KEYS) {
    throw new UnusableKeyError(`A JWKS holds at most ${MAX_KEYS} keys.`);
  }
  const set = new Map<string, KeyObject>();
  for (const jwk of keys as unknown[]) {
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
      throw new UnusableKeyError('Every entry of a JWKS is a JSON object.');
    }
    const member = jwk as Record<string, unknown>;
    const leaked = PRIVATE_MEMBERS.find((name) => Object.hasOwn(member, name));
    if (leaked !== undefined) {
      throw new UnusableKeyError(`A published key carries the private member \`${leaked}\`.`);
    }
    const kid = member['kid'];
    if (typeof kid !== 'string' || kid === '') continue;
    const imported = importPublicKey(member, algorithms);
    if (imported === null) continue;
    if (set.has(kid)) throw new UnusableKeyError(`The JWKS lists kid ${kid} twice.`);
    set.set(kid, imported);
  }
  return set;
}

function importPublicKey(
  jwk: Record<string, unknown>,
  algorithms: readonly JwsAlgorithm[],
): KeyObject | null {
  const alg = declaredAlgorithm(jwk);
  if (alg === null || !algorithms.includes(alg)) return null;
  if (jwk['use'] !== undefined && jwk['use'] !== 'sig') return null;
  if (jwk['alg'] !== undefined && jwk['alg'] !== alg) return null;
  const ops = jwk['key_ops'];
  if (ops !== undefined && !(Array.isArray(ops) && ops.includes('verify'))) return null;
  const { x, y } = jwk;
  if (typeof x !== 'string') return null;
  if (alg === 'ES256' && typeof y !== 'string') return null;
  try {
    // Only the public members are passed on, so nothing else in the entry reaches OpenSSL.
    const key = createPublicKey({
      key:
        alg === 'ES256'
          ? { kty: 'EC', crv: 'P-256', x, y: y as string }
          : { kty: 'OKP', crv: 'Ed25519', x },
      format: 'jwk',
    });
    return keyAlgorithm(key) === alg ? key : null;
  } catch {
    return null;
  }
}

function declaredAlgorithm(jwk: Record<string, unknown>): JwsAlgorithm | null {
  if (jwk['kty'] === 'EC' && jwk['crv'] === 'P-256') return 'ES256';
  if (jwk['kty'] === 'OKP' && jwk['crv'] === 'Ed25519') return 'EdDSA';
  return null;
}
