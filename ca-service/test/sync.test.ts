import { X5cJwtVerifier, createIdGenerator } from '@lantern/shared';
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
import { offlineSignin, postAsDevice, syncBody } from '../../test/support/device-requests.js';

let ca: TestCa;
let tenantId: string;
let userId: string;
let device: EnrolledTestDevice;
const ids = createIdGenerator();

beforeEach(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Hillside');
  userId = await createUser(ca, tenantId, 'amina', 'correct horse battery');
  device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
});
afterEach(async () => ca.close());

const now = () => Math.floor(ca.clock.now() / 1000);

const signin = () => offlineSignin(ca, device, userId);

const sync = (events: { seq: number; event: unknown }[], revocationCursor = 0, who = device) =>
  postAsDevice(ca, who, '/v1/sync', syncBody(events, revocationCursor));

describe('POST /v1/sync', () => {
  it('stores pushed events once and acks the highest contiguous sequence', async () => {
    const events = [1, 2, 3].map((seq) => ({ seq, event: signin() }));
    const first = await sync(events);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ ack: 3, accepted: 3, duplicates: 0, rejected: [] });
    const stored = await ca.ctx.store.read({
      eventType: 'identity.user.logged_in',
      actorId: device.deviceId,
    });
    expect(stored.map((event) => event.eventId)).toEqual(events.map(({ event }) => event.eventId));

    // The response was lost: the device sends the same push again.
    const retry = await sync(events);
    expect(retry.json()).toMatchObject({ ack: 3, accepted: 0, duplicates: 3 });
    expect(
      await ca.ctx.store.read({ eventType: 'identity.user.logged_in', actorId: device.deviceId }),
    ).toHaveLength(3);
  });

  it('refuses a replayed round, writing nothing', async () => {
    const body = syncBody([{ seq: 1, event: signin() }]);
    const proof = device.proof('POST', '/v1/sync', body, now());
    expect((await postAsDevice(ca, device, '/v1/sync', body, proof)).statusCode).toBe(200);
    const before = {
      events: await ca.eventCount(),
      state: await ca.ctx.store.db.prepare('SELECT * FROM device_sync_state').all(),
    };
    const replay = await postAsDevice(ca, device, '/v1/sync', body, proof);
    expect(replay.statusCode).toBe(401);
    expect(replay.json()).toMatchObject({ code: 'device_proof_replayed' });
    expect(await ca.eventCount()).toBe(before.events);
    expect(await ca.ctx.store.db.prepare('SELECT * FROM device_sync_state').all()).toEqual(
      before.state,
    );
    // Spent ids older than a proof's lifetime are cleared by later rounds, not kept forever.
    ca.clock.advance(10 * 60_000);
    expect((await sync([])).statusCode).toBe(200);
    const jtis = await ca.ctx.store.db.prepare('SELECT count(*) AS n FROM proof_jtis').get();
    expect(jtis).toEqual({ n: 1 });
  });

  it('does not ack past a gap, and closes it when the missing event arrives', async () => {
    const [a, b, c] = [signin(), signin(), signin()];
    expect(
      (
        await sync([
          { seq: 1, event: a },
          { seq: 3, event: c },
        ])
      ).json(),
    ).toMatchObject({ ack: 1, accepted: 2 });
    expect((await sync([{ seq: 2, event: b }])).json()).toMatchObject({ ack: 3, accepted: 1 });
  });

  it('treats the same event id under another sequence as a duplicate', async () => {
    const event = signin();
    await sync([{ seq: 1, event }]);
    expect((await sync([{ seq: 2, event }])).json()).toMatchObject({
      ack: 2,
      accepted: 0,
      duplicates: 1,
    });
  });

  it('refuses, per event, what a device may not report, and moves on', async () => {
    const foreignTenant = { ...signin(), tenantId: ids.next('ten') };
    const adminEvent = { ...signin(), eventType: 'identity.device.revoked' };
    const bad = { ...signin(), payload: { userId } };
    const otherDevice = { ...signin(), actor: { type: 'device', id: ids.next('dev') } };
    const response = await sync([
      { seq: 1, event: foreignTenant },
      { seq: 2, event: adminEvent },
      { seq: 3, event: bad },
      { seq: 4, event: otherDevice },
      { seq: 5, event: signin() },
    ]);
    expect(response.json()).toMatchObject({
      ack: 5,
      accepted: 1,
      rejected: [
        { seq: 1, code: 'tenant_mismatch' },
        { seq: 2, code: 'event_not_allowed' },
        { seq: 3, code: 'schema_violation' },
        { seq: 4, code: 'tenant_mismatch' },
      ],
    });
  });

  it('refuses a user of another tenant in the payload', async () => {
    const otherTenant = await createTenant(ca, 'Elsewhere');
    const stranger = await createUser(ca, otherTenant, 'zed', 'correct horse battery');
    const event = signin();
    event.payload['userId'] = stranger;
    expect((await sync([{ seq: 1, event }])).json()).toMatchObject({
      accepted: 0,
      rejected: [{ seq: 1, code: 'tenant_mismatch' }],
    });
  });

  it('refuses a malformed body with invalid_request and writes nothing', async () => {
    const before = await ca.eventCount();
    for (const events of [
      [{ seq: 0, event: signin() }],
      Array.from({ length: 501 }, (_, i) => ({ seq: i + 1, event: {} })),
      [{ seq: 1, event: { ...signin(), eventId: { id: 'evt' } } }],
      [{ seq: Number.MAX_SAFE_INTEGER + 2, event: signin() }],
    ]) {
      const response = await sync(events);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ code: 'invalid_request' });
    }
    // Read as text by the route's schema (null becomes ""), then refused alone by the catalogue's.
    const nullId = await sync([{ seq: 1, event: { ...signin(), eventId: null } }]);
    expect(nullId.statusCode).toBe(200);
    expect(nullId.json()).toMatchObject({
      accepted: 0,
      rejected: [{ seq: 1, code: 'schema_violation' }],
    });
    expect(await ca.eventCount()).toBe(before);
  });

  it('pulls signed revocation pages, JWKS when changed and a signed server time', async () => {
    const other = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
    await ca.admin('POST', `/v1/admin/devices/${other.deviceId}/revoke`, { reason: 'lost' });
    const response = (await sync([])).json() as {
      revocations: { page: string; next: number; more: boolean };
      jwks?: unknown;
      jwksEtag: string;
      serverTime: string;
    };
    expect(response.revocations).toMatchObject({ next: 1, more: false });
    const verifier = (typ: string) =>
      new X5cJwtVerifier({ trustAnchors: [ca.ctx.ca.rootPem], typ, requiredClaims: ['iat'] });
    const page = verifier('lantern-revocations+jws').verify(response.revocations.page, now());
    expect(page).toMatchObject({
      ok: true,
      claims: {
        tenantId,
        entries: [{ seq: 1, kind: 'device', id: other.deviceId, reason: 'lost' }],
      },
    });
    const time = verifier('lantern-time+jws').verify(response.serverTime, now());
    expect(time).toMatchObject({ ok: true, claims: { aud: device.deviceId, iat: now() } });
    const forged = `${response.serverTime.slice(0, -4)}AAAA`;
    expect(verifier('lantern-time+jws').verify(forged, now()).ok).toBe(false);
    expect(response.jwks).toBeDefined();

    const again = (
      await ca.app.inject({
        method: 'POST',
        url: '/v1/sync',
        headers: {
          'content-type': 'application/json',
          'lantern-device-proof': device.proof(
            'POST',
            '/v1/sync',
            JSON.stringify({ events: [], revocationCursor: 1, jwksEtag: response.jwksEtag }),
            now(),
          ),
        },
        payload: JSON.stringify({ events: [], revocationCursor: 1, jwksEtag: response.jwksEtag }),
      })
    ).json() as { jwks?: unknown; revocations: { next: number } };
    expect(again.jwks).toBeUndefined();
    expect(again.revocations.next).toBe(1);
  });

  it('lets a revoked device hand over its events, quarantining every offline sign-in it hands over', async () => {
    const before = signin();
    ca.clock.advance(60_000);
    await ca.admin('POST', `/v1/admin/devices/${device.deviceId}/revoke`, { reason: 'stolen' });
    ca.clock.advance(60_000);
    const after = signin();
    const response = await sync([
      { seq: 1, event: before },
      { seq: 2, event: after },
    ]);
    expect(response.statusCode).toBe(200);
    // The claimed time is the device's word: both arrive after the revocation, so both go to
    // review (issue 15: a back-dated sign-in must not slip through).
    expect(response.json()).toMatchObject({ ack: 2, accepted: 2, quarantined: 2 });
    const listed = (
      await ca.admin(
        'GET',
        `/v1/events?tenant=${tenantId}&device=${device.deviceId}&type=identity.user.logged_in`,
      )
    ).json() as {
      events: { eventId: string; quarantined: boolean }[];
    };
    expect(listed.events.map((event) => [event.eventId, event.quarantined])).toEqual([
      [before.eventId, true],
      [after.eventId, true],
    ]);
  });
});
