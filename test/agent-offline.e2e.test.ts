import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_CLI, CA_CLI, freePort, runNode, startNode } from './support/processes.js';

/**
 * docs/architecture.md §4 with real processes: an online sign-in through a running `lantern-ca`, then the
 * CA stopped and the same learner signing in offline, failing, locking, and the offline session
 * token verified by `lantern-agent verify` and the loopback API. Cases that need the clock to
 * move are in agent/test/offline-signin.test.ts, on a manual clock.
 */
describe('lantern-agent signs in offline once the CA is gone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-offline-e2e-'));
  const caDir = join(dir, 'ca');
  const agentDir = join(dir, 'agent');
  const password = 'correct horse battery staple';
  let caUrl = '';
  let server: Awaited<ReturnType<typeof startNode>> | undefined;

  const ca = (...args: string[]) => runNode(CA_CLI, [...args, '--data-dir', caDir, '--json']);
  const agent = (args: string[], input?: string) =>
    runNode(AGENT_CLI, [...args, '--data-dir', agentDir, '--json'], {
      ...(input === undefined ? {} : { input }),
    });
  const signin = (secret: string) => agent(['signin', '--user', 'amina'], `${secret}\n`);

  beforeAll(async () => {
    const port = await freePort();
    caUrl = `http://127.0.0.1:${port}`;
    const init = runNode(CA_CLI, [
      'init',
      '--data-dir',
      caDir,
      '--dev-root-in-data-dir',
      '--url',
      caUrl,
      '--json',
    ]);
    expect(init.status, init.stderr).toBe(0);
    const { rootFingerprint, adminApiKey } = init.json<{
      rootFingerprint: string;
      adminApiKey: string;
    }>();
    server = await startNode(
      CA_CLI,
      ['serve', '--data-dir', caDir, '--port', String(port)],
      /listening on/,
    );
    const tenant = ca('tenant', 'create', 'Hillside Primary');
    expect(tenant.status, tenant.stdout + tenant.stderr).toBe(0);
    const tenantId = tenant.json<{ id: string }>().id;
    const user = await fetch(`${caUrl}/v1/admin/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminApiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: tenantId, username: 'amina', role: 'learner', password }),
    });
    expect(user.status, await user.clone().text()).toBe(201);
    const token = ca('enroll-token', 'create', '--tenant', tenantId, '--ttl', '15m');
    expect(token.status, token.stdout + token.stderr).toBe(0);
    const enrolled = agent([
      ...['enroll', '--ca', caUrl, '--token', token.json<{ token: string }>().token],
      ...['--root-fingerprint', rootFingerprint],
    ]);
    expect(enrolled.status, enrolled.stdout + enrolled.stderr).toBe(0);
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('online, then offline: success, bad_credentials, locked, and the token verifies', async () => {
    const online = signin(password);
    expect(online.status, online.stdout + online.stderr).toBe(0);
    expect(online.json()).toMatchObject({ ok: true, mode: 'online', token: expect.any(String) });
    const refusedOnline = signin('not it');
    expect(refusedOnline.status).toBe(1);
    expect(refusedOnline.json()).toMatchObject({ code: 'bad_credentials' });

    await server?.stop();
    server = undefined;

    const offline = signin(password);
    expect(offline.status, offline.stdout + offline.stderr).toBe(0);
    const session = offline.json<{ token: string; sessionId: string; userId: string }>();
    expect(offline.json()).toMatchObject({
      ok: true,
      mode: 'offline',
      userId: online.json<{ userId: string }>().userId,
      expiresAt: expect.stringMatching(/Z$/),
    });

    const wrong = signin('not it');
    expect(wrong.status).toBe(1);
    expect(wrong.json()).toEqual({
      code: 'bad_credentials',
      message: 'The username or password is not right. Check them and try again.',
    });
    for (let attempt = 2; attempt <= 4; attempt += 1) {
      expect(signin('not it').json()).toMatchObject({ code: 'bad_credentials' });
    }
    expect(signin('not it').json()).toMatchObject({ code: 'locked' });
    const locked = signin(password);
    expect(locked.status).toBe(1);
    expect(locked.json()).toMatchObject({ code: 'locked' });

    const verified = agent(['verify', session.token]);
    expect(verified.status, verified.stdout + verified.stderr).toBe(0);
    expect(verified.json()).toMatchObject({
      ok: true,
      kind: 'session',
      claims: { sub: session.userId, sid: session.sessionId, aud: 'lantern-local' },
    });
    const tampered = agent(['verify', `${session.token.slice(0, -4)}AAAA`]);
    expect(tampered.status).toBe(1);
    expect(tampered.json()).toMatchObject({ code: 'bad_signature' });

    // logged_in + session.created, 4 × login_failed, login_failed + locked, login_failed.
    const status = agent(['status']);
    expect(status.json<{ outboxDepth: number }>().outboxDepth).toBe(9);

    const port = await freePort();
    const daemon = await startNode(
      AGENT_CLI,
      ['serve', '--data-dir', agentDir, '--port', String(port)],
      /listening on/,
    );
    try {
      const secret = readFileSync(join(agentDir, 'secrets', 'local-api-secret'), 'utf8');
      const response = await fetch(`http://127.0.0.1:${port}/v1/verify`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ token: session.token }),
      });
      expect(await response.json()).toMatchObject({ ok: true, kind: 'session' });
    } finally {
      await daemon.stop();
    }
    // A dozen CLI processes, each paying node start-up and one scrypt at the default cost.
  }, 120_000);

  it('exits 2 without --user and 1 with not_enrolled for an empty data directory', () => {
    expect(runNode(AGENT_CLI, ['signin', '--data-dir', agentDir], { input: 'x\n' }).status).toBe(2);
    const empty = runNode(
      AGENT_CLI,
      ['signin', '--user', 'amina', '--data-dir', join(dir, 'none'), '--json'],
      { input: 'x\n' },
    );
    expect(empty.status).toBe(1);
    expect(empty.json()).toMatchObject({ code: 'not_enrolled' });
  });
});
