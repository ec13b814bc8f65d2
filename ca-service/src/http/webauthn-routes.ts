import rateLimit from '@fastify/rate-limit';
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import type { CaContext } from '../context/ca-context.js';
import { hasActiveTotp } from '../mfa/totp-credentials.js';
import type { WebAuthnConfig } from '../mfa/webauthn-config.js';
import { userPasskeys } from '../mfa/webauthn-credentials.js';
import { passkeyLogin, passkeyLoginOptions } from '../signin/passkey-signin.js';
import {
  adminRemovePasskey,
  finishPasskeyRegistration,
  removeOwnPasskey,
  startPasskeyRegistration,
} from '../mfa/webauthn-registration.js';
import { callerUser } from '../mfa/totp-enrollment.js';
import { getUser } from '../users/users.js';
import { deviceProofSupport } from './device-proof-support.js';
import { correlationIdOf } from './principal.js';
import { idParam } from './schemas.js';
import { signedInCaller } from './signed-in.js';

const base64url = (maxLength: number) =>
  ({ type: 'string', minLength: 1, maxLength, pattern: '^[A-Za-z0-9_-]+$' }) as const;

const credentialCommon = {
  id: base64url(1366),
  rawId: base64url(1366),
  type: { type: 'string', const: 'public-key' },
  authenticatorAttachment: { type: 'string', enum: ['platform', 'cross-platform'] },
  clientExtensionResults: { type: 'object' },
} as const;

/** RegistrationResponseJSON (WebAuthn L3 `toJSON()`), bounded. */
const registrationBody = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'rawId', 'type', 'response', 'clientExtensionResults'],
  properties: {
    ...credentialCommon,
    response: {
      type: 'object',
      additionalProperties: false,
      required: ['clientDataJSON', 'attestationObject'],
      properties: {
        clientDataJSON: base64url(4096),
        attestationObject: base64url(16_384),
        authenticatorData: base64url(8192),
        transports: {
          type: 'array',
          maxItems: 8,
          items: { type: 'string', pattern: '^[a-z-]{1,20}$' },
        },
        publicKeyAlgorithm: { type: 'integer' },
        publicKey: base64url(4096),
      },
    },
  },
} as const;

/** AuthenticationResponseJSON, plus `password` where the policy makes passkeys a second factor. */
const authenticationBody = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'rawId', 'type', 'response', 'clientExtensionResults'],
  properties: {
    ...credentialCommon,
    response: {
      type: 'object',
      additionalProperties: false,
      required: ['clientDataJSON', 'authenticatorData', 'signature'],
      properties: {
        clientDataJSON: base64url(4096),
        authenticatorData: base64url(8192),
        signature: base64url(1024),
        userHandle: base64url(1024),
      },
    },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
  },
} as const;

const credentialParam = {
  type: 'object',
  required: ['credentialId'],
  properties: { credentialId: base64url(1366) },
} as const;

/**
 * Passkeys of the CA's web origin: registration for signed-in users (`/v1/mfa/webauthn/...`,
 * beside `/v1/mfa/totp/...`), passkey sign-in (`/v1/auth/webauthn/...`, rate-limited like
 * `/v1/auth/login`, with an optional device proof for an offline grant).
 */
export function webauthnRoutes(
  ctx: CaContext,
  config: WebAuthnConfig,
  options: { loginRateLimitPerMinute: number },
): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    const proofs = deviceProofSupport(app, ctx);
    const signedIn = signedInCaller(ctx, proofs);
    await app.register(rateLimit, { max: options.loginRateLimitPerMinute, timeWindow: 60_000 });

    app.get('/v1/mfa/webauthn', async (request) => {
      const user = await callerUser(ctx, await signedIn(request));
      return { userId: user.user_id, passkeys: await userPasskeys(ctx.store.db, user.user_id) };
    });

    app.post(
      '/v1/mfa/webauthn/register/options',
      {
        bodyLimit: 1024,
        schema: { body: { type: 'object', additionalProperties: false, properties: {} } },
      },
      async (request, reply) => {
        const creation = await startPasskeyRegistration(ctx, config, await signedIn(request));
        return reply.header('cache-control', 'no-store').send(creation);
      },
    );

    app.post(
      '/v1/mfa/webauthn/register/verify',
      { bodyLimit: 64 * 1024, schema: { body: registrationBody } },
      async (request, reply) => {
        const enrolled = await finishPasskeyRegistration(
          ctx,
          config,
          await signedIn(request),
          request.body,
          correlationIdOf(request),
        );
        return reply.status(201).send(enrolled);
      },
    );

    app.delete(
      '/v1/mfa/webauthn/:credentialId',
      { schema: { params: credentialParam } },
      async (request) =>
        removeOwnPasskey(
          ctx,
          await signedIn(request),
          request.params.credentialId,
          correlationIdOf(request),
        ),
    );

    app.post(
      '/v1/auth/webauthn/options',
      {
        bodyLimit: 4 * 1024,
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['tenant'],
            properties: {
              tenant: { type: 'string', minLength: 1, maxLength: 100 },
              username: { type: 'string', minLength: 1, maxLength: 64 },
            },
          },
        },
      },
      async (request, reply) => {
        const assertion = await passkeyLoginOptions(ctx, config, request.body);
        return reply.header('cache-control', 'no-store').send(assertion);
      },
    );

    app.post(
      '/v1/auth/webauthn/verify',
      { bodyLimit: 32 * 1024, schema: { body: authenticationBody } },
      async (request) => {
        const { password, ...response } = request.body;
        return passkeyLogin(
          ctx,
          config,
          { response, ...(password === undefined ? {} : { password }) },
          await proofs.proveIfPresent(request),
          correlationIdOf(request),
        );
      },
    );
  };
}

/** The admin view of a user's second factors, under `adminApi`. */
export function webauthnAdminRoutes(ctx: CaContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    app.get(
      '/v1/admin/users/:id/mfa',
      { config: { scope: 'users:read' }, schema: { params: idParam('usr') } },
      async (request) => {
        const user = await getUser(ctx, request.params.id, request.admin.tenantId);
        return {
          userId: user.user_id,
          totp: (await hasActiveTotp(ctx.store.db, user.user_id)) ? 'active' : 'none',
          passkeys: await userPasskeys(ctx.store.db, user.user_id),
        };
      },
    );

    app.delete(
      '/v1/admin/users/:id/mfa/webauthn/:credentialId',
      {
        config: { scope: 'users:write' },
        schema: {
          params: {
            type: 'object',
            required: ['id', 'credentialId'],
            properties: { ...idParam('usr').properties, ...credentialParam.properties },
          },
        },
      },
      async (request) => {
        const { id, credentialId } = request.params;
        return adminRemovePasskey(
          ctx,
          id,
          request.admin.tenantId,
          credentialId,
          request.admin.meta,
        );
      },
    );
  };
}
