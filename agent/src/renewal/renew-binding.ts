import { open, readFile, rm } from 'node:fs/promises';
import {
  DEVICE_PROOF_HEADER,
  LanternError,
  buildCsrPem,
  createDeviceProof,
  parseCertificate,
  withDeadline,
} from '@lantern/shared';
import type { AgentPaths } from '../data-dir/agent-paths.js';
import type { OpenAgentOptions, OpenedAgent } from '../data-dir/open-agent.js';
import { openAgent } from '../data-dir/open-agent.js';
import { checkEnrollmentResponse } from '../enrollment/check-enrollment-response.js';
import type { VerifiedEnrollment } from '../enrollment/check-enrollment-response.js';
import { p1363ToDer } from '../enrollment/p1363-to-der.js';
import {
  BindingExpiredError,
  CaUnreachableError,
  RenewalFailedError,
  RenewalInProgressError,
} from '../errors.js';
import { promoteNextKey } from '../keys/binding-key.js';
import type { DeviceKeyStore } from '../keys/device-key-store.js';
import { FileDeviceKeyStore } from '../keys/file-device-key-store.js';
import { shredFile } from '../keys/secret-file.js';
import { ProofClock } from '../sync/proof-clock.js';
import type { RenewalPhase } from './renewal-schedule.js';
import { renewalPhase, renewalSchedule } from './renewal-schedule.js';

const RENEW_TIMEOUT_MS = 30_000;

/** The steps of a renewal, in order; each is reported once done (the daemon logs them). */
export type RenewalStep =
  'key_generated' | 'certificate_issued' | 'binding_stored' | 'key_replaced';

export interface RenewOptions extends OpenAgentOptions {
  /**
   * `when_due` (serve, sync): only once `renewFromFraction` of the lifetime has passed.
   * `now` (`lantern-agent renew`): ask the CA anyway; it answers `renewal_too_early` if so.
   */
  when: 'when_due' | 'now';
  /** A new device key (the default, docs/architecture.md §2 Lifetimes), or the same key re-certified. */
  rekey?: boolean;
  timeoutMs?: number;
  onStep?: (step: RenewalStep) => void | Promise<void>;
}

export type RenewalOutcome =
  | { renewed: false; phase: RenewalPhase; renewableAt: string; notAfter: string }
  | {
      renewed: true;
      deviceId: string;
      rekeyed: boolean;
      /** The old certificate had expired (renewed within the grace period). */
      afterExpiry: boolean;
      serial: string;
      notAfter: string;
      keyThumbprint: string;
      /** Subject key identifier of the issuing CA that signed the new certificate. */
      issuerKeyId: string | null;
    };

/**
 * Renews the binding certificate (docs/architecture.md §3.4), by default with a new key made here through
 * the key store. The request is proven with the current key (within the grace period an
 * expired certificate still proves continuity); the new key proves possession with its CSR.
 *
 * Crash safety, in the order of the steps: the new key goes to `device-key.next`; the CA
 * issues; the new certificate and chain are committed in one transaction, with the old key's
 * thumbprint kept so grants bound to it still verify; only then is the new key renamed into
 * place and the old one shredded (`promoteNextKey`). Until the commit the old binding is
 * untouched (the CA never revokes the old certificate on renewal); from it on, `openAgent`
 * finds the new key under one of its two names. A second renewal waits for none: the lock file
 * makes it refuse with `renewal_in_progress`.
 */
export async function renewBinding(options: RenewOptions): Promise<RenewalOutcome> {
  const agent = await openAgent(options);
  try {
    const { binding } = agent;
    const schedule = renewalSchedule(binding.certificatePem, binding.policy);
    const now = agent.trustedTime.trustedNow();
    const phase = renewalPhase(schedule, now);
    if (phase === 'expired') throw bindingExpired(schedule.notAfter);
    if (phase === 'valid' && options.when === 'when_due') {
      return {
        renewed: false,
        phase,
        renewableAt: new Date(schedule.renewableAt).toISOString(),
        notAfter: new Date(schedule.notAfter).toISOString(),
      };
    }
    const release = await lockRenewal(agent.paths);
    try {
      return await renewLocked(agent, options, phase === 'expired_in_grace', (csr) =>
        requestRenewal(agent, '/v1/devices/renew', { csr }, options),
      );
    } finally {
      await release();
    }
  } finally {
    agent.close();
  }
}

/**
 * `lantern-agent enroll` on a data directory whose binding expired beyond the grace period
 * (docs/architecture.md §2 Lifetimes): the admin's new enrollment token authorises it, a proof by the old key
 * names the device, and the CA binds the same device (same id, same outbox sequence, same
 * revocation feed) to a new key. Everything else is a re-keying renewal, with its crash safety,
 * so the queued outbox events stay and are delivered by the next sync.
 */
export async function reenrollBinding(
  options: OpenAgentOptions & {
    token: string;
    caUrl: string;
    timeoutMs?: number;
    onStep?: RenewOptions['onStep'];
  },
): Promise<RenewalOutcome & { renewed: true }> {
  const agent = await openAgent(options);
  try {
    const release = await lockRenewal(agent.paths);
    try {
      const renewal = { ...options, when: 'now' as const, rekey: true };
      const outcome = await renewLocked(agent, renewal, true, (csr) =>
        requestRenewal(
          agent,
          '/v1/devices/enroll',
          { enrollmentToken: options.token, csr: csr ?? '' },
          renewal,
          options.caUrl,
        ),
      );
      if (!outcome.renewed) throw new Error('a re-enrollment either binds or throws');
      return outcome;
    } finally {
      await release();
    }
  } finally {
    agent.close();
  }
}

async function renewLocked(
  agent: OpenedAgent,
  options: RenewOptions,
  afterExpiry: boolean,
  request: (csr: string | undefined) => Promise<unknown>,
): Promise<RenewalOutcome> {
  const { binding, paths } = agent;
  const step = async (name: RenewalStep) => options.onStep?.(name);
  // A leftover of an attempt that never committed: its certificate, if any, was never stored.
  await shredFile(paths.nextDeviceKey);
  // A TPM key never leaves its TPM and the store has one key slot there: a hardware-tier device
  // renews with its key (proved by the renewal itself) instead of re-keying into a file.
  const rekey = (options.rekey ?? true) && agent.keyStore.kind === 'file';
  const newKey: DeviceKeyStore = rekey
    ? await FileDeviceKeyStore.generate(paths.nextDeviceKey, agent.dataKey)
    : agent.deviceKey;
  if (rekey) await step('key_generated');

  let verified: VerifiedEnrollment;
  try {
    const csr = rekey
      ? await buildCsrPem({
          commonName: 'lantern-agent',
          subjectPublicKeyInfo: newKey.publicKey().export({ type: 'spki', format: 'der' }),
          sign: (data) => p1363ToDer(newKey.sign(data)),
        })
      : undefined;
    const answer = await request(csr);
    const verdict = checkEnrollmentResponse(answer, {
      devicePublicKey: newKey.publicKey(),
      pinnedRootFingerprint: binding.rootFingerprint,
      at: new Date(checkTime(answer, agent.trustedTime.trustedNow())),
    });
    if (!verdict.ok) {
      throw new RenewalFailedError(`${verdict.reason}: ${verdict.detail}; the old binding is kept`);
    }
    if (
      verdict.enrollment.deviceId !== binding.deviceId ||
      verdict.enrollment.tenantId !== binding.tenantId
    ) {
      throw new RenewalFailedError('the renewed certificate names another device or tenant');
    }
    verified = verdict.enrollment;
  } catch (error) {
    // A refusal or a bad answer, not a crash: nothing was stored, so the new key goes now.
    if (rekey) await shredFile(paths.nextDeviceKey);
    throw error;
  }
  await step('certificate_issued');

  const retiredAt = agent.trustedTime.trustedNow();
  agent.store.transaction(() => {
    if (rekey) {
      agent.store.db
        .prepare(
          `INSERT OR REPLACE INTO former_device_keys (thumbprint, certificate_pem, not_after, retired_at)
           VALUES (?, ?, ?, ?)`,
        )
        .run(
          agent.deviceKey.thumbprint(),
          binding.certificatePem,
          parseCertificate(binding.certificatePem).notAfter.getTime(),
          retiredAt,
        );
    }
    agent.store.db
      .prepare(
        `UPDATE binding SET certificate_pem = ?, chain_pems_json = ?, policy_json = ?, updated_at = ?,
           tenant_name = COALESCE(?, tenant_name), device_name = COALESCE(?, device_name)
         WHERE id = 1`,
      )
      .run(
        verified.certificatePem,
        JSON.stringify(verified.chainPems),
        JSON.stringify(verified.policy),
        retiredAt,
        // Stores enrolled before the CA sent names learn them here; a CA that says none keeps them.
        verified.tenantName ?? null,
        verified.deviceName ?? null,
      );
  });
  await step('binding_stored');
  if (rekey) {
    // Shreds the old key file; `agent.deviceKey.destroy()` would shred the path, now the new key.
    await promoteNextKey(paths);
    await step('key_replaced');
  }
  const leaf = parseCertificate(verified.certificatePem);
  return {
    renewed: true,
    deviceId: binding.deviceId,
    rekeyed: rekey,
    afterExpiry,
    serial: leaf.serialNumber,
    notAfter: leaf.notAfter.toISOString(),
    keyThumbprint: newKey.thumbprint(),
    issuerKeyId: leaf.authorityKeyIdentifier ?? null,
  };
}

async function requestRenewal(
  agent: OpenedAgent,
  path: '/v1/devices/renew' | '/v1/devices/enroll',
  input: Record<string, string | undefined>,
  options: Pick<RenewOptions, 'timeoutMs'>,
  caUrl = agent.binding.caUrl,
): Promise<unknown> {
  const { binding } = agent;
  const url = `${caUrl}${path}`;
  const body = JSON.stringify(input);
  const x5c = [binding.certificatePem, ...binding.chainPems].map((pem) =>
    Buffer.from(parseCertificate(pem).der).toString('base64'),
  );
  const proofClock = new ProofClock(agent.trustedTime);
  for (let attempt = 0; ; attempt += 1) {
    const proof = createDeviceProof({
      method: 'POST',
      url,
      body,
      x5c,
      nowSeconds: proofClock.nowSeconds(),
      sign: (data) => agent.deviceKey.sign(data),
    });
    let answer: { status: number; date: string | null; text: string };
    try {
      answer = await withDeadline(options.timeoutMs ?? RENEW_TIMEOUT_MS, async (signal) => {
        const response = await fetch(url, {
          method: 'POST',
          redirect: 'error',
          signal,
          headers: { 'content-type': 'application/json', [DEVICE_PROOF_HEADER]: proof },
          body,
        });
        return {
          status: response.status,
          date: response.headers.get('date'),
          text: await response.text(),
        };
      });
    } catch (error) {
      throw new CaUnreachableError(`cannot reach ${url}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (answer.status === 200 || answer.status === 201) {
      try {
        return JSON.parse(answer.text) as unknown;
      } catch {
        throw new RenewalFailedError('the CA answered the renewal with a body that is not JSON');
      }
    }
    const refusal = refusalOf(answer.text);
    if (attempt === 0 && proofClock.learn(refusal.code, answer.date)) continue;
    if (refusal.code === 'renewal_grace_expired') {
      throw bindingExpired(parseCertificate(binding.certificatePem).notAfter.getTime());
    }
    throw new LanternError(
      refusal.code ?? 'renewal_failed',
      answer.status,
      `the CA refused the renewal with HTTP ${answer.status}${refusal.message ? `: ${refusal.message}` : ''}`,
    );
  }
}

/**
 * When to validate the new certificate's path: trusted time, or the certificate's own start if
 * trusted time lags behind it (a device clock set back since the last signed server time would
 * otherwise refuse a certificate the CA has just issued). Safe: with a re-key the certificate
 * must certify the key generated a moment ago, so it cannot be an old one replayed; without one
 * it is still the CA's certificate of this device's own key, checked against the pinned root.
 */
function checkTime(answer: unknown, trustedNow: number): number {
  try {
    const pem = (answer as { certificate?: unknown }).certificate;
    if (typeof pem !== 'string') return trustedNow;
    return Math.max(trustedNow, parseCertificate(pem).notBefore.getTime());
  } catch {
    return trustedNow;
  }
}

function bindingExpired(notAfter: number): LanternError {
  return new BindingExpiredError(
    `the binding certificate expired at ${new Date(notAfter).toISOString()}, beyond the renewal grace period: re-enroll this device with \`lantern-agent enroll --ca URL --token T\` on the same data directory (queued events are kept)`,
  );
}

function refusalOf(text: string): { code?: string; message?: string } {
  try {
    const { code, message } = JSON.parse(text) as { code?: unknown; message?: unknown };
    return {
      ...(typeof code === 'string' && /^[a-z][a-z0-9_]{0,63}$/.test(code) ? { code } : {}),
      ...(typeof message === 'string' ? { message } : {}),
    };
  } catch {
    return {};
  }
}

/**
 * One renewal per data directory: the lock file holds the owner's pid, so a lock left by a
 * process that died is taken over instead of blocking renewal for good.
 */
async function lockRenewal(paths: AgentPaths): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const handle = await open(paths.renewalLock, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(paths.renewalLock, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number((await readFile(paths.renewalLock, 'utf8').catch(() => '')).trim());
      if (Number.isSafeInteger(owner) && owner > 0 && isAlive(owner)) {
        throw new RenewalInProgressError(`process ${owner} is renewing this binding`);
      }
      await rm(paths.renewalLock, { force: true });
    }
  }
  throw new RenewalInProgressError();
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
