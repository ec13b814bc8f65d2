import { systemClock, runCli } from '@lantern/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands } from '../src/cli/commands.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import { caEventsOf, enrolledAgent } from './support/sync-fixture.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();

async function cli(...argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await runCli('lantern-agent', commands, argv, {
    stdout: (text) => stdout.push(text),
    stderr: (text) => stderr.push(text),
    readStdin: async () => '',
    env: {},
  });
  return { code, stdout, stderr };
}

describe('lantern-agent sync', () => {
  let ca: TestCa;
  let caUrl: string;
  let tenantId: string;

  beforeAll(async () => {
    // The command runs on the system clock, like the real CLI.
    ca = await startTestCa({ now: Date.now() });
    caUrl = await ca.app.listen({ port: 0, host: '127.0.0.1' });
    tenantId = await createTenant(ca, 'Hillside');
  });
  afterAll(async () => ca.close());

  it('prints one JSON object with the counts, and progress lines on stderr for a big backlog', async () => {
    const agent = await enrolledAgent(ca, caUrl, tenantId, tempDir(), systemClock);
    agent.fill(1_100);
    agent.close();

    const run = await cli('sync', '--data-dir', agent.dataDir, '--json');
    expect(run.code, run.stdout.join('\n')).toBe(0);
    expect(run.stdout).toHaveLength(1);
    expect(JSON.parse(run.stdout[0] ?? '')).toEqual({
      dataDir: agent.dataDir,
      completed: true,
      stalled: false,
      rounds: 3,
      pushed: 1_100,
      acked: 1_100,
      accepted: 1_100,
      duplicates: 0,
      rejected: 0,
      quarantined: 0,
      revocationsApplied: 0,
      sessionsEnded: 0,
      grantsDropped: 0,
      cursor: 0,
      pending: 0,
      failedRounds: 0,
      deviceRevoked: false,
      // Not due yet: sync renews only from renewFromFraction of the lifetime.
      renewal: expect.objectContaining({ renewed: false, phase: 'valid' }),
    });
    expect(run.stderr).toEqual([
      expect.stringMatching(/^sync: round 2: 1000 pushed, 1000 acked, 100 waiting/),
      expect.stringMatching(/^sync: round 3: 1100 pushed, 1100 acked, 0 waiting/),
    ]);
    expect(await caEventsOf(ca, agent.binding.deviceId)).toEqual({ rows: 1_100, distinct: 1_100 });

    const human = await cli('sync', '--data-dir', agent.dataDir);
    expect(human.code).toBe(0);
    expect(human.stdout.join('\n')).toMatch(/Synced in 1 round\(s\).*0 event\(s\) pushed/);
    expect(human.stderr).toEqual([]);
  });

  it('reports a revoked device, and exits 1 with ca_unreachable when the CA does not answer', async () => {
    const agent = await enrolledAgent(ca, caUrl, tenantId, tempDir(), systemClock);
    agent.close();
    await ca.admin('POST', `/v1/admin/devices/${agent.binding.deviceId}/revoke`, {
      reason: 'stolen',
    });
    const run = await cli('sync', '--data-dir', agent.dataDir, '--json');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout[0] ?? '')).toMatchObject({
      completed: true,
      revocationsApplied: 1,
      deviceRevoked: true,
      revokeReason: 'stolen',
      keysDestroyed: true,
    });
    // Status says so too, with no certificate days left to mislead anyone.
    const status = await cli('status', '--data-dir', agent.dataDir, '--json');
    expect(status.code).toBe(0);
    const reported = JSON.parse(status.stdout[0] ?? '') as Record<string, unknown>;
    expect(reported).toMatchObject({
      enrolled: false,
      revoked: true,
      reason: 'stolen',
      keysDestroyed: true,
      deviceId: agent.binding.deviceId,
    });
    expect(reported).not.toHaveProperty('certificate');
    const statusText = await cli('status', '--data-dir', agent.dataDir);
    expect(statusText.stdout.join('\n')).toMatch(/REVOKED on .* \(stolen\)/);

    const unreachable = await enrolledAgent(ca, caUrl, tenantId, tempDir(), systemClock);
    unreachable.store.db.prepare("UPDATE binding SET ca_url = 'http://127.0.0.1:9'").run();
    unreachable.close();
    const offline = await cli('sync', '--data-dir', unreachable.dataDir, '--json');
    expect(offline.code).toBe(1);
    expect(JSON.parse(offline.stdout[0] ?? '')).toMatchObject({ code: 'ca_unreachable' });
  });
});
