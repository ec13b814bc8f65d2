import { existsSync } from 'node:fs';
import { parseCertificate } from '@lantern/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentPaths } from '../src/data-dir/agent-paths.js';
import { openAgent } from '../src/data-dir/open-agent.js';
import { readDeviceBinding } from '../src/enrollment/device-binding.js';
import { promoteNextKey } from '../src/keys/binding-key.js';
import type { RenewalStep, RenewOptions } from '../src/renewal/renew-binding.js';
import { renewBinding } from '../src/renewal/renew-binding.js';
import { enroll } from '../src/enrollment/enroll.js';
import { createEnrollmentToken } from '../../test/support/ca-fixture.js';
import { signInOffline } from '../src/signin/offline-signin.js';
import { openSigninAgent } from '../src/signin/open-signin-agent.js';
import { signInOnline } from '../src/signin/online-signin.js';
import { SyncClient } from '../src/sync/sync-client.js';
import { createLocalVerifier } from '../src/verify/local-verifier.js';
import type { SigninWorld, TestDevice } from './signin-harness.js';
import { DAY, PASSWORD, TEST_OPTIONS, startSigninWorld } from './signin-harness.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();
// One CA for the file (starting one is the slow part); each test enrolls its own device at the
// world's current time and moves the clocks forward only.
let world: SigninWorld;
beforeAll(async () => {
  world = await startSigninWorld(tempDir);
  await world.user('amina');
});
afterAll(async () => {
  await world.close();
});

const renew = (device: TestDevice, options: Partial<RenewOptions> = {}) =>
  renewBinding({
    dataDir: device.dataDir,
    clock: world.agentClock,
    monotonic: world.monotonic,
    when: 'when_due',
    ...options,
  });

class Crash extends Error {}
const crashAt =
  (at: RenewalStep) =>
  (step: RenewalStep): void => {
    if (step === at) throw new Crash(at);
  };

/** Opens the data dir as a fresh process would and proves the binding works: a full sync. */
async function usable(device: TestDevice): Promise<{ serial: string; thumbprint: string }> {
  const agent = await openAgent({
    dataDir: device.dataDir,
    clock: world.agentClock,
    monotonic: world.monotonic,
  });
  try {
    const outcome = await new SyncClient({ agent, sleep: async () => {} }).run();
    expect(outcome).toMatchObject({ completed: true, lastFailure: null });
    return {
      serial: parseCertificate(agent.binding.certificatePem).serialNumber,
      thumbprint: agent.deviceKey.thumbprint(),
    };
  } finally {
    agent.close();
  }
}

const caCertificates = async (deviceId: string): Promise<number> =>
  (
    (await world.ca.ctx.store.db
      .prepare('SELECT count(*) AS n FROM certificates WHERE device_id = ?')
      .get(deviceId)) as { n: number }
  ).n;

describe('binding renewal (docs/architecture.md §3.4)', () => {
  it('does nothing before renewFromFraction of the lifetime, and asks the CA nothing', async () => {
    const device = await world.device();
    world.advance(19 * DAY);
    const outcome = await renew(device);
    expect(outcome).toMatchObject({ renewed: false, phase: 'valid' });
    expect(await caCertificates(device.opened.binding.deviceId)).toBe(1);
  });

  it('on demand before the window, the CA refuses with renewal_too_early and nothing changes', async () => {
    const device = await world.device();
    const before = await usable(device);
    await expect(renew(device, { when: 'now' })).rejects.toMatchObject({
      code: 'renewal_too_early',
    });
    expect(existsSync(agentPaths(device.dataDir).nextDeviceKey)).toBe(false);
    expect(await usable(device)).toEqual(before);
  });

  it('re-keys once due: new key and certificate, the old key shredded, grants and sessions of the old key still good', async () => {
    const device = await world.device();
    const old = await usable(device);
    world.advance(21 * DAY);
    const online = await signInOnline(
      device.agent,
      { username: 'amina', password: PASSWORD },
      TEST_OPTIONS,
    );
    expect(online).toMatchObject({ verdict: { ok: true } });
    const oldToken = online.kind === 'answered' && online.verdict.ok ? online.verdict.token : '';

    const outcome = await renew(device);
    expect(outcome).toMatchObject({ renewed: true, rekeyed: true, afterExpiry: false });
    const paths = agentPaths(device.dataDir);
    for (const leftover of [paths.nextDeviceKey, paths.retiredDeviceKey, paths.renewalLock]) {
      expect(existsSync(leftover)).toBe(false);
    }
    const renewed = await usable(device);
    expect(renewed.serial).not.toBe(old.serial);
    expect(renewed.thumbprint).not.toBe(old.thumbprint);
    expect(await caCertificates(device.opened.binding.deviceId)).toBe(2);

    // A session token minted under the old certificate verifies until it expires.
    const verifier = createLocalVerifier(device.opened);
    expect(verifier.verify(oldToken)).toMatchObject({ ok: true, kind: 'session' });
    // The grant the CA bound to the old key still signs amina in offline, with the new key.
    world.link.set('down');
    const { opened, agent } = await openSigninAgent({
      dataDir: device.dataDir,
      clock: world.agentClock,
      monotonic: world.monotonic,
    });
    try {
      const verdict = await signInOffline(
        agent,
        { username: 'amina', password: PASSWORD },
        TEST_OPTIONS,
      );
      expect(verdict).toMatchObject({ ok: true, mode: 'offline' });
      const minted = verdict.ok ? verdict.token : '';
      const x5c = JSON.parse(Buffer.from(minted.split('.')[0] ?? '', 'base64url').toString()) as {
        x5c: string[];
      };
      expect(parseCertificate(Buffer.from(x5c.x5c[0] ?? '', 'base64')).serialNumber).toBe(
        renewed.serial,
      );
    } finally {
      opened.close();
      world.link.set('up');
    }
  });

  it('a renewal restarts no offline window: only a complete sync brings the feed', async () => {
    const device = await world.device();
    await usable(device);
    world.advance(21 * DAY);
    // Online: a fresh grant, but no revocation feed; then the renewal, and no sync after it.
    await signInOnline(device.agent, { username: 'amina', password: PASSWORD }, TEST_OPTIONS);
    expect(await renew(device)).toMatchObject({ renewed: true });
    const offlineSignin = async () => {
      world.link.set('down');
      const { opened, agent } = await openSigninAgent({
        dataDir: device.dataDir,
        clock: world.agentClock,
        monotonic: world.monotonic,
      });
      try {
        return await signInOffline(agent, { username: 'amina', password: PASSWORD }, TEST_OPTIONS);
      } finally {
        opened.close();
        world.link.set('up');
      }
    };
    expect(await offlineSignin()).toMatchObject({ code: 'offline_window_exceeded' });
    await usable(device);
    expect(await offlineSignin()).toMatchObject({ ok: true, mode: 'offline' });
  });

  it('keeps the key with rekey: false', async () => {
    const device = await world.device({ name: 'Tablet 3' });
    const old = await usable(device);
    // As a store enrolled before the CA sent names: renewal fills them in.
    const { store } = device.opened;
    store.db.exec('UPDATE binding SET tenant_name = NULL, device_name = NULL');
    world.advance(21 * DAY);
    expect(await renew(device, { rekey: false })).toMatchObject({ renewed: true, rekeyed: false });
    expect(readDeviceBinding(store)).toMatchObject({
      tenantName: 'Hillside Primary',
      deviceName: 'Tablet 3',
    });
    const renewed = await usable(device);
    expect(renewed.thumbprint).toBe(old.thumbprint);
    expect(renewed.serial).not.toBe(old.serial);
  });

  it.each<RenewalStep>(['key_generated', 'certificate_issued', 'binding_stored', 'key_replaced'])(
    'a crash after %s leaves a usable binding, and the next renewal completes',
    async (step) => {
      const device = await world.device();
      const old = await usable(device);
      world.advance(21 * DAY);
      await expect(renew(device, { onStep: crashAt(step) })).rejects.toBeInstanceOf(Crash);
      const after = await usable(device);
      // Before the commit the old binding stands; from it on the new one.
      const committed = step === 'binding_stored' || step === 'key_replaced';
      expect(after.thumbprint === old.thumbprint).toBe(!committed);
      if (!committed) expect(await renew(device)).toMatchObject({ renewed: true });
      expect((await usable(device)).thumbprint).not.toBe(old.thumbprint);
      const paths = agentPaths(device.dataDir);
      expect(existsSync(paths.nextDeviceKey) || existsSync(paths.retiredDeviceKey)).toBe(false);
    },
  );

  it('a crash inside the key swap (old key linked aside, new key not yet renamed) recovers to the new key', async () => {
    const device = await world.device();
    world.advance(21 * DAY);
    await expect(renew(device, { onStep: crashAt('binding_stored') })).rejects.toBeInstanceOf(
      Crash,
    );
    const paths = agentPaths(device.dataDir);
    // Half of `promoteNextKey`: the first rename's effect without the second.
    const { link } = await import('node:fs/promises');
    await link(paths.deviceKey, paths.retiredDeviceKey);
    const recovered = await usable(device);
    expect(existsSync(paths.retiredDeviceKey)).toBe(false);
    expect(existsSync(paths.nextDeviceKey)).toBe(false);
    // And promoting twice (two processes recovering at once) never shreds the new key.
    await promoteNextKey(paths);
    expect(await usable(device)).toEqual(recovered);
  });

  it('an expired binding renews within the grace period with its old key, not after it', async () => {
    const device = await world.device();
    world.advance(31 * DAY);
    expect(await renew(device)).toMatchObject({ renewed: true, afterExpiry: true });
    await usable(device);

    world.advance(61 * DAY);
    const before = await caCertificates(device.opened.binding.deviceId);
    await expect(renew(device)).rejects.toMatchObject({
      code: 'binding_expired',
      message: expect.stringContaining('re-enroll'),
    });
    expect(await caCertificates(device.opened.binding.deviceId)).toBe(before);
  });

  it('a second renewal while one runs is refused with renewal_in_progress', async () => {
    const device = await world.device();
    world.advance(21 * DAY);
    let inner: Promise<unknown> | undefined;
    await renew(device, {
      onStep: async (step) => {
        if (step !== 'key_generated') return;
        inner = renew(device).catch((error: unknown) => error);
        await inner;
      },
    });
    expect(await inner).toMatchObject({ code: 'renewal_in_progress' });
  });

  it('past the grace period, enroll with a new token binds the same device again and delivers its queued events', async () => {
    const device = await world.device();
    const { deviceId } = device.opened.binding;
    await expect(
      enroll({
        dataDir: device.dataDir,
        caUrl: world.caUrl,
        token: await createEnrollmentToken(world.ca, world.tenantId),
        clock: world.agentClock,
      }),
    ).rejects.toMatchObject({ code: 'already_enrolled' });

    world.link.set('down');
    world.advance(61 * DAY);
    // Recorded while the binding is dead: sign-ins refused, each one an outbox event.
    const refused = await signInOffline(
      device.agent,
      { username: 'amina', password: PASSWORD },
      TEST_OPTIONS,
    );
    expect(refused).toMatchObject({ ok: false, code: 'binding_expired' });
    const queued = device.events('identity.user.login_failed').length;
    expect(queued).toBeGreaterThan(0);
    world.link.set('up');
    await expect(renew(device)).rejects.toMatchObject({ code: 'binding_expired' });

    const outcome = await enroll({
      dataDir: device.dataDir,
      caUrl: world.caUrl,
      token: await createEnrollmentToken(world.ca, world.tenantId),
      rootFingerprint: world.ca.rootFingerprint,
      clock: world.agentClock,
    });
    expect(outcome).toMatchObject({ reenrolled: true, deviceId });
    await usable(device);
    const delivered = (await world.ca.ctx.store.db
      .prepare(
        "SELECT count(*) AS n FROM events WHERE event_type = 'identity.user.login_failed' AND actor_id = ?",
      )
      .get(deviceId)) as { n: number };
    expect(delivered.n).toBe(queued);
  });
});
