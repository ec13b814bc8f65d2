import type { Clock, Logger, Repeating } from '@lantern/shared';
import { base64urlDecode, runEvery, verifyEs256 } from '@lantern/shared';
import { X509Certificate } from 'node:crypto';
import { caSignedJws } from '../pki/ca-signed-jws.js';
import type { Signer } from '../pki/signer.js';
import type { EventStore } from '../store/event-store.js';
import { GENESIS_HASH } from '../store/event-store.js';

export const CHECKPOINT_TYPE = 'lantern-checkpoint+jws';

/** What the CA signs: the chain up to `position` ends in `headHash`, as of `time`. */
export interface CheckpointClaims {
  position: number;
  headHash: string;
  time: string;
}

export interface Checkpoint extends CheckpointClaims {
  /** Compact JWS (ES256, `x5c` = issuing certificate) over the claims. */
  jws: string;
}

export interface CheckpointFailure {
  position: number;
  time: string;
  reason: string;
}

export interface CheckpointKeys {
  issuingPem: string;
  /** Issuing CAs retired by rotation: checkpoints they signed before it still verify. */
  retiredIssuingPems?: readonly string[];
  /** Only needed to create checkpoints; verifying needs the certificate alone. */
  signer?: Signer;
}

/**
 * Signed checkpoints of the hash chain. The chain alone shows an edit in the middle, but whoever
 * holds the database can rewrite a suffix and recompute its hashes; a checkpoint kept elsewhere
 * (exported, or sent to another system) pins the head hash under the CA's signature, so such a
 * rewrite fails verification at the first checkpoint it covers.
 */
export class AuditCheckpoints {
  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly keys: CheckpointKeys,
  ) {}

  async create(): Promise<Checkpoint> {
    const { signer } = this.keys;
    if (!signer) throw new Error('creating a checkpoint needs the issuing CA signer');
    const head = await this.store.chainHead();
    const claims: CheckpointClaims = {
      position: head.position,
      headHash: head.hash,
      time: new Date(this.clock.now()).toISOString(),
    };
    const jws = await caSignedJws(
      { issuingPem: this.keys.issuingPem, signer },
      CHECKPOINT_TYPE,
      claims,
    );
    const checkpoint = { ...claims, jws };
    await this.store.db
      .prepare(
        'INSERT INTO audit_checkpoints (position, head_hash, signed_at, jws) VALUES (?, ?, ?, ?)',
      )
      .run(checkpoint.position, checkpoint.headHash, checkpoint.time, checkpoint.jws);
    return checkpoint;
  }

  /** Newest first. */
  async list(limit = 1000): Promise<Checkpoint[]> {
    return (
      (await this.store.db
        .prepare(
          'SELECT position, head_hash, signed_at, jws FROM audit_checkpoints ORDER BY position DESC, signed_at DESC LIMIT ?',
        )
        .all(limit)) as { position: number; head_hash: string; signed_at: string; jws: string }[]
    ).map((row) => ({
      position: row.position,
      headHash: row.head_hash,
      time: row.signed_at,
      jws: row.jws,
    }));
  }

  /**
   * Checks a checkpoint's signature against the issuing certificate (not the one it carries:
   * anyone can embed a certificate) and its head hash against the store.
   */
  async verify(
    jws: string,
  ): Promise<{ ok: true; claims: CheckpointClaims } | { ok: false; reason: string }> {
    const [header, payload, signature, extra] = jws.split('.');
    if (header === undefined || payload === undefined || signature === undefined || extra)
      return { ok: false, reason: 'not a compact JWS' };
    let claims: CheckpointClaims;
    try {
      const parsedHeader = JSON.parse(Buffer.from(base64urlDecode(header)).toString()) as {
        alg?: string;
        typ?: string;
      };
      if (parsedHeader.alg !== 'ES256' || parsedHeader.typ !== CHECKPOINT_TYPE)
        return { ok: false, reason: 'not an ES256 Lantern checkpoint' };
      claims = JSON.parse(Buffer.from(base64urlDecode(payload)).toString()) as CheckpointClaims;
      if (!Number.isSafeInteger(claims.position) || typeof claims.headHash !== 'string')
        return { ok: false, reason: 'the claims are not a checkpoint' };
      const valid = [this.keys.issuingPem, ...(this.keys.retiredIssuingPems ?? [])].some((pem) =>
        verifyEs256(
          new X509Certificate(pem).publicKey,
          Buffer.from(`${header}.${payload}`),
          base64urlDecode(signature),
          'ieee-p1363',
        ),
      );
      if (!valid) return { ok: false, reason: 'the signature does not verify with the issuing CA' };
    } catch {
      return { ok: false, reason: 'the JWS is malformed' };
    }
    const hash = claims.position === 0 ? GENESIS_HASH : await this.store.hashAt(claims.position);
    if (hash === undefined) return { ok: false, reason: `position ${claims.position} is missing` };
    if (hash !== claims.headHash)
      return { ok: false, reason: `the hash at position ${claims.position} is not the signed one` };
    return { ok: true, claims };
  }

  /** Every stored checkpoint; returns those that fail. */
  async verifyStored(): Promise<{ checked: number; failures: CheckpointFailure[] }> {
    const stored = await this.list(Number.MAX_SAFE_INTEGER);
    const failures: CheckpointFailure[] = [];
    for (const checkpoint of stored) {
      const verdict = await this.verify(checkpoint.jws);
      if (!verdict.ok)
        failures.push({
          position: checkpoint.position,
          time: checkpoint.time,
          reason: verdict.reason,
        });
    }
    return { checked: stored.length, failures };
  }

  /**
   * Signs a checkpoint every `intervalMs` when events were appended since the last one. For
   * `serve`; a store that does not answer (PostgreSQL down) is logged, not thrown out of the timer.
   */
  schedule(intervalMs: number, logger: Logger): Repeating {
    return runEvery(intervalMs, async () => {
      try {
        const last = (await this.list(1))[0];
        if (last && last.position === (await this.store.headPosition())) return;
        const checkpoint = await this.create();
        logger.info(
          { event: 'audit.checkpoint', position: checkpoint.position },
          'audit checkpoint signed',
        );
      } catch (error) {
        logger.error({ event: 'audit.checkpoint_failed', err: error }, 'audit checkpoint failed');
      }
    });
  }
}
