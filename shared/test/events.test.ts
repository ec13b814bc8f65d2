import { describe, expect, it } from 'vitest';
import type { EventDefinition } from '@lantern/shared';
import {
  EVENT_CATALOGUE,
  EventValidator,
  SchemaViolationError,
  UnknownEventTypeError,
  eventSubject,
  newId,
} from '@lantern/shared';

const validator = new EventValidator();

function envelopeFor(definition: EventDefinition, payload: unknown) {
  return {
    eventId: newId('evt'),
    eventType: definition.type,
    eventVersion: definition.version,
    occurredAt: '2026-11-23T10:00:00.000Z',
    tenantId: newId('ten'),
    actor: { type: 'system', id: 'test' },
    correlationId: 'corr-1',
    partitionKey: 'p',
    payload,
  };
}

function firstProperty(definition: EventDefinition): [string, Record<string, unknown>] {
  const properties = definition.payload['properties'] as Record<string, Record<string, unknown>>;
  const [name, schema] = Object.entries(properties)[0] ?? [];
  if (!name || !schema) throw new Error(`${definition.type} has no properties`);
  return [name, schema];
}

const REQUIRED_EVENTS = [
  'identity.user.registered',
  'identity.user.email_verified',
  'identity.user.logged_in',
  'identity.user.login_failed',
  'identity.user.locked',
  'identity.user.mfa_enrolled',
  'identity.session.created',
  'identity.session.revoked',
  'identity.device.enrolled',
  'identity.device.bound_for_offline',
  'identity.device.renewed',
  'identity.device.revoked',
  'identity.device.clock_rollback_detected',
  'identity.grant.issued',
  'identity.grant.revoked',
  'identity.api_key.issued',
  'identity.api_key.revoked',
  'identity.password.reset_requested',
  'tenant.org.user_invited',
  'gdpr.subject_request.received',
];

describe('event catalogue', () => {
  it('has a v1 schema for every event the design names', () => {
    const subjects = new Set(EVENT_CATALOGUE.map((d) => eventSubject(d.type, d.version)));
    for (const type of REQUIRED_EVENTS) expect(subjects).toContain(`${type}.v1`);
    expect(subjects.size).toBe(EVENT_CATALOGUE.length);
  });

  it('uses closed JSON Schemas (additionalProperties false)', () => {
    for (const definition of EVENT_CATALOGUE) {
      expect(definition.payload['additionalProperties'], definition.type).toBe(false);
    }
  });

  describe.each(EVENT_CATALOGUE.map((d) => [eventSubject(d.type, d.version), d] as const))(
    '%s',
    (_subject, definition) => {
      it('accepts its example inside a valid envelope', () => {
        expect(validator.check(envelopeFor(definition, definition.example))).toEqual({ ok: true });
      });

      it('rejects an unknown property and names it', () => {
        const verdict = validator.checkPayload(definition.type, definition.version, {
          ...definition.example,
          surprise: 1,
        });
        expect(verdict).toEqual({ ok: false, reason: expect.stringContaining('"surprise"') });
      });

      it('rejects each missing required field and names it', () => {
        const required = definition.payload['required'] as string[];
        expect(required.length).toBeGreaterThan(0);
        for (const field of required) {
          const { [field]: _dropped, ...rest } = definition.example;
          const verdict = validator.checkPayload(definition.type, definition.version, rest);
          expect(verdict).toEqual({ ok: false, reason: expect.stringContaining(field) });
        }
      });

      it('rejects a field of the wrong type and names it', () => {
        const [field, schema] = firstProperty(definition);
        const wrong = schema['type'] === 'string' ? 12345 : 'not-the-right-type';
        const verdict = validator.checkPayload(definition.type, definition.version, {
          ...definition.example,
          [field]: wrong,
        });
        expect(verdict).toEqual({ ok: false, reason: expect.stringContaining(field) });
      });
    },
  );
});

describe('event envelope', () => {
  const definition = EVENT_CATALOGUE[0] as EventDefinition;
  const good = envelopeFor(definition, definition.example);

  it.each([
    ['eventId', { ...good, eventId: 'evt_nope' }],
    ['tenantId', { ...good, tenantId: newId('usr') }],
    ['occurredAt', { ...good, occurredAt: 'yesterday' }],
    ['actor', { ...good, actor: { type: 'robot', id: 'x' } }],
    ['extra', { ...good, extra: true }],
  ])('rejects a bad %s', (field, envelope) => {
    const verdict = validator.check(envelope);
    expect(verdict.ok).toBe(false);
    expect(verdict.ok ? '' : verdict.reason).toContain(field === 'actor' ? 'actor' : field);
  });

  it('throws the unknown-type error for a type outside the catalogue', () => {
    expect(() => validator.assertValid({ ...good, eventType: 'identity.user.teleported' })).toThrow(
      UnknownEventTypeError,
    );
  });

  it('throws a schema violation for a bad payload', () => {
    expect(() => validator.assertValid({ ...good, payload: {} })).toThrow(SchemaViolationError);
  });
});
