import { createHash } from 'node:crypto';
import type { ParsedCert } from './parse-certificate.js';
import {
  type CertificateInput,
  type PathValidationInput,
  type PathVerdict,
  validateCertificatePath,
} from './validate-path.js';

interface CachedPath {
  readonly verdict: PathVerdict & { ok: true };
  /** Whole seconds: the window in which every certificate of the path is valid. */
  readonly notBefore: number;
  readonly notAfter: number;
}

export interface ChainCacheOptions {
  /** Least recently used entries are dropped beyond this (default 1024). */
  readonly maxEntries?: number;
}

const bytesOf = (input: CertificateInput): Uint8Array =>
  typeof input === 'string'
    ? Buffer.from(input, 'utf8')
    : input instanceof Uint8Array
      ? input
      : input.der;

/** Everything but `at` and `isRevoked`, which are re-checked on every hit. */
function keyOf(input: PathValidationInput): string {
  const hash = createHash('sha256');
  const section = (tag: string, items: readonly Uint8Array[]): void => {
    hash.update(`${tag}:${items.length};`);
    for (const item of items) hash.update(`${item.length}:`).update(item);
  };
  section('leaf', [bytesOf(input.leaf)]);
  section('intermediates', (input.intermediates ?? []).map(bytesOf));
  section('anchors', input.trustAnchors.map(bytesOf));
  section('crls', (input.crls ?? []).map(bytesOf));
  hash.update(
    `eku:${(input.requiredEku ?? []).join(',')};depth:${input.maxDepth ?? 'default'};revocation:${input.revocationCheck ?? 'default'}`,
  );
  return hash.digest('base64url');
}

const seconds = (date: Date): number => date.getTime() / 1000;

/**
 * Memoises successful validations for hot paths that see the same chain again and again (every
 * offline session token carries the same x5c). A hit is only reused while `at` lies inside the
 * validity window shared by the whole path, and `isRevoked` is asked again every time, so a
 * cached verdict can never outlive a certificate or a revocation. Failures, and verdicts that
 * relied on CRLs, are not cached.
 */
export class ChainCache {
  private readonly entries = new Map<string, CachedPath>();
  private readonly maxEntries: number;

  constructor(options: ChainCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 1024;
  }

  get size(): number {
    return this.entries.size;
  }

  validate(input: PathValidationInput): PathVerdict {
    const key = keyOf(input);
    const at = Math.floor(input.at.getTime() / 1000);
    const hit = this.entries.get(key);
    if (hit && at >= hit.notBefore && at <= hit.notAfter) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      const revoked = this.revokedOnPath(hit.verdict.path, input.isRevoked);
      return revoked
        ? { ok: false, reason: 'revoked', detail: `"${revoked.subject}" is revoked` }
        : hit.verdict;
    }
    const verdict = validateCertificatePath(input);
    // A CRL's "not revoked" expires at its nextUpdate, not with the path: never reused.
    if (verdict.ok && (input.crls ?? []).length === 0) {
      this.entries.delete(key);
      this.entries.set(key, {
        verdict,
        notBefore: Math.max(...verdict.path.map((cert) => seconds(cert.notBefore))),
        notAfter: Math.min(...verdict.path.map((cert) => seconds(cert.notAfter))),
      });
      for (const oldest of this.entries.keys()) {
        if (this.entries.size <= this.maxEntries) break;
        this.entries.delete(oldest);
      }
    }
    return verdict;
  }

  clear(): void {
    this.entries.clear();
  }

  /** The validator asks about every certificate but the anchor; so does a hit. */
  private revokedOnPath(
    path: readonly ParsedCert[],
    isRevoked: PathValidationInput['isRevoked'],
  ): ParsedCert | undefined {
    return isRevoked ? path.slice(0, -1).find((cert) => isRevoked(cert)) : undefined;
  }
}
