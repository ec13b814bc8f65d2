import { SealedDataInvalidError } from '../errors.js';
import type { OfflineCredential } from './offline-signin.js';
import { matchesPasswordVerifier } from './password-verifier.js';
import { sealedColumn } from './sealed-columns.js';

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
      const row = agent.store.db
        .prepare<[string], { sealed: Buffer; paramsJson: string }>(
          `SELECT sealed, params_json AS paramsJson FROM verifiers
           WHERE user_id = ? AND kind = 'password' AND credential_id = ''`,
        )
        .get(grant.userId);
      if (!row) return 'missing';
      let key: Buffer;
      try {
        key = agent.dataKey.open(row.sealed, sealedColumn.passwordVerifier(grant.userId));
      } catch (error) {
        if (error instanceof SealedDataInvalidError) return 'missing';
        throw error;
      }
      try {
        return (await matchesPasswordVerifier(password, key, row.paramsJson))
          ? 'match'
          : 'mismatch';
      } finally {
        key.fill(0);
      }
    },
  };
}
