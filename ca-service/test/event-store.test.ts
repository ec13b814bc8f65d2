import { ConcurrencyConflictError, SchemaViolationError } from '@lantern/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENESIS_HASH, eventHash } from '../src/store/event-store.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createEnrollmentToken, createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import { testDeviceKey } from '../../test/support/device-keys.js';

let ca: TestCa;
beforeEach(async () => {
  ca = await startTestCa();
});
afterEach(async () => ca.close());

const meta = { actor: { type: 'system' as const, id: 'test' }, correlationId: 'c1' };

async function projectionDump(ca: TestCa): Promise<Record<string, unknown[]>> {
  const dump: Record<string, unknown[]> = {};
  for (const table of [
    'tenants',
    'api_keys',
    'enrollment_tokens',
    'devices',
    'certificates',
    'revocation_feed',
  ]) {
    dump[table] = await ca.ctx.store.db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2`).all();
  }
  return dump;
}

describe('event store', () => {
  it('refuses a schema-invalid payload and writes nothing, not even the valid events before it', async () => {
    const before = await ca.eventCount();
    const tenantId = ca.ctx.ids.next('ten');
    await expect(
      (async () =>
        ca.ctx.store.append([
          {
            eventType: 'identity.tenant.created',
            aggregateId: tenantId,
            tenantId,
            ...meta,
            payload: { tenantId, name: 'A', slug: 'a' },
          },
          {
            eventType: 'identity.tenant.created',
            aggregateId: tenantId,
            tenantId,
            ...meta,
            payload: { tenantId },
          },
        ]))(),
    ).rejects.toThrow(SchemaViolationError);
    expect(await ca.eventCount()).toBe(before);
    expect(await ca.ctx.store.db.prepare('SELECT COUNT(*) AS n FROM tenants').get()).toEqual({
      n: 0,
    });
  });

  it('rejects a conflicting append (optimistic concurrency) instead of overwriting', async () => {
    const tenantId = ca.ctx.ids.next('ten');
    const created = {
      eventType: 'identity.tenant.created',
      aggregateId: tenantId,
      tenantId,
      ...meta,
      payload: { tenantId, name: 'A', slug: 'a' },
    };
    await ca.ctx.store.append([{ ...created, expectedVersion: 0 }]);
    const before = await ca.eventCount();
    await expect(
      (async () => ca.ctx.store.append([{ ...created, expectedVersion: 0 }]))(),
    ).rejects.toThrow(ConcurrencyConflictError);
    expect(await ca.eventCount()).toBe(before);
    expect(await ca.ctx.store.aggregateVersion('tenant', tenantId)).toBe(1);
  });

  it('checks every stream of a several-stream append against its own stored version', async () => {
    const created = (slug: string, expectedVersion: number) => {
      const tenantId = ca.ctx.ids.next('ten');
      return {
        eventType: 'identity.tenant.created',
        aggregateId: tenantId,
        tenantId,
        ...meta,
        payload: { tenantId, name: slug, slug },
        expectedVersion,
      };
    };
    const a = created('a', 0);
    const b = created('b', 0);
    const recorded = await ca.ctx.store.append([a, b]);
    expect(recorded.map((event) => event.aggregateVersion)).toEqual([1, 1]);
    const before = await ca.eventCount();
    const c = created('c', 0);
    await expect(
      (async () => ca.ctx.store.append([c, { ...a, expectedVersion: 0 }]))(),
    ).rejects.toThrow(ConcurrencyConflictError);
    await expect(
      (async () => ca.ctx.store.append([c, { ...b, expectedVersion: 2 }]))(),
    ).rejects.toThrow(ConcurrencyConflictError);
    expect(await ca.eventCount()).toBe(before);
    expect(await ca.ctx.store.aggregateVersion('tenant', a.aggregateId)).toBe(1);
    expect(await ca.ctx.store.aggregateVersion('tenant', c.aggregateId)).toBe(0);
  });

  it('refuses a duplicate event id', async () => {
    const tenantId = ca.ctx.ids.next('ten');
    const eventId = ca.ctx.ids.next('evt');
    const created = {
      eventType: 'identity.tenant.created',
      aggregateId: tenantId,
      tenantId,
      ...meta,
      eventId,
      payload: { tenantId, name: 'A', slug: 'a' },
    };
    await ca.ctx.store.append([created]);
    await expect(
      (async () => ca.ctx.store.append([{ ...created, aggregateId: ca.ctx.ids.next('ten') }]))(),
    ).rejects.toThrow(/unique/i);
  });

  it('chains every row hash to the previous one', async () => {
    await createTenant(ca, 'Hillside');
    const events = await ca.ctx.store.read({ limit: 1000 });
    expect(events.length).toBeGreaterThan(1);
    let previous = GENESIS_HASH;
    for (const { hash, ...rest } of events) {
      expect(hash).toBe(eventHash(previous, rest));
      previous = hash;
    }
  });

  it('rebuilds every projection from the events into exactly the live state', async () => {
    const tenantId = await createTenant(ca, 'Hillside');
    const otherTenant = await createTenant(ca, 'Riverside');
    const devices: string[] = [];
    for (const tenant of [tenantId, tenantId, otherTenant]) {
      const response = await ca.app.inject({
        method: 'POST',
        url: '/v1/devices/enroll',
        payload: {
          enrollmentToken: await createEnrollmentToken(ca, tenant),
          csr: await testDeviceKey().csr(),
        },
      });
      devices.push((response.json() as { deviceId: string }).deviceId);
    }
    await createEnrollmentToken(ca, tenantId);
    await ca.admin('POST', `/v1/admin/devices/${devices[0]}/revoke`, { reason: 'lost' });
    await ca.admin('POST', `/v1/admin/devices/${devices[2]}/revoke`, { reason: 'stolen' });

    const live = await projectionDump(ca);
    expect(live['revocation_feed']).toHaveLength(2);
    expect(await ca.ctx.store.rebuildProjections()).toBe(await ca.eventCount());
    expect(await projectionDump(ca)).toEqual(live);
  });
});
