import type { Clock, DataResidency, Logger } from '@lantern/shared';
import { EventValidator, createIdGenerator, createLogger, fromPem } from '@lantern/shared';
import Database from 'better-sqlite3';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { countUsableKeysCreatedBy } from '../api-keys/api-key-queries.js';
import { apiKeysProjection } from '../api-keys/api-keys-projection.js';
import { activeSessionCounts } from '../auth/session-queries.js';
import type { AuthPolicy, CaContext } from '../context/ca-context.js';
import { DEFAULT_AUTH_POLICY } from '../context/ca-context.js';
import { attributeUntrackedCertificates } from '../devices/certificate-queries.js';
import { countActiveDevicesExpiringBetween } from '../devices/device-queries.js';
import { DEVICE_REVOCATION_REASONS } from '../devices/devices.js';
import { devicesProjection } from '../devices/devices-projection.js';
import { enrollmentTokensProjection } from '../enrollment/enrollment-tokens-projection.js';
import { CaNotInitializedError } from '../errors.js';
import { keyIdentifier, subjectOf } from '../pki/certificate-builder.js';
import { sha256Hex } from '../pki/der.js';
import { profiles } from '../pki/profiles.js';
import { openPkcs11Token } from '../pki/pkcs11-token.js';
import type { Pkcs11Token } from '../pki/pkcs11-token.js';
import { fileSigner, heldKeySigner } from '../pki/signer.js';
import type { Signer } from '../pki/signer.js';
import type { IssuingAuthority } from '../pki/issuing-authority.js';
import { completeRotation, retiredIssuerIds } from './rotate-issuing.js';
import { join } from 'node:path';
import { revocationFeedProjection } from '../revocation/revocation-feed-projection.js';
import { INBOX_SUBJECTS } from '../inbox/inbox-processor.js';
import { EventStore } from '../store/event-store.js';
import type { Projection } from '../store/event-store.js';
import { migrate } from '../store/migrations.js';
import { PostgresDatabase } from '../store/postgres/postgres-database.js';
import type { SqlDatabase } from '../store/sql-database.js';
import { SqliteDatabase } from '../store/sqlite-database.js';
import { databaseLocation } from './database-location.js';
import type { DatabaseLocation } from './database-location.js';
import { CaMetrics } from '../observability/metrics.js';
import { traceLogFields } from '../observability/tracing.js';
import { tenantIds } from '../tenants/tenant-commands.js';
import { tenantsProjection } from '../tenants/tenants-projection.js';
import { sessionsProjection } from '../auth/sessions-projection.js';
import { createPasswordHasher } from '../passwords/password-hasher.js';
import type { PasswordHasherConfig } from '../passwords/password-hasher.js';
import { databaseKeyRingText } from '../tokens/database-key-ring-text.js';
import {
  fileKeyRingStore,
  fileKeyRingText,
  sealedKeyRingStore,
} from '../tokens/file-key-ring-store.js';
import { pkcs11KeyRingStore } from '../tokens/pkcs11-key-ring-store.js';
import { openKeyRing } from '../tokens/key-ring.js';
import { usersProjection } from '../users/users-projection.js';
import { activeUsers } from '../users/users.js';
import { mfaProjection } from '../mfa/mfa-policy.js';
import { RISK_REASONS, riskProjection } from '../mfa/risk-policy.js';
import { usersWithSecondFactor } from '../mfa/second-factors.js';
import { ssoProjection } from '../sso/sso-providers.js';
import { passphraseSecretBox } from '../secrets/secret-box.js';
import { quarantineProjection } from '../sync/quarantine-projection.js';
import { passkeysProjection } from '../mfa/webauthn-credentials.js';
import { membersProjection } from '../members/members-projection.js';
import { dataDirPaths } from './paths.js';
import { readPkcs11Settings, resolvePkcs11Pin } from './pkcs11-settings.js';

export const PROJECTIONS: readonly Projection[] = [
  tenantsProjection,
  apiKeysProjection,
  enrollmentTokensProjection,
  devicesProjection,
  usersProjection,
  sessionsProjection,
  revocationFeedProjection,
  quarantineProjection,
  mfaProjection,
  passkeysProjection,
  membersProjection,
  riskProjection,
  ssoProjection,
];

export interface OpenCaOptions {
  dataDir: string;
  clock: Clock;
  passphrase: string;
  logger?: Logger;
  publicUrl?: string;
  /** Where the CA is reached now (\`serve --public-url\`); the configured public URL otherwise. */
  publicUrls?: readonly string[];
  auth?: Partial<AuthPolicy>;
  passwords?: PasswordHasherConfig;
  /**
   * For a CA whose keys are on a PKCS#11 token (`ca/pkcs11.json`): its PIN (else from
   * LANTERN_PKCS11_PIN or LANTERN_PKCS11_PIN_FILE), and the module when it is not where `init`
   * found it.
   */
  pkcs11?: { pin?: string; modulePath?: string };
  /** A PostgreSQL URL (`serve --database`) instead of the one config.json names, or SQLite. */
  database?: string;
}

export interface OpenedCa {
  context: CaContext;
  close(): Promise<void>;
}

/**
 * The store, migrated to this version's schema: SQLite in the data dir, or the PostgreSQL
 * database that several CA instances share (docs/scaling.md).
 */
export async function openDatabase(location: DatabaseLocation, clock: Clock): Promise<SqlDatabase> {
  const db =
    location.engine === 'sqlite'
      ? openSqlite(location.path)
      : new PostgresDatabase(location.url, `lantern-ca ${hostname()}/${process.pid}`);
  try {
    await migrate(db, new Date(clock.now()).toISOString());
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

function openSqlite(path: string): SqlDatabase {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // FULL: a commit acknowledged to a device (sync ack, enrollment) must survive power loss.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  // Erased subject keys and rotated secrets must not linger in free pages.
  db.pragma('secure_delete = ON');
  db.pragma('busy_timeout = 5000');
  // Statement journals and the group commit's per-unit savepoint journals stay in memory: on
  // disk they were ~80 pwrite calls per enrollment (bench/NOTES.md). They hold only the pages
  // one transaction touches; the CA has no VACUUM or large unindexed sort that this would grow.
  db.pragma('temp_store = MEMORY');
  return new SqliteDatabase(db);
}

/**
 * An issuing CA as the service uses it. Its certificates name the CRL of their own issuer, so a
 * relying party fetching the distribution point of an older certificate gets that issuer's CRL
 * after a rotation, not the new one's.
 */
function issuingAuthority(
  certificate: Buffer,
  signer: Signer,
  publicUrl: string,
): IssuingAuthority {
  const keyId = keyIdentifier(signer.publicKey.export({ type: 'spki', format: 'der' }));
  return {
    certificate,
    subject: subjectOf(certificate),
    keyId,
    signer,
    crlUrl: `${publicUrl}/v1/crl?issuer=${keyId.toString('hex')}`,
  };
}

/** Loads what `serve` needs: the issuing CA key (never the root key), the store and projections. */
export async function openCa(options: OpenCaOptions): Promise<OpenedCa> {
  const paths = dataDirPaths(options.dataDir);
  const pkcs11Settings = readPkcs11Settings(paths);
  if (
    (pkcs11Settings === null && !existsSync(paths.issuingKey)) ||
    !existsSync(paths.issuingCertificate)
  ) {
    throw new CaNotInitializedError(
      `no CA in ${options.dataDir}; run \`lantern-ca init --data-dir ${options.dataDir}\``,
    );
  }
  completeRotation(paths);
  const token: Pkcs11Token | null =
    pkcs11Settings &&
    openPkcs11Token({
      modulePath: options.pkcs11?.modulePath ?? pkcs11Settings.modulePath,
      tokenLabel: pkcs11Settings.tokenLabel,
      pin: options.pkcs11?.pin ?? resolvePkcs11Pin(process.env),
    });
  try {
    return await openWithKeys(options, token, pkcs11Settings?.issuingKeyId ?? null);
  } catch (error) {
    token?.close();
    throw error;
  }
}

async function openWithKeys(
  options: OpenCaOptions,
  token: Pkcs11Token | null,
  issuingKeyId: string | null,
): Promise<OpenedCa> {
  const paths = dataDirPaths(options.dataDir);
  const config = JSON.parse(readFileSync(paths.config, 'utf8')) as {
    publicUrl: string;
    dataResidency?: DataResidency;
    database?: string;
  };
  const issuingPem = readFileSync(paths.issuingCertificate, 'utf8');
  const rootPem = readFileSync(paths.rootCertificate, 'utf8');
  const issuingDer = fromPem(issuingPem);
  const signer =
    token === null || issuingKeyId === null
      ? fileSigner(paths.issuingKey, options.passphrase)
      : heldKeySigner(token.key(issuingKeyId));
  const publicUrl = options.publicUrl ?? config.publicUrl;
  const publicUrls = options.publicUrls ?? [config.publicUrl];
  const logger =
    options.logger ??
    createLogger({
      service: 'lantern-ca',
      salt: readFileSync(paths.logSalt, 'utf8').trim(),
      mixin: traceLogFields,
    });
  const location = databaseLocation(paths, config.database, options.database);
  const db = await openDatabase(location, options.clock);
  const ids = createIdGenerator(options.clock);
  const store = new EventStore(db, {
    clock: options.clock,
    ids,
    validator: new EventValidator(),
    projections: PROJECTIONS,
    stamp: {
      publicUrl,
      // Several instances may serve one store (docs/scaling.md): the process names the writer.
      source: { service: 'lantern-ca', instance: `${hostname()}/${process.pid}` },
      ...(config.dataResidency === undefined ? {} : { dataResidency: config.dataResidency }),
    },
  });
  const auth = { ...DEFAULT_AUTH_POLICY, ...options.auth };
  const metrics = new CaMetrics({
    db,
    readings: {
      tenantIds: () => tenantIds(db),
      activeUsers: () => activeUsers(db),
      usersWithSecondFactor: () => usersWithSecondFactor(db),
      activeSessionsByTenant: (now) => activeSessionCounts(db, now),
      devicesExpiringBetween: (from, to) => countActiveDevicesExpiringBetween(db, from, to),
      usableApiKeysCreatedBy: (now, createdBy) => countUsableKeysCreatedBy(db, now, createdBy),
    },
    clock: options.clock,
    knownLabels: {
      deviceRevocationReasons: DEVICE_REVOCATION_REASONS,
      inboxSubjects: INBOX_SUBJECTS,
      riskReasons: RISK_REASONS,
    },
  });
  const tokenKeys = await openKeyRing({
    clock: options.clock,
    store:
      token !== null
        ? pkcs11KeyRingStore(paths.tokenKeysPkcs11, token)
        : location.engine === 'postgres'
          ? // Instances sharing the database sign with one ring, kept there.
            sealedKeyRingStore(
              databaseKeyRingText(db, fileKeyRingText(paths.tokenKeys)),
              options.passphrase,
            )
          : fileKeyRingStore(paths.tokenKeys, options.passphrase),
    // A retired key must stay published until the longest token it signed (a grant) expires.
    maxTokenLifetimeMs: Math.max(auth.maxOfflineSeconds, auth.accessTokenSeconds) * 1000,
    timeSignature: (sign) => metrics.timeKms('sign_jwt', sign),
  });
  // CRL distribution points name where devices and tools reach the CA now, not its issuer name.
  const crlBaseUrl = publicUrls[0] ?? publicUrl;
  const authority = issuingAuthority(issuingDer, metrics.timedSigner(signer), crlBaseUrl);
  const retired = retiredIssuerIds(paths)
    .filter((id) => id !== authority.keyId.toString('hex'))
    .map((id) => {
      const pem = readFileSync(join(paths.retiredIssuers, `${id}.pem`), 'utf8');
      const retiredSigner = fileSigner(
        join(paths.retiredIssuers, `${id}.key.pem`),
        options.passphrase,
      );
      return {
        pem,
        authority: issuingAuthority(fromPem(pem), metrics.timedSigner(retiredSigner), crlBaseUrl),
      };
    });
  if (retired.length === 0) {
    // Certificates recorded before issuers were tracked can only be the sole issuing CA's.
    await attributeUntrackedCertificates(db, authority.keyId.toString('hex'));
  }
  const context: CaContext = {
    store,
    clock: options.clock,
    ids,
    logger,
    publicUrl,
    publicUrls,
    bindingProfile: profiles.deviceBinding(),
    tokenKeys,
    passwords: createPasswordHasher(options.passwords),
    secretBox: passphraseSecretBox(options.passphrase, sha256Hex(fromPem(rootPem))),
    tpmManufacturers: existsSync(paths.tpmManufacturers)
      ? [readFileSync(paths.tpmManufacturers, 'utf8')]
      : [],
    auth,
    metrics,
    ca: {
      authority,
      retired,
      rootPem,
      issuingPem,
      rootFingerprint: sha256Hex(fromPem(rootPem)),
      issuingFingerprint: sha256Hex(issuingDer),
    },
  };
  return {
    context,
    close: async () => {
      await store.drain();
      await db.close();
      token?.close();
    },
  };
}
