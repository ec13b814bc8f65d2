import { describe, expect, it } from 'vitest';
import type { EventEnvelope } from '@lantern/shared';
import { EVENT_CATALOGUE, EventValidator, upcast, upcastSubjects } from '@lantern/shared';

const validator = new EventValidator();
const TENANT = 'ten_01J9Z3YQ8M6W4Q9V2K7T5R3N1H';
const USER = 'usr_01J9Z3YQ8M6W4Q9V2K7T5R3N1B';
const AT = '2026-11-23T10:00:00.000Z';

function stored(eventType: string, eventVersion: number, payload: Record<string, unknown>) {
  const envelope: EventEnvelope = {
    eventId: 'evt_01J9Z3YQ8M6W4Q9V2K7T5R3N1A',
    eventType,
    eventVersion,
    occurredAt: AT,
    tenantId: TENANT,
    actor: { type: 'user', id: USER },
    correlationId: 'c-1',
    partitionKey: 'p',
    payload,
    schemaUri: `http://ca.test/v1/schemas/${eventType}/v${eventVersion}#sha256-00`,
  };
  // What the store holds passed the schema of its own version.
  expect(validator.check(envelope)).toEqual({ ok: true });
  return envelope;
}

const example = (type: string, version: number) => {
  const definition = EVENT_CATALOGUE.find((d) => d.type === type && d.version === version);
  if (!definition) throw new Error(`no ${type} v${version}`);
  return structuredClone(definition.example);
};

describe('upcast', () => {
  it('leaves an event at its newest version, or of a type without upcasters, as it is', () => {
    const current = stored('identity.session.revoked', 2, example('identity.session.revoked', 2));
    expect(upcast(current)).toBe(current);
    const other = stored('identity.device.revoked', 1, example('identity.device.revoked', 1));
    expect(upcast(other)).toBe(other);
    // v1 of registered is plaintext: only the store can seal it, so it stays v1.
    const plain = stored('identity.user.registered', 1, example('identity.user.registered', 1));
    expect(upcast(plain)).toBe(plain);
  });

  it('every upcast version reaches a valid payload of the newest version, schemaUri dropped', () => {
    expect(upcastSubjects().sort()).toEqual([
      'identity.device.bound_for_offline.v1',
      'identity.session.revoked.v1',
      'identity.user.logged_in.v1',
      'identity.user.registered.v2',
    ]);
    for (const subject of upcastSubjects()) {
      const [, type = '', version = ''] = /^(.+)\.v(\d+)$/.exec(subject) ?? [];
      const newest = Math.max(
        ...EVENT_CATALOGUE.filter((d) => d.type === type).map((d) => d.version),
      );
      const event = upcast(stored(type, Number(version), example(type, Number(version))));
      expect(event.eventVersion, subject).toBe(newest);
      expect(event).not.toHaveProperty('schemaUri');
      expect(validator.check(event), subject).toEqual({ ok: true });
    }
  });

  it('registered v2 → v3: the tenant, the time, and the source its status tells', () => {
    const v2 = example('identity.user.registered', 2);
    expect(upcast(stored('identity.user.registered', 2, v2)).payload).toEqual({
      ...v2,
      emailVerified: false,
      homeTenantId: TENANT,
      registrationSource: 'admin',
      createdAt: AT,
    });
    const invited = { ...v2, status: 'pending_verification' };
    expect(upcast(stored('identity.user.registered', 2, invited)).payload).toMatchObject({
      registrationSource: 'invite',
    });
  });

  it('logged_in v1 → v2: tenant and time from the envelope, the rest unchanged', () => {
    const v1 = example('identity.user.logged_in', 1);
    expect(upcast(stored('identity.user.logged_in', 1, v1)).payload).toEqual({
      ...v1,
      tenantId: TENANT,
      at: AT,
    });
  });

  it('session.revoked v1 → v2: the user it named, or else the actor who signed out', () => {
    const v1 = example('identity.session.revoked', 1);
    expect(upcast(stored('identity.session.revoked', 1, v1)).payload).toEqual({
      ...v1,
      tenantId: TENANT,
      at: AT,
    });
    const { userId: _named, ...anonymous } = v1;
    expect(upcast(stored('identity.session.revoked', 1, anonymous)).payload).toMatchObject({
      userId: USER,
    });
  });

  it('bound_for_offline v1 → v2: the key thumbprint is publicKeyFingerprint now', () => {
    const v1 = example('identity.device.bound_for_offline', 1);
    const { certificateKid, ...rest } = v1;
    expect(upcast(stored('identity.device.bound_for_offline', 1, v1)).payload).toEqual({
      ...rest,
      publicKeyFingerprint: certificateKid,
      tenantId: TENANT,
      at: AT,
    });
  });
});
