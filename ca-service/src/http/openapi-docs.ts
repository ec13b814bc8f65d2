import type { FastifySchema } from 'fastify';

type Caller = 'public' | 'admin' | 'device' | 'user' | 'token';

interface RouteDoc {
  summary: string;
  tag: 'health' | 'pki' | 'devices' | 'auth' | 'mfa' | 'admin' | 'events' | 'sync';
  caller: Caller;
  /** The success status and what it carries. */
  ok: [status: number, description: string];
}

/**
 * The reference text of every route, keyed `METHOD /openapi/path`. A route missing here fails
 * the OpenAPI test, so a new route cannot ship as "Default Response".
 */
const ROUTE_DOCS: Readonly<Record<string, RouteDoc>> = {
  'GET /health/live': {
    summary: 'Liveness: the process answers',
    tag: 'health',
    caller: 'public',
    ok: [200, 'The process is up.'],
  },
  'GET /health/ready': {
    summary: 'Readiness: store writable, signer loaded, broker connected when configured',
    tag: 'health',
    caller: 'public',
    ok: [200, 'Every check passes; a 503 names the failing one.'],
  },
  'GET /v1/schemas': {
    summary: 'The event catalogue: every event type and version with its schema URI and digest',
    tag: 'events',
    caller: 'public',
    ok: [200, '{ schemas: [{ eventType, version, aggregate, direction, schemaUri, digest }] }.'],
  },
  'GET /v1/schemas/{eventType}/{version}': {
    summary: 'One payload schema (JSON Schema 2020-12), at the schemaUri events and the list name',
    tag: 'events',
    caller: 'public',
    ok: [
      200,
      'The schema, application/schema+json; 404 not_found for a type or version not in the catalogue.',
    ],
  },
  'GET /v1/ca/root': {
    summary: 'The root CA certificate (PEM), to pin by its SHA-256 fingerprint',
    tag: 'pki',
    caller: 'public',
    ok: [200, 'The root certificate, PEM.'],
  },
  'GET /v1/ca/issuers': {
    summary:
      'Every issuing CA under the root: the current one and retired ones that still sign CRLs',
    tag: 'pki',
    caller: 'public',
    ok: [200, '{ issuers }: key id, PEM, validity, current or retired, and its CRL URL.'],
  },
  'GET /v1/admin/overview': {
    summary:
      "Counts for the console's overview: devices, expiring certificates, outbox, failed sign-ins",
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The overview figures of the tenant (or the installation).'],
  },
  'GET /v1/admin/device-activity': {
    summary: 'When each device was last heard from',
    tag: 'admin',
    caller: 'admin',
    ok: [200, '{ devices }: device id and last activity time.'],
  },
  'GET /v1/admin/devices/{id}/certificates': {
    summary: 'The binding certificates issued to one device',
    tag: 'admin',
    caller: 'admin',
    ok: [200, '{ certificates }: serial, issuer, validity, revocation.'],
  },
  'POST /v1/admin/users/{id}/password': {
    summary: "Reset a user's password or PIN; the new one is shown once",
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The generated secret, shown once.'],
  },
  'POST /v1/admin/users/{id}/sessions/revoke': {
    summary: 'End every session of a user',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'How many sessions were ended.'],
  },
  'GET /v1/admin/audit': {
    summary: "The audit chain's verification status and the last signed checkpoint",
    tag: 'admin',
    caller: 'admin',
    ok: [200, '{ verified, events, checkpoint }.'],
  },
  'POST /admin/session': {
    summary:
      'Sign in to the admin console (API key, or password and second factor); sets the session cookie',
    tag: 'admin',
    caller: 'public',
    ok: [201, 'The console session: who, tenant, CSRF token; an HttpOnly cookie is set.'],
  },
  'GET /admin/session': {
    summary: 'The signed-in console session (cookie)',
    tag: 'admin',
    caller: 'public',
    ok: [200, 'The console session, or 401 without one.'],
  },
  'DELETE /admin/session': {
    summary: 'Sign out of the admin console: ends the server-side session',
    tag: 'admin',
    caller: 'public',
    ok: [200, 'Signed out; the cookie is cleared.'],
  },
  'GET /v1/ca/chain': {
    summary: 'The issuing CA chain (PEM)',
    tag: 'pki',
    caller: 'public',
    ok: [200, 'Issuing CA then root, PEM.'],
  },
  'GET /v1/crl': {
    summary: 'The full X.509 CRL (DER)',
    tag: 'pki',
    caller: 'public',
    ok: [200, 'application/pkix-crl, signed by the issuing CA.'],
  },
  'GET /v1/crl/delta': {
    summary: 'The delta CRL since the last full CRL (DER)',
    tag: 'pki',
    caller: 'public',
    ok: [200, 'application/pkix-crl, signed by the issuing CA.'],
  },
  'GET /.well-known/jwks.json': {
    summary: 'The public keys that sign access tokens and offline grants',
    tag: 'pki',
    caller: 'public',
    ok: [200, 'A JWK set: the signing key, the next one and retired ones still in use.'],
  },
  'GET /v1/ca/jwks.jws': {
    summary: 'The token keys, signed by the issuing CA: what agents cache them from',
    tag: 'pki',
    caller: 'public',
    ok: [
      200,
      '{ jwks, jwksEtag }: jwks is a JWS (typ lantern-jwks+jws, x5c = issuing CA) of { typ: "jwks", keys, etag, iat, exp }.',
    ],
  },
  'POST /v1/devices/attestation/challenge': {
    summary:
      'TPM attestation, step 1: EK certificate + AK → a credential only that TPM can activate',
    tag: 'devices',
    caller: 'token',
    ok: [
      200,
      'The MakeCredential blob and secret for the AK, and the sealed challenge to return with the enrollment.',
    ],
  },
  'POST /v1/devices/enroll': {
    summary: 'Enroll a device: one-time token + CSR → binding certificate',
    tag: 'devices',
    caller: 'token',
    ok: [
      201,
      'The binding certificate, chain, root, JWKS, offline policy, revocation cursor, the CA issuer and the tenant and device names.',
    ],
  },
  'POST /v1/devices/renew': {
    summary: 'Renew the binding certificate, proven with the current device key',
    tag: 'devices',
    caller: 'device',
    ok: [200, 'A new binding certificate and its context.'],
  },
  'POST /v1/auth/login': {
    summary: 'Sign a user in on a device: access token, refresh token, offline grant',
    tag: 'auth',
    caller: 'device',
    ok: [200, 'Tokens bound to the device key, and an offline grant when policy allows.'],
  },
  'POST /v1/auth/refresh': {
    summary: 'Rotate a refresh token (reuse revokes the whole family)',
    tag: 'auth',
    caller: 'device',
    ok: [200, 'A new access token and refresh token.'],
  },
  'POST /v1/auth/logout': {
    summary: 'End a session and its refresh token family',
    tag: 'auth',
    caller: 'device',
    ok: [204, 'The session is ended.'],
  },
  'POST /v1/auth/webauthn/options': {
    summary: 'Start a passkey sign-in: the assertion challenge',
    tag: 'auth',
    caller: 'device',
    ok: [200, 'WebAuthn request options.'],
  },
  'POST /v1/auth/webauthn/verify': {
    summary: 'Finish a passkey sign-in',
    tag: 'auth',
    caller: 'device',
    ok: [200, 'Tokens as for a password sign-in.'],
  },
  'GET /v1/sso/{tenant}/start': {
    summary: "Start a sign-in at the tenant's OpenID Connect provider (docs/sso.md)",
    tag: 'auth',
    caller: 'public',
    ok: [302, "Redirect to the provider's authorization endpoint (code, PKCE S256, state, nonce)."],
  },
  'GET /v1/sso/callback': {
    summary:
      "The provider's redirect: the code exchanged, the ID token checked, the identity linked",
    tag: 'auth',
    caller: 'public',
    ok: [
      200,
      "Tokens as for a password sign-in, or for a device hand-off an HTML page asking for the device's code.",
    ],
  },
  'POST /v1/sso/{tenant}/handoffs': {
    summary: 'Start an SSO sign-in for this device (a browser completes it)',
    tag: 'auth',
    caller: 'device',
    ok: [201, "The hand-off id, the provider's URL to open and the code the device shows."],
  },
  'POST /v1/sso/handoffs/{id}/confirm': {
    summary: "The person types the device's code: only then may the device redeem the hand-off",
    tag: 'auth',
    caller: 'public',
    ok: [200, 'An HTML page: go back to the device.'],
  },
  'POST /v1/sso/handoffs/{id}': {
    summary: 'Redeem a completed SSO hand-off, once, from the device that started it',
    tag: 'auth',
    caller: 'device',
    ok: [200, 'Tokens and offline grant as for a password sign-in with a device proof.'],
  },
  'GET /v1/admin/tenants/{id}/sso': {
    summary: "A tenant's OpenID Connect provider (never its client secret)",
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The provider configuration.'],
  },
  'POST /v1/admin/tenants/{id}/sso': {
    summary: "Set a tenant's OpenID Connect provider; the client secret is stored sealed",
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The provider configuration as stored.'],
  },
  'POST /v1/admin/users/{id}/sso-identities': {
    summary: "Link a user to their account's subject at the tenant's provider",
    tag: 'admin',
    caller: 'admin',
    ok: [201, 'The link.'],
  },
  'POST /v1/admin/tenants': {
    summary: 'Create a tenant',
    tag: 'admin',
    caller: 'admin',
    ok: [201, 'The tenant.'],
  },
  'GET /v1/admin/tenants': {
    summary: 'List tenants (an installation key sees all, a tenant key its own)',
    tag: 'admin',
    caller: 'admin',
    ok: [200, '{ tenants }.'],
  },
  'POST /v1/admin/enrollment-tokens': {
    summary: 'Create a one-time enrollment token',
    tag: 'admin',
    caller: 'admin',
    ok: [
      201,
      'The token (shown once), its expiry, the enrollment URI for a QR code and the whole agent command with the root fingerprint.',
    ],
  },
  'GET /v1/admin/enrollment-tokens': {
    summary: "List a tenant's enrollment tokens",
    tag: 'admin',
    caller: 'admin',
    ok: [200, '{ tokens }, without the secrets.'],
  },
  'POST /v1/admin/enrollment-tokens/{id}/revoke': {
    summary: 'Revoke an unused enrollment token',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The token, revoked.'],
  },
  'GET /v1/admin/devices': {
    summary: 'List enrolled devices',
    tag: 'admin',
    caller: 'admin',
    ok: [200, '{ devices }.'],
  },
  'GET /v1/admin/devices/{id}': {
    summary: 'One device',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The device.'],
  },
  'POST /v1/admin/devices/{id}/revoke': {
    summary: 'Revoke a device: CRL, revocation feed, and its agent stops at the next sync',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The device, revoked.'],
  },
  'GET /v1/revocations': {
    summary: 'Signed pages of the revocation feed after a cursor',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'A page signed by the CA, with next and more.'],
  },
  'POST /v1/admin/users': {
    summary: 'Create a user (password or learner PIN in the body)',
    tag: 'admin',
    caller: 'admin',
    ok: [201, 'The user, without credentials.'],
  },
  'GET /v1/admin/users': {
    summary: "List a tenant's users",
    tag: 'admin',
    caller: 'admin',
    ok: [200, '{ users }.'],
  },
  'GET /v1/admin/users/{id}': {
    summary: 'One user',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The user.'],
  },
  'PATCH /v1/admin/users/{id}': {
    summary: "Change a user's role, email or display name (a role change ends their sessions)",
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The user after the change.'],
  },
  'GET /v1/admin/tenants/{id}/password-policy': {
    summary: "The tenant's password policy (minimum length, common passwords refused)",
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The policy in force.'],
  },
  'PUT /v1/admin/tenants/{id}/password-policy': {
    summary:
      "Set the tenant's password policy; it applies where passwords are set and to offline grants",
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The policy now in force.'],
  },
  'POST /v1/admin/organizations': {
    summary: 'Create a school (organisation) under the tenant',
    tag: 'admin',
    caller: 'admin',
    ok: [201, 'The organisation.'],
  },
  'GET /v1/admin/organizations': {
    summary: "List the tenant's schools",
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The organisations.'],
  },
  'POST /v1/admin/invitations': {
    summary: 'Invite someone by email, with membership roles; mailed when SMTP is configured',
    tag: 'admin',
    caller: 'admin',
    ok: [
      201,
      'The invitation and its one-time accept token (shown once), and whether it was mailed.',
    ],
  },
  'POST /v1/admin/invitations/{id}/revoke': {
    summary: 'Withdraw a pending invitation: its accept link stops working',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The invitation, now revoked (the same answer when it already was).'],
  },
  'GET /v1/admin/invitations': {
    summary: "List the tenant's invitations",
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The invitations, without tokens.'],
  },
  'GET /v1/admin/memberships': {
    summary: 'List memberships, of the tenant or one user',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The memberships with their roles and permissions.'],
  },
  'POST /v1/admin/memberships': {
    summary: 'Add a user to a school or the district (or lift a suspension)',
    tag: 'admin',
    caller: 'admin',
    ok: [201, 'The membership.'],
  },
  'POST /v1/admin/memberships/{id}/suspend': {
    summary: 'Suspend a membership: its roles and permissions grant nothing',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The membership after the change.'],
  },
  'POST /v1/admin/memberships/{id}/roles': {
    summary: "Assign a role, scoped to the membership's organisation",
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The membership after the change.'],
  },
  'POST /v1/admin/memberships/{id}/permissions': {
    summary: "Assign a direct permission, scoped to the membership's organisation",
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The membership after the change.'],
  },
  'POST /v1/admin/webhooks': {
    summary: 'Subscribe an HTTPS endpoint to event types; the signing secret is shown once',
    tag: 'admin',
    caller: 'admin',
    ok: [201, 'The subscription and its secret.'],
  },
  'GET /v1/admin/webhooks': {
    summary: "List the tenant's webhook subscriptions",
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The subscriptions, without secrets.'],
  },
  'POST /v1/admin/webhooks/{id}/delete': {
    summary: 'Delete a webhook subscription',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The subscription, deleted.'],
  },
  'GET /v1/admin/webhooks/{id}/deliveries': {
    summary: "A subscription's delivery log: status, attempts, next try",
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The deliveries, newest first.'],
  },
  'POST /v1/admin/webhooks/deliveries/{id}/redeliver': {
    summary: 'Send a delivery again now',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The delivery, due again.'],
  },
  'POST /v1/invitations/accept': {
    summary: 'Accept an invitation: one-time token, username and password → an active membership',
    tag: 'auth',
    caller: 'public',
    ok: [201, 'The user and membership the invitation created or joined.'],
  },
  'POST /v1/admin/users/{id}/{action}': {
    summary: 'Lock, unlock, suspend, reactivate or erase a user',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The user after the action.'],
  },
  'POST /v1/admin/sessions/{id}/revoke': {
    summary: 'Revoke a session',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The revocation.'],
  },
  'POST /v1/admin/grants/{id}/revoke': {
    summary: 'Revoke an offline grant',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The revocation.'],
  },
  'POST /v1/admin/api-keys': {
    summary: 'Create an admin API key with scopes',
    tag: 'admin',
    caller: 'admin',
    ok: [201, 'The key (shown once), its id and scopes.'],
  },
  'POST /v1/admin/api-keys/{id}/revoke': {
    summary: 'Revoke an admin API key',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The key, revoked.'],
  },
  'GET /v1/admin/keys': {
    summary:
      'The token signing keys: kid, status (next, active, retired) and times, no key material',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The keys, next first.'],
  },
  'POST /v1/admin/keys/rotate': {
    summary: 'Rotate the token signing keys now',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The key id that signs from now on.'],
  },
  'POST /v1/admin/keys/{kid}/revoke': {
    summary:
      'Revoke a compromised token signing key: gone from the JWKS at once, its tokens stop verifying',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The revoked kid, the key id that signs from now on and the keys removed.'],
  },
  'POST /v1/admin/keys/replace': {
    summary:
      'Replace every token signing key at once, after a leak of the key store: all tokens stop verifying',
    tag: 'admin',
    caller: 'admin',
    ok: [200, 'The key id that signs from now on and the keys removed.'],
  },
  'GET /v1/admin/tenants/{id}/mfa-policy': {
    summary: "A tenant's MFA policy",
    tag: 'mfa',
    caller: 'admin',
    ok: [200, 'The policy.'],
  },
  'PUT /v1/admin/tenants/{id}/mfa-policy': {
    summary: "Set a tenant's MFA policy",
    tag: 'mfa',
    caller: 'admin',
    ok: [200, 'The policy as stored.'],
  },
  'GET /v1/admin/tenants/{id}/risk-policy': {
    summary: "A tenant's adaptive-MFA policy (risk rule weights, threshold, hours, locations)",
    tag: 'mfa',
    caller: 'admin',
    ok: [200, 'The policy.'],
  },
  'PUT /v1/admin/tenants/{id}/risk-policy': {
    summary: "Change a tenant's adaptive-MFA policy; fields left out keep their value",
    tag: 'mfa',
    caller: 'admin',
    ok: [200, 'The policy as stored.'],
  },
  'POST /v1/admin/users/{id}/mfa/reset': {
    summary: "Reset a user's second factors",
    tag: 'mfa',
    caller: 'admin',
    ok: [200, "The user's MFA state."],
  },
  'GET /v1/admin/users/{id}/mfa': {
    summary: "A user's second factors",
    tag: 'mfa',
    caller: 'admin',
    ok: [200, 'TOTP state and passkeys.'],
  },
  'DELETE /v1/admin/users/{id}/mfa/webauthn/{credentialId}': {
    summary: "Remove one of a user's passkeys",
    tag: 'mfa',
    caller: 'admin',
    ok: [200, 'The passkeys left.'],
  },
  'GET /v1/mfa': {
    summary: "The signed-in user's second factors",
    tag: 'mfa',
    caller: 'user',
    ok: [200, 'TOTP state and passkeys.'],
  },
  'POST /v1/mfa/totp/enroll': {
    summary: 'Start TOTP enrollment: secret and QR code',
    tag: 'mfa',
    caller: 'user',
    ok: [201, 'The pending secret, its otpauth URI and QR code.'],
  },
  'POST /v1/mfa/totp/confirm': {
    summary: 'Confirm TOTP enrollment with a first code',
    tag: 'mfa',
    caller: 'user',
    ok: [200, 'TOTP is active.'],
  },
  'DELETE /v1/mfa/totp': {
    summary: 'Remove the signed-in user’s TOTP (step-up required)',
    tag: 'mfa',
    caller: 'user',
    ok: [200, 'TOTP is removed.'],
  },
  'GET /v1/mfa/webauthn': {
    summary: "The signed-in user's passkeys",
    tag: 'mfa',
    caller: 'user',
    ok: [200, '{ passkeys }.'],
  },
  'POST /v1/mfa/webauthn/register/options': {
    summary: 'Start registering a passkey',
    tag: 'mfa',
    caller: 'user',
    ok: [200, 'WebAuthn creation options.'],
  },
  'POST /v1/mfa/webauthn/register/verify': {
    summary: 'Finish registering a passkey',
    tag: 'mfa',
    caller: 'user',
    ok: [201, 'The passkey.'],
  },
  'DELETE /v1/mfa/webauthn/{credentialId}': {
    summary: 'Remove one of the signed-in user’s passkeys',
    tag: 'mfa',
    caller: 'user',
    ok: [200, 'The passkeys left.'],
  },
  'GET /v1/events': {
    summary: 'A page of events (filters, after, limit ≤ 1000)',
    tag: 'events',
    caller: 'admin',
    ok: [200, '{ events, next }: continue with after=next.'],
  },
  'GET /v1/events/export': {
    summary: 'Every matching event as NDJSON, streamed',
    tag: 'events',
    caller: 'admin',
    ok: [200, 'application/x-ndjson, one event per line.'],
  },
  'GET /v1/users/{id}/timeline': {
    summary: "A user's events in order",
    tag: 'events',
    caller: 'admin',
    ok: [200, '{ events, next }.'],
  },
  'POST /v1/sync': {
    summary: 'One delta sync round: push outbox events, pull revocations, JWKS, signed time',
    tag: 'sync',
    caller: 'device',
    ok: [200, 'Ack, signed revocation page, JWKS when changed, policy and signed server time.'],
  },
};

export const SECURITY_SCHEMES = {
  adminApiKey: {
    type: 'http',
    scheme: 'bearer',
    description: 'An admin API key (`lantern-ca init` prints one; `api-key create` makes more).',
  },
  deviceProof: {
    type: 'apiKey',
    in: 'header',
    name: 'Lantern-Device-Proof',
    description:
      'A JWT signed by the device key with x5c = [binding certificate, issuing CA], bound to method, URL and body.',
  },
  accessToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'The access token of a signed-in user, used together with a device proof.',
  },
} as const;

const SECURITY: Record<Caller, Record<string, string[]>[]> = {
  public: [],
  token: [],
  admin: [{ adminApiKey: [] }],
  device: [{ deviceProof: [] }],
  user: [{ accessToken: [], deviceProof: [] }],
};

/**
 * The reference page loads only its own scripts and styles and talks only to this origin
 * (Swagger UI sets style attributes from script, hence 'unsafe-inline' for styles only).
 */
export const DOCS_CSP =
  "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
  "connect-src 'self'; img-src 'self' data:; font-src 'self' data:; script-src 'self'; " +
  "style-src 'self' 'unsafe-inline'";

/** Every admin POST honours it (http/idempotency.ts, docs/adaptive-mfa.md). */
const IDEMPOTENCY_HEADER = {
  type: 'object',
  properties: {
    'idempotency-key': {
      type: 'string',
      minLength: 1,
      maxLength: 255,
      description:
        'Retry-safe: the same key and body within 24 h get the first answer again (Idempotency-Replayed: true) and no second effect.',
    },
  },
} as const;

const ERROR = {
  type: 'object',
  required: ['code', 'message'],
  properties: { code: { type: 'string' }, message: { type: 'string' } },
} as const;

/** `@fastify/swagger`'s transform: the route's schema as documented, not as validated. */
export function documentRoute({
  schema,
  url,
  route,
}: {
  schema: FastifySchema;
  url: string;
  route: { method: string | string[]; config?: { scope?: string } };
}): { schema: FastifySchema; url: string } {
  const method = (Array.isArray(route.method) ? route.method[0] : route.method) ?? 'GET';
  const doc = ROUTE_DOCS[`${method} ${url.replace(/:(\w+)/g, '{$1}')}`];
  if (doc === undefined) return { schema, url };
  const [status, description] = doc.ok;
  const errors: Record<string, { description: string; content: unknown }> = {};
  const error = (text: string) => ({
    description: `${text} Body: { code, message }; the codes are in docs/errors.md.`,
    content: { 'application/json': { schema: ERROR } },
  });
  errors['400'] = error('The request is malformed; the message names the field.');
  if (doc.caller !== 'public') errors['401'] = error('No valid credential.');
  if (doc.caller === 'admin') {
    const scope = route.config?.scope;
    errors['403'] = error(`The key lacks the ${scope ? `\`${scope}\` ` : ''}scope or the tenant.`);
  }
  if (url.includes(':')) errors['404'] = error('No such resource in your tenant.');
  const idempotent = doc.caller === 'admin' && method === 'POST';
  if (idempotent) {
    errors['409'] ??= error('A request with this Idempotency-Key is still running.');
    errors['422'] = error('This Idempotency-Key was used with another body.');
  }
  errors['429'] = error('Too many requests; Retry-After says when to come back.');
  return {
    url,
    schema: {
      ...schema,
      ...(idempotent ? { headers: IDEMPOTENCY_HEADER } : {}),
      summary: doc.summary,
      tags: [doc.tag],
      security: SECURITY[doc.caller],
      response: { [String(status)]: { description }, ...errors },
    } as FastifySchema,
  };
}
