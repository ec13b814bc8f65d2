import type { CaContext } from '../context/ca-context.js';
import { signCrl } from '../pki/crl-builder.js';

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

interface RevokedRow {
  serial: string;
  revoked_at: string;
  revoke_reason: string;
}

/**
 * Full and delta CRLs of the issuing CA, derived from the certificates projection (itself from
 * the events). CRLs are an artifact, not state: they are cached in `crls` and regenerated when
 * a certificate is revoked or the current one nears its nextUpdate. Full and delta CRLs share
 * one number sequence (RFC 5280 §5.2.3); the delta completes the previous full CRL.
 */
export class CrlPublisher {
  private generation: Promise<void> | undefined;

  constructor(private readonly ctx: CaContext) {}

  async current(kind: 'full' | 'delta'): Promise<Buffer> {
    if (this.needsGeneration()) await this.regenerate();
    const row = this.latest(kind);
    if (!row) throw new Error(`no ${kind} CRL after generation`);
    return row.der;
  }

  /** Serialised: two revocations at once must not both take the same CRL number. */
  regenerate(): Promise<void> {
    const run = (this.generation ?? Promise.resolve()).then(() => this.generate());
    this.generation = run.catch(() => undefined);
    return run;
  }

  private latest(kind: 'full' | 'delta'): CrlRow | undefined {
    return this.ctx.store.db
      .prepare('SELECT * FROM crls WHERE kind = ? ORDER BY crl_number DESC LIMIT 1')
      .get(kind) as CrlRow | undefined;
  }

  private revokedPosition(): number {
    const row = this.ctx.store.db
      .prepare('SELECT COALESCE(MAX(revoked_position), 0) AS position FROM certificates')
      .get() as { position: number };
    return row.position;
  }

  private needsGeneration(): boolean {
    const full = this.latest('full');
    if (!full || !this.latest('delta')) return true;
    if (full.covers_position < this.revokedPosition()) return true;
    return Date.parse(full.next_update) - this.ctx.clock.now() < REFRESH_BEFORE_MS;
  }

  private async generate(): Promise<void> {
    if (!this.needsGeneration()) return;
    const { db } = this.ctx.store;
    const previousFull = this.latest('full');
    const covers = this.revokedPosition();
    const thisUpdate = new Date(Math.floor(this.ctx.clock.now() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + CRL_LIFETIME_MS);
    const lastNumber = (
      db.prepare('SELECT COALESCE(MAX(crl_number), 0) AS n FROM crls').get() as { n: number }
    ).n;
    const entriesAfter = (position: number) =>
      (
        db
          .prepare(
            `SELECT serial, revoked_at, revoke_reason FROM certificates
             WHERE revoked_position > ? AND revoked_position <= ? ORDER BY revoked_position`,
          )
          .all(position, covers) as RevokedRow[]
      ).map((row) => ({
        serialHex: row.serial,
        revokedAt: new Date(row.revoked_at),
        reason: row.revoke_reason,
      }));

    const fullNumber = lastNumber + 1;
    const full = await signCrl(this.ctx.ca.authority, {
      crlNumber: fullNumber,
      thisUpdate,
      nextUpdate,
      entries: entriesAfter(0),
    });
    const base = previousFull ?? { crl_number: fullNumber, covers_position: covers };
    const delta = await signCrl(this.ctx.ca.authority, {
      crlNumber: fullNumber + 1,
      baseCrlNumber: base.crl_number,
      thisUpdate,
      nextUpdate,
      entries: entriesAfter(base.covers_position),
    });
    const insert = db.prepare(
      `INSERT INTO crls (crl_number, kind, base_number, covers_position, this_update, next_update, der)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    db.transaction(() => {
      insert.run(
        fullNumber,
        'full',
        null,
        covers,
        thisUpdate.toISOString(),
        nextUpdate.toISOString(),
        full,
      );
      insert.run(
        fullNumber + 1,
        'delta',
        base.crl_number,
        covers,
        thisUpdate.toISOString(),
        nextUpdate.toISOString(),
        delta,
      );
    })();
  }
}
