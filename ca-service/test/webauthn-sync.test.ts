import type { EventEnvelope } from '@lantern/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import {
  createEnrollmentToken,
  createTenant,
  createUser,
  startTestCa,
} from '../../test/support/ca-fixture.js';
import type { EnrolledTestDevice } from '../../test/support/device-keys.js';
import { enrollTestDevice } from '../../test/support/device-keys.js';
import { deviceEvent, postAsDevice } from '../../test/support/device-requests.js';

const PASSWORD = 'correct horse battery';

let ca: TestCa;
let tenantId: string;
let aminaId: string;
let tomId: string;
let device: EnrolledTestDevice;

const signed = (url: string, payload: unknown, who: EnrolledTestDevice) =>
  postAsDevice(ca, who, url, JSON.stringify(payload));

beforeEach(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Hillside');
  aminaId = await createUser(ca, tenantId, 'amina', PASSWORD);
  tomId = await createUser(ca, tenantId, 'tom', PASSWORD);
  device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
  // amina signed in on this device (as before registering a passkey there); tom never did.
  const login = await signed(
    '/v1/auth/login',
    { tenant: tenantId, username: 'amina', password: PASSWORD },
    device,
  );
  expect(login.statusCode).toBe(200);
});
afterEach(async () => ca.close());

const enrolled = (userId: string, credentialId: string, extra: Record<string, unknown> = {}) =>
  deviceEvent(ca, device, 'identity.user.mfa_enrolled', {
    userId,
    kind: 'webauthn',
    credentialId,
    deviceId: device.deviceId,
    ...extra,
  });

let seq = 0;
beforeEach(() => {
  seq = 0;
});

async function push(...events: EventEnvelope[]) {
  const response = await signed(
    '/v1/sync',
    { events: events.map((event) => ({ seq: ++seq, event })), revocationCursor: 0 },
    device,
  );
  expect(response.statusCode).toBe(200);
  return response.json() as {
    accepted: number;
    rejected: { seq: number; code: string; message: string }[];
  };
}

const passkeysOf = async (userId: string) =>
  (
    (await ca.admin('GET', `/v1/admin/users/${userId}/mfa`)).json() as {
      passkeys: { credentialId: string; deviceId: string | null }[];
    }
  ).passkeys;

describe('passkey events reported by a device', () => {
  it('refuses a TOTP enrolment: only the CA records those', async () => {
    const result = await push(
      deviceEvent(ca, device, 'identity.user.mfa_enrolled', { userId: aminaId, kind: 'totp' }),
      enrolled(aminaId, 'dG90cA', { kind: 'totp' }),
    );
    expect(result.accepted).toBe(0);
    expect(result.rejected).toMatchObject([
      {
        code: 'event_not_allowed',
        message: 'a device may report passkey enrolments only, not totp',
      },
      {
        code: 'event_not_allowed',
        message: 'a device may report passkey enrolments only, not totp',
      },
    ]);
  });

  it('refuses an enrolment for a user who never signed in on the device', async () => {
    const result = await push(enrolled(tomId, 'dG9tLWNyZWQ'));
    expect(result.rejected).toMatchObject([
      { code: 'event_not_allowed', message: 'the user never signed in on this device' },
    ]);
    expect(await passkeysOf(tomId)).toEqual([]);
  });

  it('refuses an enrolment that does not name this device or its credential', async () => {
    const other = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
    const result = await push(
      deviceEvent(ca, device, 'identity.user.mfa_enrolled', { userId: aminaId, kind: 'webauthn' }),
      enrolled(aminaId, 'Y3JlZA', { deviceId: other.deviceId }),
      deviceEvent(ca, device, 'identity.user.mfa_enrolled', {
        userId: aminaId,
        kind: 'webauthn',
        credentialId: 'Y3JlZA',
      }),
    );
    expect(result.rejected.map((r) => r.code)).toEqual([
      'event_not_allowed',
      'tenant_mismatch',
      'event_not_allowed',
    ]);
  });

  it('refuses a user of another tenant', async () => {
    const riverside = await createTenant(ca, 'Riverside');
    const stranger = await createUser(ca, riverside, 'amina', PASSWORD);
    const result = await push(enrolled(stranger, 'c3RyYW5nZXI'));
    expect(result.rejected).toMatchObject([{ code: 'tenant_mismatch' }]);
  });

  it('accepts a passkey enrolment and projects the device-bound credential', async () => {
    const result = await push(enrolled(aminaId, 'YW1pbmEtY3JlZA'));
    expect(result).toMatchObject({ accepted: 1, rejected: [] });
    expect(await passkeysOf(aminaId)).toEqual([
      {
        credentialId: 'YW1pbmEtY3JlZA',
        deviceId: device.deviceId,
        enrolledAt: new Date(ca.clock.now()).toISOString(),
      },
    ]);
    // The same credential again from this device is harmless; claimed for someone else it is not.
    const tomLogin = await signed(
      '/v1/auth/login',
      { tenant: tenantId, username: 'tom', password: PASSWORD },
      device,
    );
    expect(tomLogin.statusCode).toBe(200);
    const again = await push(
      enrolled(aminaId, 'YW1pbmEtY3JlZA'),
      enrolled(tomId, 'YW1pbmEtY3JlZA'),
    );
    expect(again.accepted).toBe(1);
    expect(again.rejected).toMatchObject([
      { code: 'event_not_allowed', message: 'this credential id is already registered elsewhere' },
    ]);
    expect(await passkeysOf(tomId)).toEqual([]);

    // An admin removes it; the event says which credential.
    const removed = await ca.admin(
      'DELETE',
      `/v1/admin/users/${aminaId}/mfa/webauthn/YW1pbmEtY3JlZA`,
    );
    expect(removed.statusCode).toBe(200);
    expect(await passkeysOf(aminaId)).toEqual([]);
  });

  it('accepts a cancelled registration, for a user who signed in on the device', async () => {
    const result = await push(
      deviceEvent(ca, device, 'identity.user.webauthn_registration_canceled', {
        userId: aminaId,
        deviceId: device.deviceId,
        reason: 'user_canceled',
      }),
      deviceEvent(ca, device, 'identity.user.webauthn_registration_canceled', {
        userId: tomId,
        reason: 'timeout',
      }),
    );
    expect(result.accepted).toBe(1);
    expect(result.rejected).toMatchObject([{ seq: 2, code: 'event_not_allowed' }]);
    expect(
      await ca.ctx.store.read({
        tenantId,
        eventType: 'identity.user.webauthn_registration_canceled',
      }),
    ).toMatchObject([{ aggregateId: aminaId, payload: { reason: 'user_canceled' } }]);
  });
});
