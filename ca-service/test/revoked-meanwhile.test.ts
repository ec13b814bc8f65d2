import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Signer } from '../src/pki/signer.js';
import { revokeDevice } from '../src/revocation/revoke-device.js';
import { SyncService } from '../src/sync/sync-service.js';
import { applyUserAction, setPasswordHash } from '../src/users/users.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import {
  createEnrollmentToken,
  createTenant,
  createUser,
  startTestCa,
} from '../../test/support/ca-fixture.js';
import type { EnrolledTestDevice } from '../../test/support/device-keys.js';
import { enrollTestDevice, testDeviceKey } from '../../test/support/device-keys.js';
import { offlineSignin, postAsDevice } from '../../test/support/device-requests.js';

/**
 * What a device proof or a credential allowed is recorded only if the device and the account
 * are still in good standing when it is: a revocation, suspension or lock that commits while a
 * certificate is being signed or a password hashed wins. Each test makes it commit in that
 * window, through the awaited step itself.
 */
const DAY = 86_400_000;
const PASSWORD = 'correct horse battery staple';
const meta = { actor: { type: 'system' as const, id: 'test-admin' }, correlationId: 'race' };

let ca: TestCa;
let tenantId: string;
let device: EnrolledTestDevice;

beforeEach(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Hillside');
  device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
});
afterEach(async () => ca.close());

/** Runs `action` once, when the issuing CA is next asked to sign (after every check before it). */
function beforeNextSignature(action: () => Promise<unknown>): void {
  const { authority } = ca.ctx.ca;
  const signer = authority.signer;
  const racing: Signer = {
    publicKey: signer.publicKey,
    sign: async (data, encoding) => {
      authority.signer = signer;
      await action();
      return signer.sign(data, encoding);
    },
  };
  authority.signer = racing;
}

/** Runs `action` once, while the next password is being checked. */
function duringNextPasswordCheck(action: () => Promise<unknown>): void {
  const { passwords } = ca.ctx;
  const verify = passwords.verify.bind(passwords);
  passwords.verify = async (password, stored) => {
    passwords.verify = verify;
    const verdict = await verify(password, stored);
    await action();
    return verdict;
  };
}

const revoke = () =>
  revokeDevice(ca.ctx, { deviceId: device.deviceId, tenantId: null, reason: 'stolen' }, meta);

const certificates = () =>
  ca.ctx.store.db
    .prepare(
      'SELECT count(*) AS issued, count(revoked_at) AS revoked FROM certificates WHERE device_id = ?',
    )
    .get(device.deviceId);

const sessions = (userId: string) =>
  ca.ctx.store.db.prepare('SELECT count(*) AS n FROM sessions WHERE user_id = ?').get(userId);

describe('a device revoked while its new certificate is signed gets none', () => {
  it('refuses the renewal: every certificate the device holds is one the revocation covers', async () => {
    ca.clock.advance(21 * DAY);
    const before = await ca.eventCount();
    beforeNextSignature(revoke);
    const renewal = await postAsDevice(ca, device, '/v1/devices/renew', '{}');
    expect(renewal.statusCode, renewal.body).toBe(403);
    expect(renewal.json()).toMatchObject({ code: 'device_revoked' });
    expect(await certificates()).toEqual({ issued: 1, revoked: 1 });
    expect(await ca.eventCount()).toBe(before + 1);
  });

  it('refuses the re-enrollment, and leaves its token unused', async () => {
    ca.clock.advance(90 * DAY);
    const token = await createEnrollmentToken(ca, tenantId);
    const body = JSON.stringify({ enrollmentToken: token, csr: await testDeviceKey().csr() });
    beforeNextSignature(revoke);
    const answer = await postAsDevice(ca, device, '/v1/devices/enroll', body);
    expect(answer.statusCode, answer.body).toBe(403);
    expect(answer.json()).toMatchObject({ code: 'device_revoked' });
    expect(await certificates()).toEqual({ issued: 1, revoked: 1 });
    const status = await ca.ctx.store.db
      .prepare('SELECT status FROM enrollment_tokens WHERE device_id IS NULL')
      .all();
    expect(status).toEqual([{ status: 'issued' }]);
  });
});

describe('a device revoked right after its enrollment committed', () => {
  it('is given a revocation cursor before its own revocation, so its first sync brings it', async () => {
    const { store } = ca.ctx;
    const grouped = store.groupedTransaction.bind(store);
    // Another instance revokes the new device between the enrollment's commit and its answer.
    store.groupedTransaction = async <T>(unit: () => Promise<T> | T) => {
      store.groupedTransaction = grouped;
      const result = await grouped(unit);
      const newest = (await store.db
        .prepare('SELECT device_id FROM devices ORDER BY enrolled_at DESC, device_id DESC LIMIT 1')
        .get()) as { device_id: string };
      await revokeDevice(
        ca.ctx,
        { deviceId: newest.device_id, tenantId: null, reason: 'lost' },
        meta,
      );
      return result;
    };
    const enrolled = await ca.app.inject({
      method: 'POST',
      url: '/v1/devices/enroll',
      payload: {
        enrollmentToken: await createEnrollmentToken(ca, tenantId),
        csr: await testDeviceKey().csr(),
      },
    });
    expect(enrolled.statusCode, enrolled.body).toBe(201);
    const { deviceId, revocationCursor } = enrolled.json() as {
      deviceId: string;
      revocationCursor: number;
    };
    const entry = (await store.db
      .prepare('SELECT seq FROM revocation_feed WHERE subject_id = ?')
      .get(deviceId)) as { seq: number };
    expect(revocationCursor).toBeLessThan(entry.seq);
  });
});

describe('a sign-in whose account or device lost its standing during the password check', () => {
  const login = (body: string, withProof: boolean) =>
    withProof
      ? postAsDevice(ca, device, '/v1/auth/login', body)
      : ca.app.inject({
          method: 'POST',
          url: '/v1/auth/login',
          headers: { 'content-type': 'application/json' },
          payload: body,
        });

  it('gives no session to an account suspended or locked meanwhile', async () => {
    const userId = await createUser(ca, tenantId, 'amina', PASSWORD);
    const body = JSON.stringify({ tenant: tenantId, username: 'amina', password: PASSWORD });
    // A lock answers like a wrong password, as before the check: a guess in flight when the
    // lock lands must not learn that it was right.
    for (const [action, status, code] of [
      ['suspend', 403, 'account_suspended'],
      ['lock', 401, 'invalid_credentials'],
    ] as const) {
      duringNextPasswordCheck(() => applyUserAction(ca.ctx, { userId, tenantId, action }, meta));
      const refused = await login(body, false);
      expect(refused.statusCode, refused.body).toBe(status);
      expect(refused.json()).toMatchObject({ code });
      expect(await sessions(userId)).toEqual({ n: 0 });
      await applyUserAction(
        ca.ctx,
        { userId, tenantId, action: action === 'lock' ? 'unlock' : 'reactivate' },
        meta,
      );
    }
    expect((await login(body, false)).statusCode).toBe(200);
  });

  it('gives no session to the old password once a new one was set meanwhile', async () => {
    const userId = await createUser(ca, tenantId, 'noor', PASSWORD);
    const body = JSON.stringify({ tenant: tenantId, username: 'noor', password: PASSWORD });
    const newHash = await ca.ctx.passwords.hash('a brand new password, set by the admin');
    duringNextPasswordCheck(() =>
      setPasswordHash(ca.ctx.store.db, userId, newHash, new Date(ca.clock.now()).toISOString()),
    );
    const refused = await login(body, false);
    expect(refused.statusCode, refused.body).toBe(401);
    expect(refused.json()).toMatchObject({ code: 'invalid_credentials' });
    expect(await sessions(userId)).toEqual({ n: 0 });
  });

  it('gives no session or offline grant through a device revoked meanwhile', async () => {
    const userId = await createUser(ca, tenantId, 'tom', PASSWORD);
    const body = JSON.stringify({ tenant: tenantId, username: 'tom', password: PASSWORD });
    duringNextPasswordCheck(revoke);
    const refused = await login(body, true);
    expect(refused.statusCode, refused.body).toBe(403);
    expect(refused.json()).toMatchObject({ code: 'device_revoked' });
    expect(await sessions(userId)).toEqual({ n: 0 });
    const grants = await ca.ctx.store.db.prepare('SELECT count(*) AS n FROM grants').get();
    expect(grants).toEqual({ n: 0 });
  });
});

describe('a refresh whose proof was checked before the revocation committed', () => {
  it('rotates nothing for a session bound to the revoked device', async () => {
    await createUser(ca, tenantId, 'ines', PASSWORD);
    const body = JSON.stringify({ tenant: tenantId, username: 'ines', password: PASSWORD });
    const { refreshToken } = (await postAsDevice(ca, device, '/v1/auth/login', body)).json() as {
      refreshToken: string;
    };
    // The refresh's unit runs in a later turn than its proof's check: the revocation lands there.
    const { store } = ca.ctx;
    const grouped = store.groupedTransaction.bind(store);
    store.groupedTransaction = async <T>(unit: () => Promise<T> | T) => {
      store.groupedTransaction = grouped;
      await revoke();
      return grouped(unit);
    };
    const refreshed = await postAsDevice(
      ca,
      device,
      '/v1/auth/refresh',
      JSON.stringify({ refreshToken }),
    );
    expect(refreshed.statusCode, refreshed.body).toBe(403);
    expect(refreshed.json()).toMatchObject({ code: 'device_revoked' });
    const rotated = await ca.ctx.store.db
      .prepare("SELECT count(*) AS n FROM refresh_tokens WHERE status = 'rotated'")
      .get();
    expect(rotated).toEqual({ n: 0 });
  });
});

describe('a sync round whose proof was checked before the revocation committed', () => {
  it('is judged by the store: its events are a hand-over and its offline sign-ins quarantined', async () => {
    const userId = await createUser(ca, tenantId, 'lena', PASSWORD);
    // The device as its proof's check found it: still active.
    const proven = {
      deviceId: device.deviceId,
      tenantId,
      serial: '',
      certificate: undefined as never,
      expired: false,
      revokedAt: null,
      jti: 'race',
    };
    await revoke();
    const answer = await new SyncService(ca.ctx).sync(
      proven,
      { events: [{ seq: 1, event: offlineSignin(ca, device, userId) }], revocationCursor: 0 },
      'race',
    );
    expect(answer).toMatchObject({ accepted: 1, quarantined: 1 });
    const receipt = await ca.ctx.store.db
      .prepare('SELECT outcome FROM device_event_receipts WHERE device_id = ?')
      .all(device.deviceId);
    expect(receipt).toEqual([{ outcome: 'recorded' }]);
  });
});
