import type { SqlDatabase } from '../store/sql-database.js';
import type { CaContext } from '../context/ca-context.js';
import type { Projection } from '../store/event-store.js';
import { statement } from '../store/statements.js';
import { deviceReport } from '../sync/device-receipts.js';

/** A passkey of the CA's web origin, as its side table holds it. */
export interface WebAuthnCredentialRow {
  credential_id: string;
  user_id: string;
  tenant_id: string;
  public_key: Buffer;
  counter: number;
  /** JSON array of AuthenticatorTransportFuture. */
  transports: string;
  user_verified: number;
  device_type: string;
  backed_up: number;
  created_at: string;
  last_used_at: string | null;
}

export async function webAuthnCredential(
  db: SqlDatabase,
  credentialId: string,
): Promise<WebAuthnCredentialRow | undefined> {
  return (await db
    .prepare('SELECT * FROM webauthn_credentials WHERE credential_id = ?')
    .get(credentialId)) as WebAuthnCredentialRow | undefined;
}

export async function userWebAuthnCredentials(
  db: SqlDatabase,
  userId: string,
): Promise<WebAuthnCredentialRow[]> {
  return (await db
    .prepare(
      'SELECT * FROM webauthn_credentials WHERE user_id = ? ORDER BY created_at, credential_id',
    )
    .all(userId)) as WebAuthnCredentialRow[];
}

export const hasCaPasskey = async (db: SqlDatabase, userId: string): Promise<boolean> =>
  (await db.prepare('SELECT 1 FROM webauthn_credentials WHERE user_id = ? LIMIT 1').get(userId)) !==
  undefined;

export async function insertWebAuthnCredential(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  credential: {
    credentialId: string;
    userId: string;
    tenantId: string;
    publicKey: Uint8Array;
    counter: number;
    transports: readonly string[];
    userVerified: boolean;
    deviceType: string;
    backedUp: boolean;
  },
): Promise<void> {
  await ctx.store.db
    .prepare(
      `INSERT INTO webauthn_credentials (credential_id, user_id, tenant_id, public_key, counter,
         transports, user_verified, device_type, backed_up, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      credential.credentialId,
      credential.userId,
      credential.tenantId,
      Buffer.from(credential.publicKey),
      credential.counter,
      JSON.stringify(credential.transports),
      credential.userVerified ? 1 : 0,
      credential.deviceType,
      credential.backedUp ? 1 : 0,
      new Date(ctx.clock.now()).toISOString(),
    );
}

/**
 * Stores the counter of a verified assertion. The update only succeeds while the stored counter
 * is still lower (or both stay 0, for authenticators without a counter), so two requests racing
 * with one assertion cannot both pass. `unknown`: the passkey was removed since it was read.
 */
export async function advanceCounter(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  credentialId: string,
  counter: number,
): Promise<'advanced' | 'regressed' | 'unknown'> {
  const advanced =
    (
      await ctx.store.db
        .prepare(
          `UPDATE webauthn_credentials SET counter = ?, last_used_at = ?
         WHERE credential_id = ? AND (counter < ? OR (counter = 0 AND ? = 0))`,
        )
        .run(counter, new Date(ctx.clock.now()).toISOString(), credentialId, counter, counter)
    ).changes === 1;
  if (advanced) return 'advanced';
  return (await webAuthnCredential(ctx.store.db, credentialId)) ? 'regressed' : 'unknown';
}

export interface PasskeyView {
  credentialId: string;
  /** Null for a passkey of the CA's web origin; the device id for one reported by a device. */
  deviceId: string | null;
  enrolledAt: string;
  /** Only for CA passkeys: the CA checks their counter and flags itself. */
  counter?: number;
  transports?: string[];
  userVerified?: boolean;
  lastUsedAt?: string | null;
}

interface PasskeyRow {
  credential_id: string;
  device_id: string | null;
  enrolled_at: string;
}

/**
 * Who holds a credential id: a passkey a device reported (with that device) or one of the CA's
 * web origin (no device).
 */
export async function passkeyOwner(
  db: SqlDatabase,
  credentialId: string,
): Promise<{ userId: string; deviceId: string | null } | undefined> {
  const row = (await statement(
    db,
    `SELECT user_id, device_id FROM user_passkeys WHERE credential_id = ?
     UNION ALL SELECT user_id, NULL FROM webauthn_credentials WHERE credential_id = ?`,
  ).get(credentialId, credentialId)) as { user_id: string; device_id: string | null } | undefined;
  return row === undefined ? undefined : { userId: row.user_id, deviceId: row.device_id };
}

/** Every passkey of a user, the CA's own and those devices reported (the projection below). */
export async function userPasskeys(db: SqlDatabase, userId: string): Promise<PasskeyView[]> {
  const rows = (await db
    .prepare(
      'SELECT credential_id, device_id, enrolled_at FROM user_passkeys WHERE user_id = ? ORDER BY enrolled_at, credential_id',
    )
    .all(userId)) as PasskeyRow[];
  const views: PasskeyView[] = [];
  for (const row of rows) {
    const own =
      row.device_id === null ? await webAuthnCredential(db, row.credential_id) : undefined;
    views.push({
      credentialId: row.credential_id,
      deviceId: row.device_id,
      enrolledAt: row.enrolled_at,
      ...(own === undefined
        ? {}
        : {
            counter: own.counter,
            transports: JSON.parse(own.transports) as string[],
            userVerified: own.user_verified === 1,
            lastUsedAt: own.last_used_at,
          }),
    });
  }
  return views;
}

/**
 * `user_passkeys`, rebuilt from `identity.user.mfa_enrolled` / `mfa_removed` of kind webauthn.
 * The side table of CA passkeys (public keys, counters) is not a projection: erasing a user
 * deletes it here, in the erasure's own transaction, and replaying an erasure is a no-op.
 */
export const passkeysProjection: Projection = {
  name: 'passkeys',
  tables: ['user_passkeys'],
  events: new Set([
    'identity.user.erased',
    'identity.user.mfa_enrolled',
    'identity.user.mfa_removed',
  ]),
  async apply(db, event) {
    switch (event.eventType) {
      case 'identity.user.mfa_enrolled': {
        const { kind, credentialId, userId, deviceId } = event.payload;
        if (kind !== 'webauthn' || typeof credentialId !== 'string') break;
        if ((await deviceReport(db, event.eventId)) === 'inert') break;
        db.prepare(
          `INSERT INTO user_passkeys (credential_id, tenant_id, user_id, device_id, enrolled_at)
           VALUES (?, ?, ?, ?, ?) ON CONFLICT (credential_id) DO NOTHING`,
        ).run(credentialId, event.tenantId, userId, deviceId ?? null, event.occurredAt);
        break;
      }
      case 'identity.user.mfa_removed': {
        const { kind, credentialId, userId } = event.payload;
        if (kind !== 'webauthn') break;
        if (typeof credentialId === 'string') {
          db.prepare('DELETE FROM user_passkeys WHERE credential_id = ? AND user_id = ?').run(
            credentialId,
            userId,
          );
        } else {
          db.prepare('DELETE FROM user_passkeys WHERE user_id = ?').run(userId);
        }
        break;
      }
      case 'identity.user.erased':
        db.prepare('DELETE FROM user_passkeys WHERE user_id = ?').run(event.payload.userId);
        db.prepare('DELETE FROM webauthn_credentials WHERE user_id = ?').run(event.payload.userId);
        break;
    }
  },
};
