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

function projectionDump(ca: TestCa): Record<string, unknown[]> {
  const dump: Record<string, unknown[]> = {};
  for (const table of [
    'tenants',
    'api_keys',
    'enrollment_tokens',
    'devices',
    'certificates',
    'revocation_feed',
  ]) {
    dump[table] = ca.ctx.store.db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2`).all();
  }
  return dump;
}

describe('event store', () => {
  it('refuses a schema-invalid payload and writes nothing, not even the valid events before it', () => {
    const before = ca.eventCount();
    const tenantId = ca.ctx.ids.next('ten');
    expect(() =>
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
      ]),
    ).toThrow(SchemaViolationError);
    expect(ca.eventCount()).toBe(before);
    expect(ca.ctx.store.db.prepare('SELECT COUNT(*) AS n FROM tenants').get()).toEqual({ n: 0 });
  });

  it('rejects a conflicting append (optimistic concurrency) instead of overwriting', () => {
    const tenantId = ca.ctx.ids.next('ten');
    const created = {
      eventType: 'identity.tenant.created',
      aggregateId: tenantId,
      tenantId,
      ...meta,
      payload: { tenantId, name: 'A', slug: 'a' },
    };
    ca.ctx.store.append([{ ...created, expectedVersion: 0 }]);
    const before = ca.eventCount();
    expect(() => ca.ctx.store.append([{ ...created, expectedVersion: 0 }])).toThrow(
      ConcurrencyConflictError,
    );
    expect(ca.eventCount()).toBe(before);
    expect(ca.ctx.store.aggregateVersion('tenant', tenantId)).toBe(1);
  });

  it('checks every stream of a several-stream append against its own stored version', () => {
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
    const recorded = ca.ctx.store.append([a, b]);
    expect(recorded.map((event) => event.aggregateVersion)).toEqual([1, 1]);
    const before = ca.eventCount();
    const c = created('c', 0);
    expect(() => ca.ctx.store.append([c, { ...a, expectedVersion: 0 }])).toThrow(
      ConcurrencyConflictError,
    );
    expect(() => ca.ctx.store.append([c, { ...b, expectedVersion: 2 }])).toThrow(
      ConcurrencyConflictError,
    );
    expect(ca.eventCount()).toBe(before);
    expect(ca.ctx.store.aggregateVersion('tenant', a.aggregateId)).toBe(1);
    expect(ca.ctx.store.aggregateVersion('tenant', c.aggregateId)).toBe(0);
  });

  it('refuses a duplicate event id', () => {
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
    ca.ctx.store.append([created]);
    expect(() =>
      ca.ctx.store.append([{ ...created, aggregateId: ca.ctx.ids.next('ten') }]),
    ).toThrow(/unique/i);
  });

  it('chains every row hash to the previous one', async () => {
    await createTenant(ca, 'Hillside');
    const events = ca.ctx.store.read({ limit: 1000 });
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

    const live = projectionDump(ca);
    expect(live['revocation_feed']).toHaveLength(2);
    expect(ca.ctx.store.rebuildProjections()).toBe(ca.eventCount());
    expect(projectionDump(ca)).toEqual(live);
  });
});
