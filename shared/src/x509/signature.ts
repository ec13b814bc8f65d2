import { type KeyObject, createPublicKey, verify } from 'node:crypto';
import { TAG, childrenOf, oidValue, readDer } from './der.js';
import { OID } from './oids.js';

export type SignatureCheck = 'valid' | 'invalid' | 'unsupported';

interface Scheme {
  readonly keyType: 'ec' | 'rsa' | 'ed25519';
  readonly hash: 'sha256' | 'sha384' | 'sha512' | null;
}

/** SHA-1, RSA-PSS and anything else are refused rather than half-supported. */
const SCHEMES: Readonly<Record<string, Scheme>> = {
  [OID.ecdsaWithSha256]: { keyType: 'ec', hash: 'sha256' },
  [OID.ecdsaWithSha384]: { keyType: 'ec', hash: 'sha384' },
  [OID.ecdsaWithSha512]: { keyType: 'ec', hash: 'sha512' },
  [OID.sha256WithRsa]: { keyType: 'rsa', hash: 'sha256' },
  [OID.sha384WithRsa]: { keyType: 'rsa', hash: 'sha384' },
  [OID.sha512WithRsa]: { keyType: 'rsa', hash: 'sha512' },
  [OID.ed25519]: { keyType: 'ed25519', hash: null },
};

const CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);
const MIN_RSA_BITS = 2048;

/**
 * Importing an SPKI costs more than verifying with it, and the same CA keys come back on every
 * validation (each device's chain shares the issuing CA and the root), so imports are kept in a
 * small LRU keyed by the SPKI bytes.
 */
const KEY_CACHE_SIZE = 256;
const keys = new Map<string, KeyObject | null>();

function keyOf(spki: Uint8Array): KeyObject | null {
  const id = Buffer.from(spki).toString('base64');
  let key = keys.get(id);
  if (key === undefined) {
    try {
      key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    } catch {
      key = null;
    }
    if (keys.size >= KEY_CACHE_SIZE) keys.delete(keys.keys().next().value ?? '');
  } else {
    keys.delete(id);
  }
  keys.set(id, key);
  return key;
}

function strongEnough(key: KeyObject, scheme: Scheme): boolean {
  if (key.asymmetricKeyType !== scheme.keyType) return false;
  const details = key.asymmetricKeyDetails;
  if (scheme.keyType === 'ec') return CURVES.has(details?.namedCurve ?? '');
  if (scheme.keyType === 'rsa') return (details?.modulusLength ?? 0) >= MIN_RSA_BITS;
  return true;
}

/**
 * Checks `signature` over `data` by the key in `spki` under the AlgorithmIdentifier `algorithm`
 * (DER). Parameters must be absent for ECDSA and Ed25519 and NULL or absent for RSA PKCS#1 v1.5.
 * Never throws: anything it cannot or will not check is `unsupported`.
 */
export function verifySignature(
  algorithm: Uint8Array,
  spki: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
): SignatureCheck {
  let scheme: Scheme | undefined;
  try {
    const fields = childrenOf(readDer(algorithm, TAG.sequence));
    scheme = SCHEMES[oidValue(fields.read(TAG.oid))];
    const params = fields.done ? undefined : fields.read();
    fields.finish();
    const paramsAllowed =
      params === undefined ||
      (scheme?.keyType === 'rsa' && params.tag === TAG.null && params.content.length === 0);
    if (!paramsAllowed) return 'unsupported';
  } catch {
    return 'unsupported';
  }
  const key = keyOf(spki);
  if (!scheme || !key || !strongEnough(key, scheme)) return 'unsupported';
  try {
    return verify(scheme.hash, data, key, signature) ? 'valid' : 'invalid';
  } catch {
    return 'invalid';
  }
}
