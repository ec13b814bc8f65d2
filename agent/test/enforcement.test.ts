import { existsSync } from 'node:fs';
import { LanternError, runCli } from '@lantern/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { syncCommand } from '../src/cli/sync-command.js';
import { openAgent } from '../src/data-dir/open-agent.js';
import { readDeviceRevocation } from '../src/enforcement/device-revocation.js';
import type { VerifiedRevocation } from '../src/enforcement/enforce-revocations.js';
import { enforceRevocations } from '../src/enforcement/enforce-revocations.js';
import { DataKeyDestroyedError } from '../src/errors.js';
import { DataKey } from '../src/keys/data-key.js';
import { FilePlatformSecret } from '../src/keys/file-platform-secret.js';
import { SyncClient } from '../src/sync/sync-client.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, createUser, startTestCa } from '../../test/support/ca-fixture.js';
import type { TestAgent } from './support/sync-fixture.js';
import { caEventsOf, enrolledAgent, onlineLogin, reopen } from './support/sync-fixture.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();
const PASSWORD = 'correct horse battery';

let ca: TestCa;
let caUrl: string;
let tenantId: string;
let agent: TestAgent;

beforeEach(async () => {
  ca = await startTestCa({ now: Date.now() });
  caUrl = await ca.app.listen({ port: 0, host: '127.0.0.1' });
  tenantId = await createTenant(ca, 'Hillside');
  agent = await enrolledAgent(ca, caUrl, tenantId, tempDir());
});
afterEach(async () => {
  agent.close();
  await ca.close();
});

function sync(options: Partial<ConstructorParameters<typeof SyncClient>[0]> = {}) {
  return new SyncClient({ agent, outbox: agent.outbox, sleep: async () => {}, ...options });
}

function session(sessionId: string) {
  return agent.store.db
    .prepare(
      'SELECT ended_at AS endedAt, end_reason AS endReason, refresh_sealed AS refresh FROM sessions WHERE session_id = ?',
    )
    .get(sessionId) as { endedAt: number | null; endReason: string | null; refresh: Buffer | null };
}

function hasGrant(grantId: string): boolean {
  return agent.count('grants', `grant_id = '${grantId}'`) === 1;
}

async function login(username: string) {
  return onlineLogin(agent, caUrl, tenantId, username, PASSWORD);
}

describe('device revoked', () => {
  it('hands the outbox over first, wipes sign-in state at once and shreds the keys last', async () => {
    const userId = await createUser(ca, tenantId, 'amina', PASSWORD);
    await login('amina');
    agent.store.db
      .prepare(
        `INSERT INTO verifiers (user_id, kind, sealed, created_at, updated_at) VALUES (?, 'password', ?, 0, 0)`,
      )
      .run(userId, agent.dataKey.seal('verifier', `verifiers/${userId}/password//sealed`));
    agent.store.db
      .prepare(
        `INSERT INTO passkeys (credential_id, user_id, public_key_sealed, sign_count, user_verified, created_at)
         VALUES ('cred-1', ?, ?, 0, 1, 0)`,
      )
      .run(userId, agent.dataKey.seal('cose', 'passkeys/cred-1/public_key_sealed'));
    const eventIds = agent.fill(1_200);
    ca.clock.advance(1_000);
    const revoked = await ca.admin('POST', `/v1/admin/devices/${agent.binding.deviceId}/revoke`, {
      reason: 'stolen',
    });
    expect(revoked.statusCode).toBe(200);

    const afterFirstRound: unknown[] = [];
    const outcome = await sync({
      onProgress: (progress) => {
        if (progress.rounds !== 1) return;
        afterFirstRound.push({
          signinState: ['grants', 'verifiers', 'passkeys', 'sessions'].map((table) =>
            agent.count(table),
          ),
          device: readDeviceRevocation(agent.store),
          deviceKeyOnDisk: existsSync(agent.paths.deviceKey),
          pending: progress.pending,
        });
      },
    }).run();

    // Round 1 pushed 500 events and learned the revocation: sign-in state went in that commit,
    // the keys stayed to sign the proofs that handed over the other 700.
    expect(afterFirstRound).toEqual([
      {
        signinState: [0, 0, 0, 0],
        device: {
          revoked: true,
          revokedAt: expect.any(Number),
          reason: 'stolen',
          keysDestroyedAt: null,
        },
        deviceKeyOnDisk: true,
        pending: 700,
      },
    ]);
    expect(outcome).toMatchObject({
      completed: true,
      acked: 1_200,
      pending: 0,
      grantsDropped: 1,
      device: { revoked: true, reason: 'stolen', keysDestroyedAt: expect.any(Number) },
    });
    expect(await caEventsOf(ca, agent.binding.deviceId)).toEqual({ rows: 1_200, distinct: 1_200 });
    expect(eventIds).toHaveLength(1_200);

    expect(
      ['grants', 'verifiers', 'passkeys', 'sessions'].map((table) => agent.count(table)),
    ).toEqual([0, 0, 0, 0]);
    expect(existsSync(agent.paths.deviceKey)).toBe(false);
    expect(await new FilePlatformSecret(agent.paths.platformSecret).load()).toEqual({
      state: 'destroyed',
    });
    await expect(DataKey.load(new FilePlatformSecret(agent.paths.platformSecret))).rejects.toThrow(
      DataKeyDestroyedError,
    );
    expect(() => agent.dataKey.seal('x', 'y')).toThrow(DataKeyDestroyedError);
    // The binding row stays, so the device can say it was revoked, when and why.
    expect(agent.count('binding')).toBe(1);
    expect(
      agent.count('revocations', `kind = 'device' AND subject_id = '${agent.binding.deviceId}'`),
    ).toBe(1);
    expect(agent.count('revocations', "kind = 'certificate'")).toBe(1);
    await expect(openAgent({ dataDir: agent.dataDir, clock: ca.clock })).rejects.toThrow(
      DataKeyDestroyedError,
    );
  });

  it('`lantern-agent sync` on a wiped device refuses with data_key_destroyed and says why', async () => {
    await ca.admin('POST', `/v1/admin/devices/${agent.binding.deviceId}/revoke`, {
      reason: 'lost',
    });
    expect(await sync().run()).toMatchObject({ device: { revoked: true, reason: 'lost' } });
    const stdout: string[] = [];
    const code = await runCli(
      'lantern-agent',
      [syncCommand],
      ['sync', '--data-dir', agent.dataDir, '--json'],
      {
        stdout: (text) => stdout.push(text),
        stderr: () => {},
        readStdin: async () => '',
        env: {},
      },
    );
    expect(code).toBe(1);
    const refusal = JSON.parse(stdout[0] ?? '{}') as { code: string; message: string };
    expect(refusal.code).toBe('data_key_destroyed');
    expect(refusal.message).toMatch(/revoked at .* \(lost\)/);
  });

  it('finishes a wipe a crash interrupted, without the network, once the outbox is empty', async () => {
    await ca.admin('POST', `/v1/admin/devices/${agent.binding.deviceId}/revoke`, {
      reason: 'lost',
    });
    // round() commits the revocation; the shred is run()'s, after it: a crash in between.
    expect(await sync().round()).toMatchObject({ ok: true, result: { deviceRevoked: true } });
    expect(existsSync(agent.paths.deviceKey)).toBe(true);
    agent.close();

    agent = await reopen(agent.dataDir, ca.clock);
    const outcome = await sync({
      fetch: async () => {
        throw new TypeError('fetch failed');
      },
    }).run();
    expect(outcome).toMatchObject({
      completed: true,
      rounds: 0,
      device: { revoked: true, keysDestroyedAt: expect.any(Number) },
    });
    expect(existsSync(agent.paths.deviceKey)).toBe(false);
  });
});

describe('user, grant and session revoked', () => {
  it('ends the sessions and drops the grants a user revocation covers, and only those', async () => {
    await createUser(ca, tenantId, 'amina', PASSWORD);
    await createUser(ca, tenantId, 'bo', PASSWORD);
    const before = await login('amina');
    const other = await login('bo');
    agent.store.db
      .prepare('UPDATE sessions SET refresh_sealed = ? WHERE session_id = ?')
      .run(agent.dataKey.seal('refresh', 'r'), before.sessionId);
    ca.clock.advance(60_000);
    await ca.admin('POST', `/v1/admin/users/${before.userId}/suspend`, {});
    ca.clock.advance(60_000);
    await ca.admin('POST', `/v1/admin/users/${before.userId}/reactivate`, {});
    ca.clock.advance(60_000);
    const after = await login('amina');

    const outcome = await sync().run();
    expect(outcome).toMatchObject({ completed: true, sessionsEnded: 1, grantsDropped: 1 });
    expect(session(before.sessionId)).toEqual({
      endedAt: expect.any(Number),
      endReason: 'user_revoked',
      refresh: null,
    });
    expect(hasGrant(before.grantId)).toBe(false);
    // Signed in online after the revocation: a new grant, untouched.
    expect(session(after.sessionId).endedAt).toBeNull();
    expect(hasGrant(after.grantId)).toBe(true);
    expect(session(other.sessionId).endedAt).toBeNull();
    expect(hasGrant(other.grantId)).toBe(true);
    expect(agent.count('revocations', `kind = 'user' AND subject_id = '${before.userId}'`)).toBe(1);
  });

  it('ends a revoked session and keeps its grant', async () => {
    await createUser(ca, tenantId, 'amina', PASSWORD);
    const signedIn = await login('amina');
    await ca.admin('POST', `/v1/admin/sessions/${signedIn.sessionId}/revoke`, {});
    expect(await sync().run()).toMatchObject({
      completed: true,
      sessionsEnded: 1,
      grantsDropped: 0,
    });
    expect(session(signedIn.sessionId)).toMatchObject({ endReason: 'admin' });
    expect(hasGrant(signedIn.grantId)).toBe(true);
  });

  it('drops a revoked grant and ends the sessions minted under it', async () => {
    await createUser(ca, tenantId, 'amina', PASSWORD);
    const signedIn = await login('amina');
    await ca.admin('POST', `/v1/admin/grants/${signedIn.grantId}/revoke`, {});
    expect(await sync().run()).toMatchObject({
      completed: true,
      sessionsEnded: 1,
      grantsDropped: 1,
    });
    expect(hasGrant(signedIn.grantId)).toBe(false);
    expect(session(signedIn.sessionId)).toMatchObject({ endReason: 'grant_revoked' });
  });
});

describe('enforceRevocations on the store', () => {
  const entry = (seq: number, fields: Partial<VerifiedRevocation>): VerifiedRevocation => ({
    seq,
    kind: 'session',
    id: 'ses_01J9Z3YQ8M6W4Q9V2K7T5R3N1D',
    revokedAt: ca.clock.now(),
    reason: 'admin',
    ...fields,
  });
  const context = () => ({ deviceId: agent.binding.deviceId, now: ca.clock.now() });

  it('is idempotent, keeps the latest time per subject and skips kinds it does not know', async () => {
    await createUser(ca, tenantId, 'amina', PASSWORD);
    const signedIn = await login('amina');
    const t = ca.clock.now();
    const entries = [
      entry(1, { kind: 'user', id: signedIn.userId, revokedAt: t + 1_000, reason: 'admin' }),
      entry(2, { kind: 'user', id: signedIn.userId, revokedAt: t - 5_000, reason: 'user_locked' }),
      entry(3, { kind: 'tenant', id: tenantId }),
    ];
    expect(enforceRevocations(agent.store, entries, context())).toEqual({
      recorded: 2,
      ignored: 1,
      rows: [
        { kind: 'user', subjectId: signedIn.userId },
        { kind: 'user', subjectId: signedIn.userId },
      ],
      sessionsEnded: 1,
      grantsDropped: 1,
      deviceRevoked: null,
    });
    expect(enforceRevocations(agent.store, entries, context())).toMatchObject({
      recorded: 2,
      sessionsEnded: 0,
      grantsDropped: 0,
    });
    expect(
      agent.store.db
        .prepare(
          "SELECT revoked_at AS at, reason, feed_seq AS seq FROM revocations WHERE kind = 'user'",
        )
        .all(),
    ).toEqual([{ at: t + 1_000, reason: 'admin', seq: 2 }]);
  });

  it('runs in the caller transaction: a rollback leaves no trace', async () => {
    await createUser(ca, tenantId, 'amina', PASSWORD);
    const signedIn = await login('amina');
    expect(() =>
      agent.store.transaction(() => {
        enforceRevocations(
          agent.store,
          [entry(1, { kind: 'device', id: agent.binding.deviceId })],
          context(),
        );
        throw new LanternError('test_abort', 500, 'abort');
      }),
    ).toThrow('abort');
    expect(hasGrant(signedIn.grantId)).toBe(true);
    expect(readDeviceRevocation(agent.store)).toEqual({ revoked: false });
    expect(agent.count('revocations')).toBe(0);
  });
});
