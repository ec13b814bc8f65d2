import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createEnrollmentToken, createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import { testDeviceKey } from '../../test/support/device-keys.js';
import { enrollDevice } from '../src/enrollment/enroll-device.js';
import { revokeEnrollmentToken } from '../src/enrollment/enrollment-tokens.js';
import { PostgresDatabase } from '../src/store/postgres/postgres-database.js';

/** Enrollments in flight together share one commit (group commit); each stays its own unit. */
let ca: TestCa;
let tenantId: string;

beforeEach(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Hillside Primary');
});
afterEach(async () => ca.close());

async function inputs(count: number): Promise<{ enrollmentToken: string; csr: string }[]> {
  const made: { enrollmentToken: string; csr: string }[] = [];
  for (let i = 0; i < count; i++) {
    made.push({
      enrollmentToken: await createEnrollmentToken(ca, tenantId),
      csr: await testDeviceKey().csr(),
    });
  }
  return made;
}

const tokenIdOf = (token: string) => `tok_${token.slice(4, 30)}`;

describe('concurrent enrollments', () => {
  it('share one commit; a raced token fails alone and each winner writes its three events together', async () => {
    const batch = await inputs(6);
    const raced = {
      enrollmentToken: batch[2]?.enrollmentToken ?? '',
      csr: await testDeviceKey().csr(),
    };
    const before = await ca.eventCount();
    // Counts the outermost transactions, i.e. the COMMITs (and fsyncs) the batch costs.
    const store = ca.ctx.store;
    const transaction = store.transaction.bind(store);
    let commits = 0;
    store.transaction = <T>(fn: () => Promise<T> | T): Promise<T> => {
      if (!store.db.inTransaction) commits += 1;
      return transaction(fn);
    };
    const inputsSent = [...batch, raced];
    const results = await Promise.allSettled(
      inputsSent.map((input, i) => enrollDevice(ca.ctx, input, `bulk-${i}`)),
    );
    store.transaction = transaction;

    // Of the two with one token, one wins: the first to reach the store (on PostgreSQL, whose
    // reads answer in their own time, not always the first asked).
    const lost = results.flatMap((result, i) => (result.status === 'rejected' ? [i] : []));
    expect([[2], [6]]).toContainEqual(lost);
    expect((results[lost[0] ?? 6] as PromiseRejectedResult).reason).toMatchObject({
      code: 'enrollment_token_used',
    });
    // On SQLite the seven reach the group in one turn of the event loop; on PostgreSQL their
    // reads before it run on several connections and answer in their own time, so the group
    // may be cut in two or three: still fewer commits than enrollments.
    if (store.db instanceof PostgresDatabase) expect(commits).toBeLessThan(7);
    else expect(commits).toBe(1);
    expect(await ca.eventCount()).toBe(before + 18);

    const enrolled = results.flatMap((result, i) =>
      result.status === 'fulfilled'
        ? [{ deviceId: result.value.deviceId, input: inputsSent[i] }]
        : [],
    );
    expect(new Set(enrolled.map(({ deviceId }) => deviceId)).size).toBe(6);
    for (const { deviceId, input } of enrolled) {
      const consumed = await ca.ctx.store.read({
        aggregateId: tokenIdOf(input?.enrollmentToken ?? ''),
        eventType: 'identity.enrollment_token.consumed',
      });
      const device = await ca.ctx.store.read({ aggregateId: deviceId });
      // One atomic unit per enrollment: its three events are adjacent in the log.
      expect([...consumed, ...device].map((event) => [event.eventType, event.position])).toEqual([
        ['identity.enrollment_token.consumed', consumed[0]?.position],
        ['identity.device.enrolled', (consumed[0]?.position ?? 0) + 1],
        ['identity.device.bound_for_offline', (consumed[0]?.position ?? 0) + 2],
      ]);
      expect(consumed[0]?.payload).toMatchObject({ deviceId });
    }
  });

  it('a token revoked while its certificate is being signed is refused as revoked, writing nothing', async () => {
    const [input] = await inputs(1);
    if (!input) throw new Error('no input');
    const enrolling = enrollDevice(ca.ctx, input, 'late-revoke');
    // enrollDevice has checked the token and is awaiting the signature: revoke it now.
    await revokeEnrollmentToken(
      ca.ctx,
      { tenantId, tokenId: tokenIdOf(input.enrollmentToken) },
      { actor: { type: 'system', id: 'test' }, correlationId: 'test' },
    );
    const before = await ca.eventCount();
    await expect(enrolling).rejects.toMatchObject({ code: 'enrollment_token_revoked' });
    expect(await ca.eventCount()).toBe(before);
    expect(await ca.ctx.store.read({ eventType: 'identity.device.enrolled' })).toEqual([]);
  });

  it('through the HTTP route: a bulk of enrollments all succeed with distinct devices', async () => {
    const batch = await inputs(8);
    const responses = await Promise.all(
      batch.map((payload) => ca.app.inject({ method: 'POST', url: '/v1/devices/enroll', payload })),
    );
    expect(responses.map((response) => response.statusCode)).toEqual(batch.map(() => 201));
    const ids = responses.map((response) => (response.json() as { deviceId: string }).deviceId);
    expect(new Set(ids).size).toBe(8);
    expect(
      await ca.ctx.store.read({ eventType: 'identity.device.bound_for_offline' }),
    ).toHaveLength(8);
  });
});
