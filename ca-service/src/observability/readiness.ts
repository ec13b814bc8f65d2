import { randomBytes, verify } from 'node:crypto';
import type { CaMaterial } from '../pki/issuing-authority.js';

export interface ReadinessCheck {
  name: string;
  check(): Promise<boolean> | boolean;
}

/** The issuing key answers: a probe is signed and the signature checks out with its public key. */
export function signerLoaded(ctx: { ca: Pick<CaMaterial, 'authority'> }): ReadinessCheck {
  return {
    name: 'signer',
    check: async () => {
      const { signer } = ctx.ca.authority;
      const probe = randomBytes(32);
      const signature = await signer.sign(probe, 'der');
      return verify('sha256', probe, signer.publicKey, signature);
    },
  };
}

/**
 * For the event backbone to register when NATS is configured (`--nats`): ready only while the
 * relay's connection is up. Without NATS there is no such check, the outbox simply waits.
 */
export function natsConnected(isConnected: () => Promise<boolean> | boolean): ReadinessCheck {
  return { name: 'nats', check: () => isConnected() };
}
