import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manualClock, systemClock } from '@lantern/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  T0,
  createEnrollmentToken,
  createTenant,
  createUser,
  startTestCa,
} from '../../test/support/ca-fixture.js';
import { openAgent } from '../src/data-dir/open-agent.js';
import { enroll } from '../src/enrollment/enroll.js';
import { signInOffline } from '../src/signin/offline-signin.js';
import { signInOnline } from '../src/signin/online-signin.js';
import type { SessionTokenClaims } from '../src/session-token/session-token-claims.js';
import { signOut } from '../src/signin/sign-out.js';
import type { SigninSuccess, SigninVerdict } from '../src/signin/signin-agent.js';
import { createSigninAgent } from '../src/signin/signin-agent.js';
import { openAgentStore } from '../src/store/agent-store.js';
import { TrustedTime } from '../src/time/trusted-time.js';
import { createLocalVerifier } from '../src/verify/local-verifier.js';
import type { SigninWorld, TestDevice } from './signin-harness.js';
import { PASSWORD, TEST_OPTIONS, startSigninWorld } from './signin-harness.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();
let world: SigninWorld;
let device: TestDevice;
let userId = '';
// One directory for the whole file: useTempDirs empties its own after every test.
let sharedDir = '';
let made = 0;

beforeAll(async () => {
  sharedDir = mkdtempSync(join(tmpdir(), 'lantern-verify-'));
  world = await startSigninWorld(() => join(sharedDir, `device-${(made += 1)}`));
  userId = await world.user('amina');
  device = await world.device();
  const online = await signInOnline(
    device.agent,
    { username: 'amina', password: PASSWORD },
    TEST_OPTIONS,
  );
  expect(online).toMatchObject({ kind: 'answered', verdict: { ok: true } });
});
afterAll(async () => {
  await world.close();
  rmSync(sharedDir, { recursive: true, force: true });
});

function ok(verdict: SigninVerdict): SigninSuccess {
  if (!verdict.ok) throw new Error(`refused: ${verdict.code}`);
  return verdict;
}

const signIn = async (on: TestDevice = device) =>
  ok(await signInOffline(on.agent, { username: 'amina', password: PASSWORD }, TEST_OPTIONS));

function withRevocation<T>(kind: string, subjectId: string, revokedAt: number, run: () => T): T {
  const { db } = device.opened.store;
  db.prepare(
    `INSERT INTO revocations (kind, subject_id, revoked_at, reason, received_at)
     VALUES (?, ?, ?, 'admin', ?)`,
  ).run(kind, subjectId, revokedAt, revokedAt);
  try {
    return run();
  } finally {
    db.prepare('DELETE FROM revocations WHERE kind = ? AND subject_id = ?').run(kind, subjectId);
  }
}

describe('session tokens refused', () => {
  it('signed by another device of the same tenant and CA', async () => {
    const other = await world.device();
    await signInOnline(other.agent, { username: 'amina', password: PASSWORD }, TEST_OPTIONS);
    const foreign = await signIn(other);
    expect(other.verifier.verify(foreign.token)).toMatchObject({ ok: true });
    expect(device.verifier.verify(foreign.token)).toEqual({ ok: false, reason: 'wrong_device' });
  });

  it('whose x5c chains to another root', async () => {
    const elsewhere = await startTestCa();
    try {
      const url = await elsewhere.app.listen({ port: 0, host: '127.0.0.1' });
      elsewhere.ctx.publicUrl = url;
      const tenant = await createTenant(elsewhere, 'Elsewhere');
      await createUser(elsewhere, tenant, 'amina', PASSWORD);
      const clock = manualClock(T0);
      const dataDir = join(tempDir(), 'elsewhere');
      await enroll({
        dataDir,
        caUrl: url,
        token: await createEnrollmentToken(elsewhere, tenant),
        rootFingerprint: elsewhere.rootFingerprint,
        clock,
      });
      const opened = await openAgent({ dataDir, clock });
      try {
        const agent = createSigninAgent(opened);
        await signInOnline(agent, { username: 'amina', password: PASSWORD }, TEST_OPTIONS);
        const foreign = ok(
          await signInOffline(agent, { username: 'amina', password: PASSWORD }, TEST_OPTIONS),
        );
        expect(device.verifier.verify(foreign.token)).toMatchObject({
          ok: false,
          reason: 'untrusted_chain',
        });
      } finally {
        opened.close();
      }
    } finally {
      await elsewhere.close();
    }
  });

  it('edited after signing, cut, of another type, or not a token at all', async () => {
    const { token } = await signIn();
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { exp: number };
    const later = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 86_400 }));
    expect(
      device.verifier.verify(`${header}.${later.toString('base64url')}.${signature}`),
    ).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(device.verifier.verify(`${header}.${payload}`)).toMatchObject({ reason: 'malformed' });
    expect(device.verifier.verify('not a token')).toMatchObject({ reason: 'malformed' });
    expect(device.verifier.verify(42)).toMatchObject({ reason: 'malformed' });
    const otherType = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'JWT' })).toString(
      'base64url',
    );
    expect(device.verifier.verify(`${otherType}.${payload}.${signature}`)).toMatchObject({
      reason: 'wrong_type',
    });
    expect(device.verifier.verifyAccessToken(token)).toMatchObject({ reason: 'wrong_type' });
  });

  it('once the device, its certificate, the user, the grant or the session is revoked', async () => {
    const session = await signIn();
    const claims = device.verifier.verify(session.token);
    if (!claims.ok) throw new Error(claims.reason);
    const { sid, grt, grt_iat: grantIat } = claims.claims as unknown as SessionTokenClaims;
    const { deviceId } = device.opened.binding;
    const now = device.agent.trustedTime.trustedNow();
    const verify = () => device.verifier.verify(session.token);
    expect(withRevocation('device', deviceId, now, verify)).toMatchObject({
      reason: 'device_revoked',
    });
    expect(withRevocation('grant', grt, now, verify)).toMatchObject({ reason: 'grant_revoked' });
    expect(withRevocation('session', sid, now, verify)).toMatchObject({
      reason: 'session_revoked',
    });
    // Even revoked after this token was minted: the grant it came from is older (invariant 1).
    expect(withRevocation('user', userId, grantIat * 1000, verify)).toMatchObject({
      reason: 'user_revoked',
    });
    expect(withRevocation('user', userId, grantIat * 1000 - 1, verify)).toMatchObject({ ok: true });
    expect(verify()).toMatchObject({ ok: true });
  });

  it('once signed out', async () => {
    const session = await signIn();
    expect(await signOut(device.agent, session.sessionId)).toMatchObject({
      ok: true,
      alreadyEnded: false,
    });
    expect(device.verifier.verify(session.token)).toEqual({ ok: false, reason: 'session_ended' });
    expect(await signOut(device.agent, session.sessionId)).toMatchObject({ alreadyEnded: true });
    expect(await signOut(device.agent, 'ses_01J9Z3YQ8M6W4Q9V2K7T5R3N1D')).toEqual({
      ok: false,
      reason: 'unknown_session',
    });
    expect(device.events('identity.session.revoked')).toContainEqual({
      sessionId: session.sessionId,
      userId,
      tenantId: device.agent.outbox.recordedFor.tenantId,
      deviceId: device.agent.outbox.recordedFor.deviceId,
      reason: 'logout',
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
  });

  it('by a store that is not enrolled', () => {
    const store = openAgentStore(join(tempDir(), 'empty.db'), { clock: systemClock });
    try {
      const verifier = createLocalVerifier({ store, trustedTime: new TrustedTime(store) });
      expect(verifier.verify('a.b.c')).toMatchObject({ reason: 'malformed' });
      expect(verifier.verifySessionToken('a.b.c')).toEqual({ ok: false, reason: 'not_enrolled' });
    } finally {
      store.close();
    }
  });
});

describe('CA access tokens', () => {
  it('verify with the cached JWKS, and stop when their session or user is revoked', async () => {
    const online = await signInOnline(
      device.agent,
      { username: 'amina', password: PASSWORD },
      TEST_OPTIONS,
    );
    if (online.kind !== 'answered' || !online.verdict.ok) throw new Error('online sign-in failed');
    const { accessToken, sessionId } = online.verdict;
    expect(device.verifier.verify(accessToken)).toMatchObject({
      ok: true,
      kind: 'access',
      claims: { sub: userId, sid: sessionId, tenant: world.tenantId, aud: 'lantern' },
    });
    const now = device.agent.trustedTime.trustedNow();
    const verify = () => device.verifier.verify(accessToken);
    expect(withRevocation('session', sessionId, now, verify)).toMatchObject({
      reason: 'session_revoked',
    });
    expect(withRevocation('user', userId, now, verify)).toMatchObject({ reason: 'user_revoked' });
    expect(withRevocation('key', world.ca.ctx.tokenKeys.activeKid, now, verify)).toMatchObject({
      reason: 'key_revoked',
    });
    // The online session's own session token, and the CA told at sign-out (no outbox event).
    expect(device.verifier.verify(online.verdict.token)).toMatchObject({ ok: true });
    const before = device.events('identity.session.revoked').length;
    expect(await signOut(device.agent, sessionId)).toMatchObject({ ok: true });
    expect(device.events('identity.session.revoked')).toHaveLength(before);
    expect(verify()).toMatchObject({ reason: 'session_ended' });
    expect(device.verifier.verify(online.verdict.token)).toMatchObject({ reason: 'session_ended' });
  });
});
