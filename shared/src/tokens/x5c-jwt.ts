import { createPublicKey } from 'node:crypto';
import type { ParsedCert } from '../x509/parse-certificate.js';
import type { PathFailureReason } from '../x509/validate-path.js';
import { ChainCache } from '../x509/chain-cache.js';
import type { JwsHeader, VerifiedJwtClaims } from './jwt-types.js';
import type { JwtRejectReason } from './jwt-verifier.js';
import { createJwtVerifier } from './jwt-verifier.js';
import { decodeJsonObjectSegment } from './strict-json.js';

export type X5cJwtVerdict =
  | { ok: true; header: JwsHeader; claims: VerifiedJwtClaims; path: readonly ParsedCert[] }
  | {
      ok: false;
      reason: JwtRejectReason | 'missing_x5c' | `chain_${PathFailureReason}`;
      detail?: string;
    };

export interface X5cJwtOptions {
  /** The pinned root(s). */
  trustAnchors: readonly (Uint8Array | string)[];
  typ: string;
  requiredEku?: readonly string[];
  issuer?: string;
  audience?: string;
  requiredClaims?: readonly string[];
  clockToleranceSeconds?: number;
  /** Most certificates accepted in `x5c` (leaf first). */
  maxChainLength?: number;
}

interface CachedChain {
  path: readonly ParsedCert[];
  /** Bound to the header segment the chain came from: it refuses tokens with any other. */
  verifier: ReturnType<typeof createJwtVerifier>;
  validFrom: number;
  validUntil: number;
}

const CACHE_LIMIT = 1024;

/**
 * JWTs that carry their signer's certificate chain in `x5c` (device proofs, offline session
 * tokens, signed revocation pages). A chain is validated once (`ChainCache`, by its DER) and kept
 * with a verifier bound to the token's exact header bytes, but only once a token with that header
 * has verified, so forged tokens cannot fill or churn the cache. Later tokens with the same
 * header cost one byte comparison, one signature check and the validity window; the most recent
 * chain is tried first, so a device's own stream of tokens never hashes or decodes its ~2 KB
 * header. Revocation is the caller's check: it changes between calls, the chain does not.
 */
export class X5cJwtVerifier {
  private readonly paths = new ChainCache({ maxEntries: CACHE_LIMIT });
  private readonly byHeader = new Map<string, CachedChain>();
  private last: CachedChain | undefined;

  constructor(private readonly options: X5cJwtOptions) {}

  /**
   * `chainAtSeconds` validates the chain at another instant than the claims (renewal of a
   * certificate that expired within its grace period); such verdicts are not cached.
   */
  verify(token: unknown, nowSeconds: number, chainAtSeconds = nowSeconds): X5cJwtVerdict {
    if (typeof token !== 'string' || token.length > 16 * 1024)
      return { ok: false, reason: 'malformed' };
    const nowMs = chainAtSeconds * 1000;
    const cacheable = chainAtSeconds === nowSeconds;
    const inWindow = (chain: CachedChain | undefined): chain is CachedChain =>
      chain !== undefined && nowMs >= chain.validFrom && nowMs <= chain.validUntil;
    if (cacheable && inWindow(this.last)) {
      const verdict = this.finish(this.last, token, nowSeconds);
      // Any other answer is the verdict on this token; this one only says "not this header".
      if (verdict.ok || verdict.reason !== 'header_not_allowed') return verdict;
    }
    const headerSegment = token.slice(0, Math.max(token.indexOf('.'), 0));
    const known = cacheable ? this.byHeader.get(headerSegment) : undefined;
    if (inWindow(known)) {
      const verdict = this.finish(known, token, nowSeconds);
      if (verdict.ok) this.last = known;
      return verdict;
    }
    const header = decodeJsonObjectSegment(headerSegment);
    const x5c = header?.['x5c'];
    if (
      !Array.isArray(x5c) ||
      x5c.length === 0 ||
      !x5c.every((entry) => typeof entry === 'string')
    ) {
      return { ok: false, reason: 'missing_x5c' };
    }
    if (x5c.length > (this.options.maxChainLength ?? 4)) {
      return { ok: false, reason: 'chain_depth_exceeded', detail: 'x5c is longer than allowed' };
    }
    const certificates = (x5c as string[]).map((entry) => Buffer.from(entry, 'base64'));
    const verdict = this.paths.validate({
      leaf: certificates[0] as Buffer,
      intermediates: certificates.slice(1),
      trustAnchors: this.options.trustAnchors,
      at: new Date(nowMs),
      ...(this.options.requiredEku ? { requiredEku: this.options.requiredEku } : {}),
    });
    if (!verdict.ok)
      return { ok: false, reason: `chain_${verdict.reason}`, detail: verdict.detail };
    const leaf = verdict.path[0] as ParsedCert;
    const key = createPublicKey({
      key: Buffer.from(leaf.subjectPublicKeyInfo),
      format: 'der',
      type: 'spki',
    });
    const chain: CachedChain = {
      path: verdict.path,
      verifier: createJwtVerifier({
        keys: key,
        header: headerSegment,
        typ: this.options.typ,
        ...(this.options.issuer === undefined ? {} : { issuer: this.options.issuer }),
        ...(this.options.audience === undefined ? {} : { audience: this.options.audience }),
        ...(this.options.requiredClaims ? { requiredClaims: this.options.requiredClaims } : {}),
        ...(this.options.clockToleranceSeconds === undefined
          ? {}
          : { clockToleranceSeconds: this.options.clockToleranceSeconds }),
      }),
      validFrom: Math.max(...verdict.path.map((cert) => cert.notBefore.getTime())),
      validUntil: Math.min(...verdict.path.map((cert) => cert.notAfter.getTime())),
    };
    const result = this.finish(chain, token, nowSeconds);
    if (result.ok && cacheable) {
      if (this.byHeader.size >= CACHE_LIMIT)
        this.byHeader.delete(this.byHeader.keys().next().value as string);
      this.byHeader.set(headerSegment, chain);
      this.last = chain;
    }
    return result;
  }

  private finish(chain: CachedChain, token: string, nowSeconds: number): X5cJwtVerdict {
    const verdict = chain.verifier.verify(token, nowSeconds);
    if (!verdict.ok) return verdict;
    return { ok: true, header: verdict.header, claims: verdict.claims, path: chain.path };
  }
}
