import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import type { BindingPolicy, Clock } from '@lantern/shared';
import {
  CertificateParseError,
  InvalidRequestError,
  LanternError,
  buildCsrPem,
  keyAssuranceOf,
  parseCertificate,
} from '@lantern/shared';
import { ensureLocalSecret } from '../data-dir/local-secret.js';
import type { AgentPaths } from '../data-dir/agent-paths.js';
import { agentPaths } from '../data-dir/agent-paths.js';
import {
  AlreadyEnrolledError,
  EnrollmentFailedError,
  EnrollmentInProgressError,
  RootFingerprintMismatchError,
  TpmUnavailableError,
} from '../errors.js';
import type { TpmAttestation } from '../keys/tpm/tpm-attestation.js';
import { TpmCommandError } from '../keys/tpm/tpm2-tools.js';
import type { KeyAssurance } from '../keys/device-key-store.js';
import type { CreatedKeys, KeyStoreKind } from '../keys/key-store.js';
import { createKeys, removeKeyFiles } from '../keys/key-store.js';
import type { AgentStore } from '../store/agent-store.js';
import { openAgentStore } from '../store/agent-store.js';
import { TrustedTime } from '../time/trusted-time.js';
import { CaSignedTokenVerifier } from '../sync/ca-signed-token-verifier.js';
import { storeSignedJwks, verifySignedJwks } from '../sync/signed-jwks.js';
import { advanceRevocationCursor, readSyncCursor } from '../sync/sync-cursor.js';
import type { EnrollRequestBody } from './ca-client.js';
import { CaClient, parseCaUrl } from './ca-client.js';
import type { EnrollmentVerdict, VerifiedEnrollment } from './check-enrollment-response.js';
import { checkEnrollmentResponse } from './check-enrollment-response.js';
import type { DeviceBinding } from './device-binding.js';
import { readDeviceRevocation } from '../enforcement/device-revocation.js';
import { reenrollBinding } from '../renewal/renew-binding.js';
import { renewalPhase, renewalSchedule } from '../renewal/renewal-schedule.js';
import { readDeviceBinding } from './device-binding.js';
import { p1363ToDer } from './p1363-to-der.js';
import { normalizeFingerprint } from './root-fingerprint.js';

export interface EnrollOptions {
  dataDir: string;
  caUrl: string;
  token: string;
  /** As the admin got it from `lantern-ca init`; absent means trust on first use. */
  rootFingerprint?: string;
  /** Device name for the CA's inventory; the token's pre-set name wins when absent. */
  name?: string;
  clock: Clock;
  timeoutMs?: number;
  /** Where the keys live: `file` (software tier, the default) or `tpm` (hardware tier). */
  keyStore?: KeyStoreKind;
  /** TPM2TOOLS_TCTI for `keyStore: 'tpm'`, e.g. `device:/dev/tpmrm0`. */
  tpmTcti?: string;
}

export interface EnrollOutcome {
  dataDir: string;
  deviceId: string;
  tenantId: string;
  caUrl: string;
  /** The CA's name for itself, as it stated it. */
  issuer: string;
  rootFingerprint: string;
  /** `pinned`: the root matched the fingerprint given. `first_use`: nothing to compare it with. */
  rootTrust: 'pinned' | 'first_use';
  certificateNotAfter: string;
  policy: BindingPolicy;
  revocationCursor: number;
  keyThumbprint: string;
  keyAssurance: KeyAssurance;
  /** The data directory held a binding expired beyond renewal: the same device was bound anew. */
  reenrolled?: boolean;
  /** Why a TPM key store was enrolled at the software tier (no EK certificate, untrusted…). */
  attestationRefused?: string;
}

const SQLITE_BUSY = /^SQLITE_BUSY/;

/**
 * `lantern-agent enroll` (docs/architecture.md §3.2): device key generated here and never sent anywhere, a
 * CSR signed with it, the one-time token, and a binding stored only once every check passed.
 *
 * The store's write lock is held from the first read to the final commit, across the network
 * call: two enrollments in one data directory cannot interleave, and a failed one (or a crash)
 * leaves no binding. Because a binding is only ever written under that lock, key files found
 * without a binding are leftovers of an interrupted attempt, so they are removed before new
 * ones are made and again on any failure: a retry always starts clean.
 */
export async function enroll(options: EnrollOptions): Promise<EnrollOutcome> {
  const caUrl = parseCaUrl(options.caUrl);
  if (caUrl === null) {
    throw new InvalidRequestError(`the CA URL "${options.caUrl}" is not an http(s) URL`);
  }
  const pinned =
    options.rootFingerprint === undefined
      ? undefined
      : normalizeFingerprint(options.rootFingerprint);
  if (pinned === null) {
    throw new InvalidRequestError('the root fingerprint must be 64 hex digits (SHA-256)');
  }
  if (options.token.length === 0) throw new InvalidRequestError('the enrollment token is empty');

  const paths = agentPaths(options.dataDir);
  const expired = expiredBinding(paths, options.clock);
  if (expired !== null) return reenroll(options, expired, caUrl, pinned);
  const before = { dir: existsSync(paths.dataDir), database: existsSync(paths.database) };
  let store: AgentStore;
  try {
    store = openLocked(paths, options.clock);
  } catch (error) {
    // Another enrollment holds the store it made: it is not ours to remove.
    if (!(error instanceof EnrollmentInProgressError)) await restore(paths, before);
    throw error;
  }
  let outcome: EnrollOutcome;
  try {
    outcome = await enrollLocked(store, paths, {
      ...options,
      ca: new CaClient(caUrl, options.timeoutMs),
      pinned,
      keyStore: {
        kind: options.keyStore ?? 'file',
        ...(options.tpmTcti === undefined ? {} : { tcti: options.tpmTcti }),
      },
    });
  } catch (error) {
    store.close();
    await restore(paths, before);
    throw error;
  }
  store.close();
  await ensureLocalSecret(paths.localSecret);
  return outcome;
}

/**
 * A failed enrollment leaves the data directory as it found it (issue 25): no directory if
 * there was none, no store if there was none, so a retry or `status` sees a clean slate rather
 * than an empty `agent.db` that looks like a device. Key files are already gone by then.
 */
async function restore(
  paths: AgentPaths,
  before: { dir: boolean; database: boolean },
): Promise<void> {
  if (!before.dir) {
    await rm(paths.dataDir, { recursive: true, force: true });
    return;
  }
  if (before.database) return;
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    await rm(`${paths.database}${suffix}`, { force: true });
  }
}

interface LockedInput {
  ca: CaClient;
  pinned: string | undefined;
  token: string;
  name?: string;
  keyStore: { kind: KeyStoreKind; tcti?: string };
}

async function enrollLocked(
  store: AgentStore,
  paths: AgentPaths,
  input: LockedInput,
): Promise<EnrollOutcome> {
  let keysTouched = false;
  let keys: CreatedKeys | undefined;
  try {
    const existing = readDeviceBinding(store);
    if (existing !== null) {
      throw new AlreadyEnrolledError(
        `${paths.dataDir} is already enrolled as device ${existing.deviceId} of tenant ${existing.tenantId}`,
      );
    }
    // Checked before any key exists or the token leaves the device: a wrong CA never sees it.
    if (input.pinned !== undefined) await checkPinnedRoot(input.ca, input.pinned);

    keysTouched = true;
    await removeKeys(paths);
    await mkdir(paths.keysDir, { recursive: true, mode: 0o700 });
    keys = await createKeys(paths, input.keyStore);
    const { deviceKey } = keys;
    const csr = await buildCsrPem({
      commonName: 'lantern-agent',
      subjectPublicKeyInfo: deviceKey.publicKey().export({ type: 'spki', format: 'der' }),
      sign: (data) => p1363ToDer(deviceKey.sign(data)),
    });
    const attested =
      keys.attestation === undefined
        ? undefined
        : await attestTpm(input.ca, input.token, keys.attestation);
    const answer = await input.ca.enroll({
      enrollmentToken: input.token,
      csr,
      keyAssurance: deviceKey.assurance === 'software' ? 'software' : 'hardware',
      ...(attested?.ok === true ? { tpmAttestation: attested.evidence } : {}),
      ...(input.name === undefined ? {} : { name: input.name }),
    });

    const trustedTime = new TrustedTime(store);
    const verdict = checkEnrollmentResponse(answer, {
      devicePublicKey: deviceKey.publicKey(),
      pinnedRootFingerprint: input.pinned,
      at: new Date(trustedTime.trustedNow()),
    });
    if (!verdict.ok) throw refusalOf(verdict);
    const { enrollment } = verdict;
    const outcome: EnrollOutcome = {
      dataDir: paths.dataDir,
      deviceId: enrollment.deviceId,
      tenantId: enrollment.tenantId,
      caUrl: input.ca.baseUrl,
      issuer: enrollment.issuer ?? input.ca.baseUrl,
      rootFingerprint: enrollment.rootFingerprint,
      rootTrust: input.pinned === undefined ? 'first_use' : 'pinned',
      certificateNotAfter: enrollment.notAfter.toISOString(),
      policy: enrollment.policy,
      revocationCursor: enrollment.revocationCursor,
      keyThumbprint: deviceKey.thumbprint(),
      // The CA's word in the certificate, not the key store's: only an attested TPM is hardware.
      keyAssurance:
        keyAssuranceOf(parseCertificate(enrollment.certificatePem).extensions) ?? 'software',
      ...(attested?.ok === false ? { attestationRefused: attested.reason } : {}),
    };
    storeBinding(store, enrollment, input.ca.baseUrl, trustedTime.trustedNow());
    // The CA's token keys, so grants and access tokens verify offline from the first sign-in:
    // only the set its issuing CA signed, checked against the root just verified, never the
    // unsigned copy in the answer. One that does not verify (a clock far behind the CA's, a
    // man in the middle) is not cached; sync and online sign-in bring a signed one later.
    const signed = await input.ca.signedJwks();
    const tokenKeys = verifySignedJwks(
      new CaSignedTokenVerifier(enrollment.rootPem),
      signed.jwks,
      signed.jwksEtag,
      Math.floor(trustedTime.trustedNow() / 1000),
    );
    if (tokenKeys.ok && tokenKeys.jwks !== undefined) {
      storeSignedJwks(store, tokenKeys, 'fetched', {
        deviceId: enrollment.deviceId,
        now: trustedTime.trustedNow(),
      });
    }
    await keys.sealState(store);
    // Last: once this commits, the keys belong to a binding and the catch below must not run.
    store.db.exec('COMMIT');
    return outcome;
  } catch (error) {
    if (store.db.inTransaction) store.db.exec('ROLLBACK');
    if (keys !== undefined) await keys.remove();
    else if (keysTouched) await removeKeys(paths);
    throw error;
  }
}

/**
 * TPM attestation before the enrollment itself (ca-service/src/enrollment/tpm/): a TPM that
 * cannot be attested (no EK certificate, a manufacturer the CA does not trust) still enrolls,
 * at the software tier, and the outcome says why. An unreachable CA stops the enrollment.
 */
async function attestTpm(
  ca: CaClient,
  enrollmentToken: string,
  begin: () => TpmAttestation,
): Promise<
  | { ok: true; evidence: NonNullable<EnrollRequestBody['tpmAttestation']> }
  | { ok: false; reason: string }
> {
  let attestation: TpmAttestation;
  try {
    attestation = begin();
  } catch (error) {
    if (error instanceof TpmCommandError || error instanceof TpmUnavailableError) {
      return { ok: false, reason: error.message };
    }
    throw error;
  }
  try {
    const { challenge, credential } = await ca.tpmChallenge({
      enrollmentToken,
      ekCertificate: attestation.ekCertificate,
      akPublic: attestation.akPublic,
    });
    return { ok: true, evidence: { challenge, ...attestation.prove(credential) } };
  } catch (error) {
    if (error instanceof LanternError && error.code === 'tpm_attestation_invalid') {
      return { ok: false, reason: error.message };
    }
    throw error;
  } finally {
    attestation.close();
  }
}

/**
 * Opens the store and takes its write lock (BEGIN IMMEDIATE), waiting up to the store's busy
 * timeout. Opening alone can already wait for the lock, when it checks the migrations.
 */
function openLocked(paths: AgentPaths, clock: Clock): AgentStore {
  let store: AgentStore | undefined;
  try {
    store = openAgentStore(paths.database, { clock });
    store.db.exec('BEGIN IMMEDIATE');
    return store;
  } catch (error) {
    store?.close();
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && SQLITE_BUSY.test(code)) {
      throw new EnrollmentInProgressError(undefined, { cause: error });
    }
    throw error;
  }
}

async function checkPinnedRoot(ca: CaClient, pinned: string): Promise<void> {
  const pem = await ca.rootPem();
  let fingerprint: string;
  try {
    fingerprint = parseCertificate(pem).fingerprint;
  } catch (error) {
    if (!(error instanceof CertificateParseError)) throw error;
    throw new EnrollmentFailedError(`the CA's /v1/ca/root is not a certificate: ${error.message}`);
  }
  if (fingerprint !== pinned) {
    throw new RootFingerprintMismatchError(
      `the CA at ${ca.baseUrl} presents root ${fingerprint}, not the pinned ${pinned}; the enrollment token was not sent`,
    );
  }
}

function refusalOf(verdict: EnrollmentVerdict & { ok: false }): Error {
  if (verdict.reason === 'root_fingerprint_mismatch') {
    return new RootFingerprintMismatchError(
      `${verdict.detail}; the CA has used the enrollment token, ask for a new one`,
    );
  }
  return new EnrollmentFailedError(`${verdict.reason}: ${verdict.detail}`, {
    details: { reason: verdict.reason },
  });
}

function storeBinding(
  store: AgentStore,
  enrollment: VerifiedEnrollment,
  caUrl: string,
  now: number,
): void {
  store.transaction(() => {
    store.db
      .prepare(
        `INSERT INTO binding (id, device_id, tenant_id, certificate_pem, chain_pems_json, root_pem,
           root_fingerprint, ca_url, issuer, ca_public_urls_json, policy_json, enrolled_at,
           updated_at, tenant_name, device_name)
         VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        enrollment.deviceId,
        enrollment.tenantId,
        enrollment.certificatePem,
        JSON.stringify(enrollment.chainPems),
        enrollment.rootPem,
        enrollment.rootFingerprint,
        caUrl,
        // The CA's own word, never the URL typed here: one CA is reached under several names.
        enrollment.issuer ?? null,
        enrollment.publicUrls.length === 0 ? null : JSON.stringify(enrollment.publicUrls),
        JSON.stringify(enrollment.policy),
        now,
        now,
        enrollment.tenantName ?? null,
        enrollment.deviceName ?? null,
      );
    advanceRevocationCursor(store, enrollment.revocationCursor);
  });
}

/** Without a binding nothing is sealed under these keys, so shredding them loses nothing. */
async function removeKeys(paths: AgentPaths): Promise<void> {
  await removeKeyFiles(paths);
}

/**
 * The binding of this data directory when it has expired beyond the renewal grace period, and
 * is neither revoked nor wiped: only then does `enroll` bind it again rather than refuse.
 */
function expiredBinding(paths: AgentPaths, clock: Clock): DeviceBinding | null {
  if (!existsSync(paths.database)) return null;
  let store: AgentStore;
  try {
    store = openAgentStore(paths.database, { clock });
  } catch (error) {
    // Another enrollment holds the store: `openLocked` waits for it and says so.
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && SQLITE_BUSY.test(code)) return null;
    throw error;
  }
  try {
    const binding = readDeviceBinding(store);
    if (binding === null || readDeviceRevocation(store)?.revoked === true) return null;
    const now = new TrustedTime(store).trustedNow();
    const phase = renewalPhase(renewalSchedule(binding.certificatePem, binding.policy), now);
    return phase === 'expired' ? binding : null;
  } finally {
    store.close();
  }
}

async function reenroll(
  options: EnrollOptions,
  binding: DeviceBinding,
  caUrl: string,
  pinned: string | undefined,
): Promise<EnrollOutcome> {
  if (pinned !== undefined && pinned !== binding.rootFingerprint) {
    throw new RootFingerprintMismatchError(
      `this device pinned root ${binding.rootFingerprint} at its first enrollment, not ${pinned}`,
    );
  }
  const outcome = await reenrollBinding({
    dataDir: options.dataDir,
    clock: options.clock,
    token: options.token,
    caUrl,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
  const paths = agentPaths(options.dataDir);
  const store = openAgentStore(paths.database, { clock: options.clock });
  try {
    const renewed = readDeviceBinding(store) ?? binding;
    return {
      dataDir: paths.dataDir,
      deviceId: renewed.deviceId,
      tenantId: renewed.tenantId,
      caUrl: renewed.caUrl,
      issuer: renewed.issuer,
      rootFingerprint: renewed.rootFingerprint,
      rootTrust: 'pinned',
      certificateNotAfter: outcome.notAfter,
      policy: renewed.policy,
      revocationCursor: readSyncCursor(store).revocationCursor,
      keyThumbprint: outcome.keyThumbprint,
      keyAssurance:
        keyAssuranceOf(parseCertificate(renewed.certificatePem).extensions) ?? 'software',
      reenrolled: true,
    };
  } finally {
    store.close();
  }
}
