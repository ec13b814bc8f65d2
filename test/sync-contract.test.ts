import type { SyncAnswer } from '@lantern/agent';
import { parseSyncAnswer } from '@lantern/agent';
import type { EventEnvelope, SyncRequest, SyncResponse } from '@lantern/shared';
import {
  MAX_SYNC_BATCH,
  SERVER_TIME_TYP,
  X5cJwtVerifier,
  createIdGenerator,
  syncAnswerDigest,
} from '@lantern/shared';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import type { SyncService } from '../ca-service/src/sync/sync-service.js';
import type { TestCa } from './support/ca-fixture.js';
import { createEnrollmentToken, createTenant, startTestCa } from './support/ca-fixture.js';
import type { EnrolledTestDevice } from './support/device-keys.js';
import { enrollTestDevice } from './support/device-keys.js';

/**
 * `shared/src/sync/` is the one declaration of `POST /v1/sync`. The types below fail `npm run
 * typecheck` when either side drifts from it; the requests below fail when the CA's answer is
 * not what the agent's parser and digest read.
 */
describe('the sync wire contract', () => {
  it('is the type the CA takes and answers, and the agent reads all of the answer', () => {
    expectTypeOf<Parameters<SyncService['sync']>[1]>().toEqualTypeOf<SyncRequest>();
    expectTypeOf<Awaited<ReturnType<SyncService['sync']>>>().toEqualTypeOf<SyncResponse>();
    expectTypeOf<SyncResponse>().toExtend<SyncAnswer>();
  });

  let ca: TestCa;
  let device: EnrolledTestDevice;
  const ids = createIdGenerator();

  beforeAll(async () => {
    ca = await startTestCa();
    const tenantId = await createTenant(ca, 'Hillside');
    device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
  });
  afterAll(async () => ca.close());

  const deviceEvent = (): EventEnvelope => {
    const eventId = ids.next('evt');
    return {
      eventId,
      eventType: 'identity.device.clock_rollback_detected',
      eventVersion: 1,
      occurredAt: new Date(ca.clock.now()).toISOString(),
      tenantId: device.tenantId,
      actor: { type: 'device', id: device.deviceId },
      correlationId: eventId,
      partitionKey: device.deviceId,
      payload: {
        deviceId: device.deviceId,
        wallClock: '2026-11-21T10:00:00.000Z',
        trustedTime: new Date(ca.clock.now()).toISOString(),
        skewSeconds: -172800,
      },
    };
  };

  async function sync(request: SyncRequest | Record<string, unknown>) {
    const body = JSON.stringify(request);
    const nowSeconds = Math.floor(ca.clock.now() / 1000);
    const response = await ca.app.inject({
      method: 'POST',
      url: '/v1/sync',
      headers: {
        'content-type': 'application/json',
        'lantern-device-proof': device.proof('POST', '/v1/sync', body, nowSeconds),
      },
      payload: body,
    });
    return { status: response.statusCode, body: response.json() as Record<string, unknown> };
  }

  it('refuses a push over the batch limit and an event without the envelope, with a 400', async () => {
    const events = Array.from({ length: MAX_SYNC_BATCH + 1 }, (_, index) => ({
      seq: index + 1,
      event: deviceEvent(),
    }));
    const tooMany = await sync({ events, revocationCursor: 0 });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body['code']).toBeTypeOf('string');

    const { partitionKey: _, ...withoutPartition } = deviceEvent();
    const partial = await sync({
      events: [{ seq: 1, event: withoutPartition }],
      revocationCursor: 0,
    });
    expect(partial.status).toBe(400);
  });

  it('answers what the agent parses and binds with the same digest', async () => {
    const first = deviceEvent();
    const request: SyncRequest = {
      events: [
        { seq: 1, event: first },
        { seq: 2, event: { ...deviceEvent(), tenantId: ids.next('ten') } },
      ],
      revocationCursor: 0,
    };
    const answer = await sync(request);
    expect(answer.status).toBe(200);

    const parsed = parseSyncAnswer(answer.body);
    if (!parsed.ok) throw new Error(parsed.detail);
    expect(parsed.answer).toMatchObject({ ack: 2, accepted: 1, duplicates: 0, quarantined: 0 });
    expect(parsed.answer.rejected).toEqual([
      { seq: 2, code: 'tenant_mismatch', message: expect.any(String) },
    ]);
    expect(parsed.answer.policy).toEqual(answer.body['policy']);

    const time = new X5cJwtVerifier({
      trustAnchors: [ca.ctx.ca.rootPem],
      typ: SERVER_TIME_TYP,
    }).verify(parsed.answer.serverTime, Math.floor(ca.clock.now() / 1000));
    if (!time.ok) throw new Error(time.reason);
    expect(time.claims['answer']).toBe(syncAnswerDigest(answer.body));
    expect(time.claims['answer']).not.toBe(syncAnswerDigest({ ...answer.body, ack: 1 }));
  });
});
