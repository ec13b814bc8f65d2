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

/** The body of a sync round pushing `events`. */
export function syncBody(events: { seq: number; event: unknown }[] = [], revocationCursor = 0) {
  return JSON.stringify({ events, revocationCursor });
}

/** One sync round of `device` pushing `events`, from revocation cursor 0. */
export function syncAsDevice(
  ca: TestCa,
  device: EnrolledTestDevice,
  events: { seq: number; event: unknown }[] = [],
) {
  return postAsDevice(ca, device, '/v1/sync', syncBody(events));
}

/** An event `device` recorded itself just now, as its agent queues it for the next sync. */
export function deviceEvent(
  ca: TestCa,
  device: EnrolledTestDevice,
  eventType: string,
  payload: Record<string, unknown>,
): EventEnvelope {
  const eventId = ids.next('evt');
  return {
    eventId,
    eventType,
    eventVersion: 1,
    occurredAt: new Date(ca.clock.now()).toISOString(),
    tenantId: device.tenantId,
    actor: { type: 'device', id: device.deviceId },
    correlationId: eventId,
    partitionKey: device.deviceId,
    payload,
  };
}

/** An offline password sign-in of `userId` on `device`. */
export function offlineSignin(
  ca: TestCa,
  device: EnrolledTestDevice,
  userId: string,
): EventEnvelope {
  return deviceEvent(ca, device, 'identity.user.logged_in', {
    userId,
    sessionId: ids.next('ses'),
    offline: true,
    deviceId: device.deviceId,
    amr: ['pwd'],
  });
}
