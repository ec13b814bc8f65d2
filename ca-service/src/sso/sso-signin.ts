import { LanternError } from '@lantern/shared';
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { assertMaySignIn, assertNotLocked } from '../auth/sign-in-checks.js';
import type { CaContext } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import type { ProvenDevice } from '../device-proof/device-proof-verifier.js';
import {
  SsoDeniedError,
  SsoHandoffCodeWrongError,
  SsoHandoffInvalidError,
  SsoHandoffPendingError,
  SsoIdTokenInvalidError,
  SsoIdentityUnlinkedError,
  SsoStateInvalidError,
  TenantMismatchError,
} from '../errors.js';
import type { SsoCallbackResult } from '../observability/metrics.js';
import { SSO_CALLBACK_RESULTS } from '../observability/metrics.js';
import { SPANS, inSpan, noteRequestActor } from '../observability/tracing.js';
import type { LoginResult, SignInContext } from '../signin/issue-login.js';
import { issueLogin } from '../signin/issue-login.js';
import { getTenant } from '../tenants/tenant-commands.js';
import type { UserRow } from '../users/users.js';
import { findUserById } from '../users/users.js';
import { discoverProvider, exchangeCode, verifyIdToken } from './oidc-client.js';
import { linkedUser, recordIdentityLink, userByVerifiedEmail } from './sso-identities.js';
import { findSsoProvider, ssoClientSecret, ssoProviderOf } from './sso-providers.js';

/** How long a started sign-in (and a device hand-off) waits for the browser. */
export const SSO_ATTEMPT_SECONDS = 600;
/** RFC 8176 has no value for "an external IdP": the identity schemas' `sso`. */
export const SSO_AMR = 'sso';

export type SsoContext = Omit<SignInContext, 'passwords'>;

/** Wrong device codes typed on one hand-off's confirmation page before the hand-off is dropped. */
export const HANDOFF_CODE_ATTEMPTS = 5;
/** RFC 8628 §6.1: no vowels (no words), no look-alikes; 20^8 ≈ 2^34.6 codes. */
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const sha256 = (text: string) => createHash('sha256').update(text).digest();
/** What a person types: case, spaces and dashes do not count. */
const normalUserCode = (code: string) => code.toUpperCase().replace(/[^A-Z]/g, '');

const random = () => randomBytes(32).toString('base64url');
const verifierAad = (state: string) => `sso-pkce:${state}`;
export const ssoCallbackPath = '/v1/sso/callback';
const redirectUri = (ctx: Pick<CaContext, 'publicUrl'>) => `${ctx.publicUrl}${ssoCallbackPath}`;

interface AttemptRow {
  state: string;
  tenant_id: string;
  nonce: string;
  code_verifier: string;
  handoff_id: string | null;
  expires_at: string;
}

/**
 * `GET /v1/sso/:tenant/start`: a fresh state, nonce and PKCE verifier (S256) for an
 * authorization code request to the tenant's provider; the verifier is kept sealed until the
 * callback spends it. Returns the provider URL the browser is sent to.
 */
export async function startSso(
  ctx: Pick<CaContext, 'clock' | 'publicUrl' | 'secretBox' | 'store'>,
  tenant: string,
  handoffId: string | null = null,
): Promise<string> {
  const provider = await ssoProviderOf(ctx.store.db, tenant);
  const discovery = await discoverProvider(provider.issuer, ctx.clock.now());
  const state = random();
  const nonce = random();
  const verifier = random();
  const now = ctx.clock.now();
  await ctx.store.db
    .prepare('DELETE FROM sso_attempts WHERE expires_at < ?')
    .run(isoNow(ctx.clock));
  await ctx.store.db
    .prepare(
      `INSERT INTO sso_attempts (state, tenant_id, nonce, code_verifier, handoff_id, expires_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    )
    .run(
      state,
      provider.tenantId,
      nonce,
      ctx.secretBox.seal(Buffer.from(verifier), verifierAad(state)),
      handoffId,
      new Date(now + SSO_ATTEMPT_SECONDS * 1000).toISOString(),
    );
  const url = new URL(discovery.authorizationEndpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: provider.clientId,
    redirect_uri: redirectUri(ctx),
    scope: 'openid email profile',
    state,
    nonce,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  return url.toString();
}

export interface CallbackInput {
  state?: string;
  code?: string;
  error?: string;
  /** RFC 9207: when the provider names itself, it must be the tenant's issuer (mix-up defence). */
  iss?: string;
}

export type CallbackOutcome =
  | { kind: 'signed_in'; login: LoginResult }
  /**
   * A device's hand-off: the person must now type the code the device shows
   * (`confirmSsoHandoff`) before the device can redeem it. The confirmation token binds that step
   * to this browser.
   */
  | {
      kind: 'handoff_confirm';
      handoffId: string;
      confirmToken: string;
      tenantName: string;
      username: string;
      deviceId: string;
    };

/**
 * `GET /v1/sso/callback`, inside the spec's `identity.sso.callback` span, counted in
 * identity_sso_callbacks_total: the state is spent first (a callback works once), then the code
 * is exchanged with the verifier, the ID token is validated, and the identity is resolved to the
 * tenant's user by its link, or linked now under the tenant's rule (docs/sso.md). The user must
 * be allowed to sign in as for a password. Without a hand-off the answer is the login answer of
 * a password sign-in, with `amr: ['sso']`.
 */
/** A refusal is the user's or the provider's outcome; anything else failed at the CA. */
function callbackResult(error: unknown): SsoCallbackResult {
  if (!(error instanceof LanternError) || error.status >= 500) return 'error';
  const refusal = error.code.slice('sso_'.length);
  return error.code.startsWith('sso_') &&
    (SSO_CALLBACK_RESULTS as readonly string[]).includes(refusal)
    ? (refusal as SsoCallbackResult)
    : 'account_refused';
}

export function completeSso(
  ctx: SsoContext,
  input: CallbackInput,
  correlationId: string,
): Promise<CallbackOutcome> {
  return inSpan(SPANS.ssoCallback, async (span) => {
    let provider = 'unknown';
    let tenantId: string | undefined;
    const finish = (result: SsoCallbackResult) => {
      ctx.metrics.ssoCallback(provider, result);
      span.setAttributes({ provider, result, ...(tenantId ? { tenant_id: tenantId } : {}) });
    };
    try {
      const outcome = await callback(ctx, input, correlationId, (label, tenant) => {
        provider = label;
        tenantId = tenant;
      });
      finish('success');
      return outcome;
    } catch (error) {
      const code = error instanceof LanternError ? error.code : 'error';
      finish(callbackResult(error));
      ctx.logger.error(
        { event: 'sso.callback.failure', tenantId, provider, code },
        'SSO validation failed',
      );
      throw error;
    }
  });
}

async function callback(
  ctx: SsoContext,
  input: CallbackInput,
  correlationId: string,
  known: (provider: string, tenantId: string) => void,
): Promise<CallbackOutcome> {
  const attempt =
    input.state === undefined
      ? undefined
      : ((await ctx.store.db
          .prepare('DELETE FROM sso_attempts WHERE state = ? RETURNING *')
          .get(input.state)) as AttemptRow | undefined);
  if (!attempt || attempt.expires_at <= isoNow(ctx.clock)) throw new SsoStateInvalidError();
  const provider = await findSsoProvider(ctx.store.db, attempt.tenant_id);
  if (!provider) throw new SsoStateInvalidError();
  known(provider.provider, provider.tenantId);
  noteRequestActor(provider.tenantId);
  if (input.error !== undefined) {
    throw new SsoDeniedError(undefined, { details: { error: input.error.slice(0, 100) } });
  }
  if (input.code === undefined) throw new SsoDeniedError('the provider sent no code');
  if (input.iss !== undefined && input.iss !== provider.issuer) {
    throw new SsoIdTokenInvalidError('the callback names another issuer (iss)');
  }
  const discovery = await discoverProvider(provider.issuer, ctx.clock.now());
  const idToken = await exchangeCode(discovery, {
    clientId: provider.clientId,
    clientSecret: await ssoClientSecret(ctx, provider.tenantId),
    code: input.code,
    redirectUri: redirectUri(ctx),
    codeVerifier: ctx.secretBox
      .open(attempt.code_verifier, verifierAad(attempt.state))
      .toString('utf8'),
  });
  const verdict = await verifyIdToken(idToken, discovery.keys, {
    issuer: provider.issuer,
    clientId: provider.clientId,
    nonce: attempt.nonce,
    nowMs: ctx.clock.now(),
  });
  if (!verdict.ok) {
    throw new SsoIdTokenInvalidError(`the ID token is not valid: ${verdict.reason}`, {
      details: { reason: verdict.reason },
    });
  }
  const { identity } = verdict;
  const meta = { actor: { type: 'system' as const, id: 'sso' }, correlationId };
  const user = await ctx.store.transaction(async (): Promise<UserRow> => {
    const linked = await linkedUser(
      ctx.store.db,
      provider.tenantId,
      provider.issuer,
      identity.subject,
    );
    if (linked && linked.status !== 'erased') return linked;
    const byEmail = await userByVerifiedEmail(
      ctx.store.db,
      provider,
      identity.email,
      identity.emailVerified,
    );
    if (!byEmail) throw new SsoIdentityUnlinkedError();
    await recordIdentityLink(ctx, byEmail, provider, identity.subject, 'verified_email', {
      ...meta,
      actor: { type: 'user', id: byEmail.user_id },
    });
    return byEmail;
  });
  assertNotLocked(ctx, user, 'sso');
  assertMaySignIn(ctx, user, undefined, 'sso');
  noteRequestActor(user.tenant_id, user.role);
  if (attempt.handoff_id !== null) {
    const confirmToken = random();
    const claimed = (await ctx.store.db
      .prepare(
        `UPDATE sso_handoffs SET pending_user_id = ?, confirm_hash = ?
         WHERE handoff_id = ? AND user_id IS NULL AND pending_user_id IS NULL RETURNING device_id`,
      )
      .get(user.user_id, sha256(confirmToken).toString('hex'), attempt.handoff_id)) as
      { device_id: string } | undefined;
    if (!claimed) throw new SsoStateInvalidError();
    return {
      kind: 'handoff_confirm',
      handoffId: attempt.handoff_id,
      confirmToken,
      tenantName: (await getTenant(ctx.store.db, user.tenant_id)).name,
      username: user.username,
      deviceId: claimed.device_id,
    };
  }
  return {
    kind: 'signed_in',
    login: await issueLogin(ctx, user, [SSO_AMR], undefined, correlationId, {}, { method: 'sso' }),
  };
}

export interface HandoffStarted {
  handoffId: string;
  /** Open this in a browser: the provider's sign-in page. */
  authorizationUrl: string;
  /**
   * The device shows it; the person types it on the CA's page after the provider's. Someone sent
   * a hand-off link by an attacker does not have the code of the attacker's device in front of
   * them, so they cannot sign that device in by mistake.
   */
  userCode: string;
  expiresIn: number;
}

/**
 * A device's SSO sign-in (the device has no browser session of its own to bind): the device
 * asks with its proof, the person completes the provider's page in any browser, and the same
 * device key redeems the hand-off once. Like any device-code flow, a person tricked into
 * completing someone else's hand-off signs that device in; the hand-off is short and the
 * completion page names the tenant (docs/sso.md).
 */
export async function startSsoHandoff(
  ctx: Pick<CaContext, 'clock' | 'publicUrl' | 'secretBox' | 'store'>,
  tenant: string,
  device: ProvenDevice,
): Promise<HandoffStarted> {
  const { tenantId } = await getTenant(ctx.store.db, tenant);
  if (device.tenantId !== tenantId) throw new TenantMismatchError();
  const handoffId = random();
  const code = Array.from({ length: 8 }, () => USER_CODE_ALPHABET[randomInt(20)]).join('');
  await ctx.store.db
    .prepare('DELETE FROM sso_handoffs WHERE expires_at < ?')
    .run(isoNow(ctx.clock));
  await ctx.store.db
    .prepare(
      `INSERT INTO sso_handoffs (handoff_id, tenant_id, device_id, user_id, expires_at, user_code_hash)
       VALUES (?, ?, ?, NULL, ?, ?)`,
    )
    .run(
      handoffId,
      tenantId,
      device.deviceId,
      new Date(ctx.clock.now() + SSO_ATTEMPT_SECONDS * 1000).toISOString(),
      sha256(code).toString('hex'),
    );
  const authorizationUrl = await startSso(ctx, tenantId, handoffId);
  return {
    handoffId,
    authorizationUrl,
    userCode: `${code.slice(0, 4)}-${code.slice(4)}`,
    expiresIn: SSO_ATTEMPT_SECONDS,
  };
}

/**
 * The person's last step of a device hand-off, on the page the callback served: the code the
 * device shows. Only the browser that came back from the provider holds the confirmation token;
 * a wrong code counts, and the hand-off is dropped after `HANDOFF_CODE_ATTEMPTS` of them.
 */
export async function confirmSsoHandoff(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  handoffId: string,
  input: { confirmToken: string; userCode: string },
): Promise<{ tenantId: string }> {
  // One transaction from the read to the count: concurrent wrong codes (through several CA
  // instances) each count, and none is judged against a count read before another's.
  const verdict = await ctx.store.transaction(
    async (): Promise<{ ok: true; tenantId: string } | { ok: false; left: number }> => {
      const row = (await ctx.store.db
        .prepare('SELECT * FROM sso_handoffs WHERE handoff_id = ?')
        .get(handoffId)) as
        | {
            tenant_id: string;
            user_id: string | null;
            pending_user_id: string | null;
            confirm_hash: string | null;
            user_code_hash: string | null;
            confirm_failures: number;
            expires_at: string;
          }
        | undefined;
      const sameHash = (stored: string | null, given: string) =>
        stored !== null && timingSafeEqual(Buffer.from(stored, 'hex'), sha256(given));
      if (
        !row ||
        row.user_id !== null ||
        row.pending_user_id === null ||
        row.expires_at <= isoNow(ctx.clock) ||
        !sameHash(row.confirm_hash, input.confirmToken)
      )
        throw new SsoHandoffInvalidError();
      if (!sameHash(row.user_code_hash, normalUserCode(input.userCode))) {
        const left = HANDOFF_CODE_ATTEMPTS - row.confirm_failures - 1;
        if (left <= 0)
          await ctx.store.db
            .prepare('DELETE FROM sso_handoffs WHERE handoff_id = ?')
            .run(handoffId);
        else
          await ctx.store.db
            .prepare(
              'UPDATE sso_handoffs SET confirm_failures = confirm_failures + 1 WHERE handoff_id = ?',
            )
            .run(handoffId);
        // Answered after the commit: thrown here, the count would roll back with it.
        return { ok: false, left };
      }
      const confirmed = await ctx.store.db
        .prepare(
          'UPDATE sso_handoffs SET user_id = pending_user_id WHERE handoff_id = ? AND user_id IS NULL',
        )
        .run(handoffId);
      if (confirmed.changes !== 1) throw new SsoHandoffInvalidError();
      return { ok: true, tenantId: row.tenant_id };
    },
  );
  if (!verdict.ok) {
    const { left } = verdict;
    throw new SsoHandoffCodeWrongError(
      left <= 0
        ? 'the code does not match the one on the device, and this sign-in is now cancelled: start again on the device'
        : `the code does not match the one on the device (${left} ${left === 1 ? 'try' : 'tries'} left)`,
      { details: { triesLeft: Math.max(0, left) } },
    );
  }
  return { tenantId: verdict.tenantId };
}

/**
 * The device's half: pending until the browser finished, then the login answer of a password
 * sign-in with a device proof (session, device-bound tokens, offline grant per the tenant's
 * policy), once. Another device, or this one after expiry or redemption, gets `sso_handoff_invalid`.
 */
export async function redeemSsoHandoff(
  ctx: SsoContext,
  handoffId: string,
  device: ProvenDevice,
  correlationId: string,
): Promise<LoginResult> {
  const row = (await ctx.store.db
    .prepare('SELECT * FROM sso_handoffs WHERE handoff_id = ?')
    .get(handoffId)) as
    | { tenant_id: string; device_id: string; user_id: string | null; expires_at: string }
    | undefined;
  if (!row || row.device_id !== device.deviceId || row.expires_at <= isoNow(ctx.clock)) {
    throw new SsoHandoffInvalidError();
  }
  if (row.user_id === null) throw new SsoHandoffPendingError();
  const spent = await ctx.store.db
    .prepare('DELETE FROM sso_handoffs WHERE handoff_id = ? AND user_id IS NOT NULL')
    .run(handoffId);
  if (spent.changes !== 1) throw new SsoHandoffInvalidError();
  const user = await findUserById(ctx.store.db, row.user_id);
  if (!user || user.status === 'erased') throw new SsoHandoffInvalidError();
  assertNotLocked(ctx, user, 'sso');
  assertMaySignIn(ctx, user, device, 'sso');
  return issueLogin(ctx, user, [SSO_AMR], device, correlationId, {}, { method: 'sso' });
}
