import type { KeyObject } from 'node:crypto';
import { createHash, createPublicKey } from 'node:crypto';
import type { JwtVerifier, ParsedCert, VerifiedJwtClaims } from '@lantern/shared';
import { createJwtVerifier, validateCertificatePath } from '@lantern/shared';

export type CaSignedTokenVerdict =
  | { ok: true; claims: VerifiedJwtClaims }
  /** `detail` is one of our own fixed strings or a verifier reason code, never token text. */
  | { ok: false; detail: string };

/**
 * A revocation page holds up to 500 entries (~110 KB as a JWS). The shared `X5cJwtVerifier`
 * stops at 16 KiB, which suits request-sized tokens, not feed pages.
 */
const MAX_TOKEN_BYTES = 4 * 1024 * 1024;
const MAX_CHAIN = 4;
const CACHE_LIMIT = 8;

interface CachedSigner {
  key: KeyObject;
  validFrom: number;
  validUntil: number;
  verifiers: Map<string, JwtVerifier>;
}

/**
 * Verifies what the CA itself signs for devices (revocation pages, server time): compact JWS
 * with `x5c` = [issuing CA, …], checked against the root pinned at enrollment. The signer must
 * be a CA certificate: a device binding key chains to the same root, and without this check
 * any enrolled device could sign a revocation page (pages may travel peer to peer).
 */
export class CaSignedTokenVerifier {
  private readonly signers = new Map<string, CachedSigner>();

  constructor(private readonly rootPem: string) {}

  /** `atSeconds` is the instant to check the chain and `exp` at, in epoch seconds. */
  verify(token: string, typ: string, atSeconds: number): CaSignedTokenVerdict {
    if (token.length > MAX_TOKEN_BYTES) return { ok: false, detail: 'token too large' };
    const x5c = x5cOf(token);
    if (x5c === null) return { ok: false, detail: 'no usable x5c header' };
    const signer = this.signer(x5c, atSeconds * 1000);
    if ('detail' in signer) return { ok: false, detail: signer.detail };
    let verifier = signer.verifiers.get(typ);
    if (!verifier) {
      verifier = createJwtVerifier({ keys: signer.key, typ, maxTokenLength: MAX_TOKEN_BYTES });
      signer.verifiers.set(typ, verifier);
    }
    const verdict = verifier.verify(token, atSeconds);
    return verdict.ok
      ? { ok: true, claims: verdict.claims }
      : { ok: false, detail: `jws ${verdict.reason}` };
  }

  private signer(x5c: string[], atMs: number): CachedSigner | { detail: string } {
    const cacheKey = createHash('sha256').update(x5c.join('.')).digest('base64url');
    const cached = this.signers.get(cacheKey);
    if (cached && atMs >= cached.validFrom && atMs <= cached.validUntil) return cached;
    const certificates = x5c.map((entry) => Buffer.from(entry, 'base64'));
    const path = validateCertificatePath({
      leaf: certificates[0] as Buffer,
      intermediates: certificates.slice(1),
      trustAnchors: [this.rootPem],
      at: new Date(atMs),
    });
    if (!path.ok) return { detail: `chain ${path.reason}` };
    const leaf = path.path[0] as ParsedCert;
    if (leaf.basicConstraints?.ca !== true) return { detail: 'signer is not a CA certificate' };
    const signer: CachedSigner = {
      key: createPublicKey({
        key: Buffer.from(leaf.subjectPublicKeyInfo),
        format: 'der',
        type: 'spki',
      }),
      validFrom: Math.max(...path.path.map((cert) => cert.notBefore.getTime())),
      validUntil: Math.min(...path.path.map((cert) => cert.notAfter.getTime())),
      verifiers: new Map(),
    };
    if (this.signers.size >= CACHE_LIMIT) this.signers.clear();
    this.signers.set(cacheKey, signer);
    return signer;
  }
}

function x5cOf(token: string): string[] | null {
  const segment = token.slice(0, Math.max(token.indexOf('.'), 0));
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  const x5c = (header as { x5c?: unknown } | null)?.x5c;
  if (!Array.isArray(x5c) || x5c.length === 0 || x5c.length > MAX_CHAIN) return null;
  return x5c.every((entry) => typeof entry === 'string' && entry.length > 0)
    ? (x5c as string[])
    : null;
}
