import { createIdGenerator } from '@lantern/shared';
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
import { offlineSignin, syncAsDevice } from '../../test/support/device-requests.js';
import { GENESIS_HASH, eventHash } from '../src/store/event-store.js';

/**
 * A sync round appends all its accepted events in one store append: these pin down what that
 * must not change — duplicates inside one round, the order of quarantine events, the chain.
 */
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

const signin = () => offlineSignin(ca, device, userId);
const sync = (events: { seq: number; event: unknown }[]) => syncAsDevice(ca, device, events);

describe('one store append per sync round', () => {
  it('stores an event id pushed twice in one round once, as a duplicate the second time', async () => {
    const event = signin();
    const response = await sync([
      { seq: 1, event },
      { seq: 2, event },
    ]);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ ack: 2, accepted: 1, duplicates: 1, rejected: [] });
    expect(await ca.ctx.store.read({ eventType: 'identity.user.logged_in' })).toHaveLength(1);
  });

  it('holds a seq pushed twice in one round to its first event', async () => {
    const [first, second] = [signin(), signin()];
    const response = await sync([
      { seq: 1, event: first },
      { seq: 1, event: second },
      { seq: 1, event: first },
    ]);
    expect(response.json()).toMatchObject({ ack: 1, accepted: 1, duplicates: 1 });
    expect(response.json()).toMatchObject({ rejected: [{ seq: 1, code: 'sequence_conflict' }] });
    expect(await ca.ctx.store.read({ eventType: 'identity.user.logged_in' })).toHaveLength(1);
  });

  it('keeps refusals, duplicates and stored events apart in a mixed round, and a retry changes nothing', async () => {
    const earlier = signin();
    expect((await sync([{ seq: 1, event: earlier }])).json()).toMatchObject({ accepted: 1 });
    const fresh = [signin(), signin(), signin()];
    const foreign = { ...signin(), tenantId: ids.next('ten') };
    const round = [
      { seq: 2, event: fresh[0] },
      { seq: 3, event: earlier },
      { seq: 4, event: foreign },
      { seq: 5, event: fresh[1] },
      { seq: 6, event: fresh[2] },
    ];
    const first = await sync(round);
    expect(first.json()).toMatchObject({ ack: 6, accepted: 3, duplicates: 1 });
    expect((first.json() as { rejected: { seq: number }[] }).rejected.map((r) => r.seq)).toEqual([
      4,
    ]);
    const storedIds = async () =>
      (await ca.ctx.store.read({ eventType: 'identity.user.logged_in', limit: 1000 })).map(
        (event) => event.eventId,
      );
    expect(await storedIds()).toEqual([earlier, ...fresh].map((event) => event?.eventId));
    const before = await ca.eventCount();
    expect((await sync(round)).json()).toMatchObject({ ack: 6, accepted: 0, duplicates: 5 });
    expect(await ca.eventCount()).toBe(before);
  });

  it('appends each quarantine right after its sign-in, on an unbroken hash chain', async () => {
    ca.clock.advance(60_000);
    await ca.admin('POST', `/v1/admin/devices/${device.deviceId}/revoke`, { reason: 'stolen' });
    ca.clock.advance(60_000);
    const late = [signin(), signin()];
    const response = await sync(late.map((event, i) => ({ seq: i + 1, event })));
    expect(response.json()).toMatchObject({ ack: 2, accepted: 2, quarantined: 2 });

    const all = await ca.ctx.store.read({ limit: 10_000 });
    const tail = all
      .slice(-4)
      .map((event) => [event.eventType, event.causationId ?? event.eventId]);
    expect(tail).toEqual([
      ['identity.user.logged_in', late[0]?.eventId],
      ['identity.user.offline_signin_quarantined', late[0]?.eventId],
      ['identity.user.logged_in', late[1]?.eventId],
      ['identity.user.offline_signin_quarantined', late[1]?.eventId],
    ]);
    let previous = GENESIS_HASH;
    for (const { hash, ...event } of all) {
      expect(eventHash(previous, event), `position ${event.position}`).toBe(hash);
      previous = hash;
    }
    expect(all.map((event) => event.position)).toEqual(all.map((_, i) => i + 1));
  });
});
