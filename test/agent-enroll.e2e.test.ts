import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_CLI, CA_CLI, freePort, runNode, startNode } from './support/processes.js';

/**
 * The README's device walk-through with real processes: `lantern-ca init` and `serve`, an
 * admin creating a tenant and a token, then `lantern-agent enroll` pinning the root
 * fingerprint `init` printed, `status`, and the agent's loopback API.
 */
describe('lantern-agent enrolls against a running lantern-ca', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-agent-e2e-'));
  const caDir = join(dir, 'ca');
  const agentDir = join(dir, 'agent');
  let caUrl = '';
  let rootFingerprint = '';
  let server: Awaited<ReturnType<typeof startNode>> | undefined;

  const ca = (...args: string[]) => runNode(CA_CLI, [...args, '--data-dir', caDir, '--json']);
  const agent = (...args: string[]) => runNode(AGENT_CLI, [...args, '--json']);
  const newToken = (tenantId: string): string => {
    const token = ca('enroll-token', 'create', '--tenant', tenantId, '--ttl', '15m');
    expect(token.status, token.stdout + token.stderr).toBe(0);
    return token.json<{ token: string }>().token;
  };

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
    rootFingerprint = init.json<{ rootFingerprint: string }>().rootFingerprint;
    server = await startNode(
      CA_CLI,
      ['serve', '--data-dir', caDir, '--port', String(port)],
      /listening on/,
    );
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('enrolls with the pinned root, shows the binding and serves status', async () => {
    const tenant = ca('tenant', 'create', 'Hillside Primary');
    expect(tenant.status, tenant.stdout + tenant.stderr).toBe(0);
    const tenantId = tenant.json<{ id: string }>().id;

    const refused = agent(
      ...['enroll', '--ca', caUrl, '--token', newToken(tenantId), '--data-dir', agentDir],
      ...['--root-fingerprint', 'ab'.repeat(32)],
    );
    expect(refused.status).toBe(1);
    expect(refused.json()).toMatchObject({ code: 'root_fingerprint_mismatch' });

    const enrolled = agent(
      ...['enroll', '--ca', caUrl, '--token', newToken(tenantId), '--data-dir', agentDir],
      ...['--root-fingerprint', rootFingerprint, '--name', 'Tablet 7'],
    );
    expect(enrolled.status, enrolled.stdout + enrolled.stderr).toBe(0);
    const outcome = enrolled.json<{ deviceId: string }>();
    expect(outcome).toMatchObject({ tenantId, rootFingerprint, rootTrust: 'pinned', caUrl });
    if (process.platform !== 'win32') {
      expect(statSync(join(agentDir, 'keys', 'device-key')).mode & 0o777).toBe(0o600);
    }

    const status = agent('status', '--data-dir', agentDir);
    expect(status.status, status.stderr).toBe(0);
    expect(status.json()).toMatchObject({
      enrolled: true,
      deviceId: outcome.deviceId,
      tenantId,
      caUrl,
      rootFingerprint,
      revocationCursor: 0,
      outboxDepth: 0,
    });

    const devices = ca('device', 'list');
    expect(devices.json<{ devices: { deviceId: string; name: string }[] }>().devices).toEqual([
      expect.objectContaining({ deviceId: outcome.deviceId, name: 'Tablet 7' }),
    ]);

    const again = agent(
      ...['enroll', '--ca', caUrl, '--token', newToken(tenantId), '--data-dir', agentDir],
    );
    expect(again.status).toBe(1);
    expect(again.json()).toMatchObject({ code: 'already_enrolled' });

    const port = await freePort();
    const daemon = await startNode(
      AGENT_CLI,
      ['serve', '--data-dir', agentDir, '--port', String(port)],
      /listening on/,
    );
    try {
      const url = `http://127.0.0.1:${port}`;
      expect(daemon.output()).toContain(url);
      const served = await fetch(`${url}/v1/status`);
      expect(served.status).toBe(200);
      expect(await served.json()).toMatchObject({ enrolled: true, deviceId: outcome.deviceId });
      expect((await fetch(`${url}/v1/signin`, { method: 'POST' })).status).toBe(401);
      const secret = readFileSync(join(agentDir, 'secrets', 'local-api-secret'), 'utf8');
      const authed = await fetch(`${url}/v1/signin`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}` },
      });
      expect(authed.status).toBe(400);
    } finally {
      await daemon.stop();
    }
  }, 90_000);

  it('exits 1 with ca_unreachable when nothing answers, and 2 on usage errors', async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const unreachable = agent(
      'enroll',
      '--ca',
      nowhere,
      '--token',
      't',
      '--data-dir',
      join(dir, 'x'),
    );
    expect(unreachable.status).toBe(1);
    expect(unreachable.json()).toMatchObject({ code: 'ca_unreachable' });
    expect(runNode(AGENT_CLI, ['enroll', '--token', 't']).status).toBe(2);
    const help = runNode(AGENT_CLI, ['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('enroll');
  });
});
