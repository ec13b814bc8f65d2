import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SealedDataInvalidError } from '../../errors.js';
import type { CredentialGate, GateVerdict } from '../credential-gate.js';
import { createInScratch } from './tpm-blobs.js';
import { TpmCommandError } from './tpm2-tools.js';
import type { Tpm2Tools } from './tpm2-tools.js';

/**
 * No `noda`: a wrong authValue on this object is a dictionary-attack failure, counted by the TPM
 * across all users and restarts (a deleted lockout row or a restored store does not reset it).
 */
const GATE_ATTRIBUTES = 'fixedtpm|fixedparent|userwithauth';
/** authValue is at most the name algorithm's digest (32 bytes); 16 bytes of KDF output in hex. */
const AUTH_BYTES = 16;

/**
 * A sealed object per credential whose authValue is derived from the password or PIN (via the
 * local KDF): checking a guess is an unseal with that authValue, and only the TPM can tell.
 */
export class TpmCredentialGate implements CredentialGate {
  readonly kind = 'tpm';

  constructor(
    private readonly tpm: Tpm2Tools,
    private readonly parent: string,
  ) {}

  enroll(secret: Uint8Array): Buffer {
    const { pub, priv } = createInScratch(
      this.tpm,
      this.parent,
      (dir) => {
        const filler = join(dir, 'filler');
        writeFileSync(filler, randomBytes(16), { mode: 0o600 });
        return ['-a', GATE_ATTRIBUTES, '-i', filler, '-p', 'file:-'];
      },
      authOf(secret),
    );
    return Buffer.concat([u16(pub.length), pub, u16(priv.length), priv]);
  }

  check(gated: Uint8Array, secret: Uint8Array): GateVerdict {
    const blob = Buffer.from(gated);
    const pubSize = blob.length >= 2 ? blob.readUInt16BE(0) : -1;
    const privAt = 2 + pubSize;
    if (
      pubSize < 0 ||
      blob.length < privAt + 2 ||
      blob.length !== privAt + 2 + blob.readUInt16BE(privAt)
    ) {
      throw new SealedDataInvalidError('the TPM credential gate blob is malformed');
    }
    const dir = mkdtempSync(join(tmpdir(), 'lantern-gate-'));
    const blobs = { pub: join(dir, 'gate.pub'), priv: join(dir, 'gate.priv') };
    try {
      writeFileSync(blobs.pub, blob.subarray(2, privAt));
      writeFileSync(blobs.priv, blob.subarray(privAt + 2));
      return this.tpm.withObject(this.parent, blobs, (context) => this.unseal(context, secret));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  private unseal(context: string, secret: Uint8Array): GateVerdict {
    try {
      this.tpm
        .run('tpm2_unseal', ['-c', context, '-p', 'file:-'], { input: authOf(secret) })
        .fill(0);
      return 'match';
    } catch (error) {
      if (error instanceof TpmCommandError && error.lockout) return 'locked';
      if (error instanceof TpmCommandError && error.authFailed) return 'mismatch';
      throw error;
    }
  }
}

function authOf(secret: Uint8Array): Buffer {
  return Buffer.from(Buffer.from(secret).subarray(0, AUTH_BYTES).toString('hex'), 'utf8');
}

function u16(n: number): Buffer {
  return Buffer.of(n >> 8, n & 0xff);
}
