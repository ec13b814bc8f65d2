import { SealedDataInvalidError } from '../errors.js';
import type { OfflineCredential } from './offline-credential.js';
import { derivePasswordKey, matchesPasswordVerifier } from './password-verifier.js';
import { sealedColumn } from '../keys/sealed-columns.js';
import { statement } from '../store/statements.js';

/**
 * The password as the first factor of an offline sign-in: compared with the local verifier
 * derived at the last online sign-in. `totp` goes along for the MFA step that follows.
 */
export function passwordCredential(password: string, totp?: string): OfflineCredential {
  return {
    method: 'password',
    eventMethod: 'password',
    amr: ['pwd'],
    ...(totp === undefined ? {} : { totp }),
    async check(agent, grant) {
      const row = statement<[string], { sealed: Buffer; paramsJson: string }>(
        agent.store.db,
        `SELECT sealed, params_json AS paramsJson FROM verifiers
           WHERE user_id = ? AND kind = 'password' AND credential_id = ''`,
      ).get(grant.userId);
      if (!row) return 'missing';
      const gated = gateOf(row.paramsJson);
      // A verifier of the other tier is never used: on a TPM device a plain verifier written
      // into the store would be guessable off the TPM, and the gate is not the file tier's.
      if (gated !== (agent.credentialGate !== undefined)) return 'missing';
      let key: Buffer;
      try {
        key = agent.dataKey.open(row.sealed, sealedColumn.passwordVerifier(grant.userId));
      } catch (error) {
        if (error instanceof SealedDataInvalidError) return 'missing';
        throw error;
      }
      try {
        if (agent.credentialGate !== undefined) {
          const candidate = await derivePasswordKey(password, row.paramsJson);
          if (candidate === null) return 'missing';
          try {
            const verdict = agent.credentialGate.check(key, candidate);
            return verdict === 'locked' ? 'hardware_locked' : verdict;
          } finally {
            candidate.fill(0);
          }
        }
        return (await matchesPasswordVerifier(password, key, row.paramsJson))
          ? 'match'
          : 'mismatch';
      } finally {
        key.fill(0);
      }
    },
  };
}

/** `gate` in `params_json`: the sealed column holds a TPM gate object, not a comparable key. */
export function gateOf(paramsJson: string): boolean {
  try {
    return (JSON.parse(paramsJson) as { gate?: unknown }).gate === 'tpm';
  } catch {
    return false;
  }
}
