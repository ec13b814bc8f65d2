import type { EventEnvelope } from '@lantern/shared';
import { createIdGenerator } from '@lantern/shared';
import type { TestCa } from './ca-fixture.js';
import type { EnrolledTestDevice } from './device-keys.js';

const ids = createIdGenerator();

/** `POST path` with the device's proof of possession over `body` (or a given, perhaps forged, one). */
export function postAsDevice(
  ca: TestCa,
  device: EnrolledTestDevice,
  path: string,
  body: string,
  proof = device.proof('POST', path, body, Math.floor(ca.clock.now() / 1000)),
) {
  return ca.app.inject({
    method: 'POST',
    url: path,
    headers: { 'content-type': 'application/json', 'lantern-device-proof': proof },
    payload: body,
  });
}

/** The body of a sync round pushing `events`, from revocation cursor 0. */
export function syncBody(events: { seq: number; event: unknown }[] = []): string {
  return JSON.stringify({ events, revocationCursor: 0 });
}

/** One sync round of `device` pushing `events`. */
export function syncAsDevice(
  ca: TestCa,
  device: EnrolledTestDevice,
  events: { seq: number; event: unknown }[] = [],
) {
  return postAsDevice(ca, device, '/v1/sync', syncBody(events));
}

/** An offline password sign-in of `userId` on `device`, as its agent queues it for the next sync. */
export function offlineSignin(
  ca: TestCa,
  device: EnrolledTestDevice,
  tenantId: string,
  userId: string,
): EventEnvelope {
  const eventId = ids.next('evt');
  return {
    eventId,
    eventType: 'identity.user.logged_in',
    eventVersion: 1,
    occurredAt: new Date(ca.clock.now()).toISOString(),
    tenantId,
    actor: { type: 'device', id: device.deviceId },
    correlationId: eventId,
    partitionKey: device.deviceId,
    payload: {
      userId,
      sessionId: ids.next('ses'),
      offline: true,
      deviceId: device.deviceId,
      amr: ['pwd'],
    },
  };
}
