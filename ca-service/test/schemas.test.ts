import type { JsonSchema } from '@lantern/shared';
import { EVENT_CATALOGUE, EventValidator, schemaDigest } from '@lantern/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { startTestCa } from '../../test/support/ca-fixture.js';

let ca: TestCa;
beforeAll(async () => {
  ca = await startTestCa();
});
afterAll(async () => ca.close());

interface Listed {
  eventType: string;
  version: number;
  direction: string;
  schemaUri: string;
  digest: string;
}

describe('GET /v1/schemas', () => {
  it('answers 404 not_found for a type or version outside the catalogue, 400 for a malformed one', async () => {
    for (const url of [
      '/v1/schemas/identity.device.nonexistent/v1',
      '/v1/schemas/identity.device.enrolled/v99',
    ]) {
      const response = await ca.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(404);
      expect(response.json()).toMatchObject({ code: 'not_found' });
      expect(response.json().message).toContain('GET /v1/schemas lists');
    }
    for (const url of [
      '/v1/schemas/identity.device.enrolled/1',
      '/v1/schemas/identity.device.enrolled/v0',
      '/v1/schemas/..%2F..%2Fetc/v1',
    ]) {
      const response = await ca.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(400);
      expect(response.json()).toMatchObject({ code: 'invalid_request' });
    }
  });

  it('lists every catalogue entry once, and each schema URI serves that schema, which its example passes', async () => {
    const listed = (await ca.app.inject({ method: 'GET', url: '/v1/schemas' })).json<{
      schemas: Listed[];
    }>().schemas;
    expect(listed.map((entry) => `${entry.eventType}@${entry.version}`).sort()).toEqual(
      EVENT_CATALOGUE.map((definition) => `${definition.type}@${definition.version}`).sort(),
    );
    for (const entry of listed) {
      const definition = EVENT_CATALOGUE.find(
        (candidate) => candidate.type === entry.eventType && candidate.version === entry.version,
      );
      expect(entry.digest).toBe(schemaDigest(definition!));
      const url = new URL(entry.schemaUri);
      expect(url.origin).toBe(new URL(ca.ctx.publicUrl).origin);
      const response = await ca.app.inject({ method: 'GET', url: url.pathname });
      expect(response.statusCode, url.pathname).toBe(200);
      expect(response.headers['content-type']).toContain('application/schema+json');
      const document = response.json<Record<string, unknown>>();
      expect(document['$id']).toBe(entry.schemaUri);
      const { $schema: _schema, $id: _id, title: _title, ...payload } = document;
      expect(payload).toEqual(definition!.payload);
      // The served document works on its own: the catalogue's example passes it.
      const served = new EventValidator([{ ...definition!, payload: payload as JsonSchema }]);
      expect(
        served.checkPayload(entry.eventType, entry.version, definition!.example),
      ).toMatchObject({ ok: true });
    }
  });
});
