import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { routeValidators } from '../src/http/route-validators.js';

const appWith = () =>
  Fastify({ schemaController: { compilersFactory: { buildValidator: routeValidators } } });
const body = (maximum: number) => ({
  type: 'object',
  required: ['n'],
  properties: { n: { type: 'integer', maximum } },
});

describe('route validators shared between apps', () => {
  it('gives each app the validator of its own schema, compiled once for equal ones', async () => {
    const [first, second] = [appWith(), appWith()];
    first.post('/n', { schema: { body: body(5) } }, async () => 'ok');
    second.post('/n', { schema: { body: body(50) } }, async () => 'ok');
    const third = appWith();
    third.post('/n', { schema: { body: body(5) } }, async () => 'ok');
    const post = (app: ReturnType<typeof appWith>, n: number) =>
      app.inject({ method: 'POST', url: '/n', payload: { n } }).then((r) => r.statusCode);
    expect(await post(first, 7)).toBe(400);
    expect(await post(second, 7)).toBe(200);
    expect(await post(third, 7)).toBe(400);
    expect(await post(first, 3)).toBe(200);
    expect(await post(second, 70)).toBe(400);
  });

  it('refuses a headers schema, whose keys Fastify would no longer lower-case', async () => {
    const app = appWith();
    app.get('/h', { schema: { headers: { type: 'object' } } }, async () => 'ok');
    await expect(app.ready()).rejects.toThrow(/headers schema/);
  });
});
