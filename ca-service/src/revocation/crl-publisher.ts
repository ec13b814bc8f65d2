import type { CaContext } from '../context/ca-context.js';
import { lastRevokedPosition, revokedCertificatesBetween } from '../devices/certificate-queries.js';
import { IssuerUnknownError } from '../errors.js';
import type { IssuingAuthority } from '../pki/issuing-authority.js';
import { signCrl } from '../pki/crl-builder.js';
import { isUniqueViolation } from '../store/unique-violation.js';

const CRL_LIFETIME_MS = 7 * 86_400_000;
const REFRESH_BEFORE_MS = 86_400_000;

interface CrlRow {
  crl_number: number;
  kind: 'full' | 'delta';
  base_number: number | null;
  covers_position: number;
  next_update: string;
  der: Buffer;
}

/**
 * Full and delta CRLs of each issuing CA, the current one and those retired by a rotation,
 * derived from the certificates projection (itself from the events). Each issuer's CRL lists
 * the certificates it issued, signed with its own key (RFC 5280 §5: the CRL issuer is the
 * certificate issuer). CRLs are an artifact, not state: they are cached in `crls` and
 * regenerated when a certificate is revoked or the current one nears its nextUpdate. All CRLs
 * share one number sequence, so each issuer's numbers increase (RFC 5280 §5.2.3); a delta
 * completes the previous full CRL of its issuer.
 */
export class CrlPublisher {
  private generation: Promise<void> | undefined;

  constructor(private readonly ctx: Pick<CaContext, 'ca' | 'clock' | 'store'>) {}

  /** The CRL of the issuer with that SKI (hex), by default of the current issuing CA. */
  async current(kind: 'full' | 'delta', issuerKeyId?: string): Promise<Buffer> {
    const authority = this.authority(issuerKeyId);
    if (await this.needsGeneration(authority)) await this.regenerate();
    const row = await this.latest(kind, authority);
    if (!row) throw new Error(`no ${kind} CRL after generation`);
    return row.der;
  }

  /** Serialised: two revocations at once must not both take the same CRL number. */
  regenerate(): Promise<void> {
    const run = (this.generation ?? Promise.resolve()).then(async () => {
      for (const authority of this.authorities()) await this.generate(authority);
    });
    this.generation = run.catch(() => undefined);
    return run;
  }

  private authorities(): IssuingAuthority[] {
    return [this.ctx.ca.authority, ...this.ctx.ca.retired.map((retired) => retired.authority)];
  }

  private authority(issuerKeyId: string | undefined): IssuingAuthority {
    if (issuerKeyId === undefined) return this.ctx.ca.authority;
    const found = this.authorities().find(
      (authority) => authority.keyId.toString('hex') === issuerKeyId.toLowerCase(),
    );
    if (!found) throw new IssuerUnknownError(`no issuing CA with key identifier ${issuerKeyId}`);
    return found;
  }

  private async latest(
    kind: 'full' | 'delta',
    authority: IssuingAuthority,
  ): Promise<CrlRow | undefined> {
    return (await this.ctx.store.db
      .prepare(
        'SELECT * FROM crls WHERE kind = ? AND issuer_key_id = ? ORDER BY crl_number DESC LIMIT 1',
      )
      .get(kind, authority.keyId.toString('hex'))) as CrlRow | undefined;
  }

  private revokedPosition(authority: IssuingAuthority): Promise<number> {
    return lastRevokedPosition(this.ctx.store.db, authority.keyId.toString('hex'));
  }

  private async needsGeneration(authority: IssuingAuthority): Promise<boolean> {
    const full = await this.latest('full', authority);
    if (!full || !(await this.latest('delta', authority))) return true;
    if (full.covers_position < (await this.revokedPosition(authority))) return true;
    return Date.parse(full.next_update) - this.ctx.clock.now() < REFRESH_BEFORE_MS;
  }

  private async generate(authority: IssuingAuthority): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.generateOnce(authority);
        return;
      } catch (error) {
        // Another CA instance sharing the store (PostgreSQL) stored these CRL numbers first:
        // its CRLs may cover this revocation already; if not, this one numbers after them.
        if (!isUniqueViolation(error) || attempt >= 3) throw error;
      }
    }
  }

  private async generateOnce(authority: IssuingAuthority): Promise<void> {
    if (!(await this.needsGeneration(authority))) return;
    const { db } = this.ctx.store;
    const issuerKeyId = authority.keyId.toString('hex');
    const previousFull = await this.latest('full', authority);
    const covers = await this.revokedPosition(authority);
    const thisUpdate = new Date(Math.floor(this.ctx.clock.now() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + CRL_LIFETIME_MS);
    const lastNumber = (
      (await db.prepare('SELECT COALESCE(MAX(crl_number), 0) AS n FROM crls').get()) as {
        n: number;
      }
    ).n;
    const entriesAfter = async (position: number) =>
      (await revokedCertificatesBetween(db, issuerKeyId, position, covers)).map((row) => ({
        serialHex: row.serial,
        revokedAt: new Date(row.revoked_at),
        reason: row.revoke_reason,
      }));

    const fullNumber = lastNumber + 1;
    const full = await signCrl(authority, {
      crlNumber: fullNumber,
      thisUpdate,
      nextUpdate,
      entries: await entriesAfter(0),
    });
    const base = previousFull ?? { crl_number: fullNumber, covers_position: covers };
    const delta = await signCrl(authority, {
      crlNumber: fullNumber + 1,
      baseCrlNumber: base.crl_number,
      thisUpdate,
      nextUpdate,
      entries: await entriesAfter(base.covers_position),
    });
    const insert = db.prepare(
      `INSERT INTO crls (crl_number, kind, base_number, covers_position, this_update, next_update, der, issuer_key_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    await db.transaction(async () => {
      await insert.run(
        fullNumber,
        'full',
        null,
        covers,
        thisUpdate.toISOString(),
        nextUpdate.toISOString(),
        full,
        issuerKeyId,
      );
      await insert.run(
        fullNumber + 1,
        'delta',
        base.crl_number,
        covers,
        thisUpdate.toISOString(),
        nextUpdate.toISOString(),
        delta,
        issuerKeyId,
      );
    })();
  }
}
