import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandIo } from '@lantern/shared';
import { runCli } from '@lantern/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands } from '../src/cli/commands.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createEnrollmentToken, createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import { freePort } from '../../test/support/processes.js';
import { startSwtpm } from '../../test/support/swtpm.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json<T = Record<string, unknown>>(): T;
}

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIo = {
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    readStdin: async () => '',
    env,
  };
  const code = await runCli('lantern-agent', commands, argv, io);
  const stdout = out.join('\n');
  return { code, stdout, stderr: err.join('\n'), json: <T>() => JSON.parse(stdout) as T };
}

describe('lantern-agent command line', () => {
  let ca: TestCa;
  let caUrl = '';
  let tenantId = '';

  beforeAll(async () => {
    ca = await startTestCa({ now: Date.now() });
    caUrl = await ca.app.listen({ port: 0, host: '127.0.0.1' });
    tenantId = await createTenant(ca, 'Lakeside');
  });
  afterAll(async () => {
    await ca.close();
  });

  it('enrolls with --json, then status --json shows the binding', async () => {
    const dataDir = tempDir();
    const token = await createEnrollmentToken(ca, tenantId);
    const enrolled = await cli([
      'enroll',
      '--ca',
      caUrl,
      '--token',
      token,
      '--data-dir',
      dataDir,
      '--root-fingerprint',
      ca.rootFingerprint,
      '--json',
    ]);
    expect(enrolled.code, enrolled.stdout + enrolled.stderr).toBe(0);
    const outcome = enrolled.json<{ deviceId: string; rootTrust: string }>();
    expect(outcome).toMatchObject({ tenantId, rootTrust: 'pinned', caUrl });

    const status = await cli(['status', '--data-dir', dataDir, '--json']);
    expect(status.code).toBe(0);
    const shown = status.json<{ certificate: { notAfter: string; daysLeft: number } }>();
    expect(shown).toMatchObject({
      dataDir,
      enrolled: true,
      deviceId: outcome.deviceId,
      tenantId,
      tenantName: 'Lakeside',
      deviceName: null,
      caUrl,
      rootFingerprint: ca.rootFingerprint,
      revocationCursor: 0,
      outboxDepth: 0,
      lastSyncAt: null,
      trustedTime: { source: 'none', mark: null },
      keyAssurance: 'software',
      keyStore: { kind: 'file' },
    });
    expect(shown.certificate.daysLeft).toBeGreaterThan(0);
    expect(Date.parse(shown.certificate.notAfter)).toBeGreaterThan(Date.now());

    const human = await cli(['status', '--data-dir', dataDir]);
    expect(human.stdout).toContain(outcome.deviceId);
    expect(human.stdout).toContain('days left');
    expect(human.stdout).toMatch(/^school +Lakeside$/m);
  });

  it('enrolls into a TPM with --key-store tpm --tpm-tcti, and status shows the hardware tier', async () => {
    const tpm = await startSwtpm({ ekCertificate: { manufacturerDir: tempDir() } });
    try {
      // The hardware tier is the CA's finding: it trusts this TPM's (throwaway) manufacturer.
      ca.ctx.tpmManufacturers = [tpm.manufacturerPem ?? ''];
      ca.clock.advance(Math.max(0, Date.now() - ca.clock.now()) + 60_000);
      const dataDir = tempDir();
      const token = await createEnrollmentToken(ca, tenantId);
      const enrolled = await cli([
        ...['enroll', '--ca', caUrl, '--token', token, '--data-dir', dataDir],
        ...['--key-store', 'tpm', '--tpm-tcti', tpm.tcti, '--json'],
      ]);
      expect(enrolled.code, enrolled.stdout + enrolled.stderr).toBe(0);
      expect(enrolled.json()).toMatchObject({ keyAssurance: 'hardware' });
      const status = await cli(['status', '--data-dir', dataDir, '--json']);
      expect(status.json()).toMatchObject({
        keyAssurance: 'hardware',
        keyStore: { kind: 'tpm', tcti: tpm.tcti },
      });
      const human = await cli(['status', '--data-dir', dataDir]);
      expect(human.stdout).toContain('TPM');
      expect(human.stdout).toContain('TPM attested');
    } finally {
      await tpm.stop();
    }
  });

  it('says plainly when the root is trusted on first use, and prints its fingerprint', async () => {
    const dataDir = tempDir();
    const token = await createEnrollmentToken(ca, tenantId);
    const run = await cli(['enroll', '--ca', caUrl, '--token', token, '--data-dir', dataDir]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('TRUST ON FIRST USE');
    expect(run.stdout).toContain(ca.rootFingerprint);
  });

  it('takes the data dir from LANTERN_AGENT_DATA_DIR when --data-dir is absent', async () => {
    const dataDir = join(tempDir(), 'from-env');
    const token = await createEnrollmentToken(ca, tenantId);
    const env = { LANTERN_AGENT_DATA_DIR: dataDir };
    const run = await cli(['enroll', '--ca', caUrl, '--token', token, '--json'], env);
    expect(run.code, run.stdout).toBe(0);
    expect(run.json()).toMatchObject({ dataDir });
    expect((await cli(['status', '--json'], env)).json()).toMatchObject({ enrolled: true });
  });

  it('exits 1 with the reason code on refusals', async () => {
    const dataDir = tempDir();
    const token = await createEnrollmentToken(ca, tenantId);
    const args = ['enroll', '--ca', caUrl, '--token', token, '--data-dir', dataDir, '--json'];
    const wrongRoot = await cli([...args, '--root-fingerprint', 'cd'.repeat(32)]);
    expect(wrongRoot.code).toBe(1);
    expect(wrongRoot.json()).toMatchObject({ code: 'root_fingerprint_mismatch' });

    expect((await cli(args)).code).toBe(0);
    const again = await cli(args);
    expect(again.code).toBe(1);
    expect(again.json()).toMatchObject({ code: 'already_enrolled' });

    const used = await cli([...args.slice(0, -3), '--data-dir', tempDir(), '--json']);
    expect(used.code).toBe(1);
    expect(used.json()).toMatchObject({ code: 'enrollment_token_used' });

    const port = await freePort();
    const unreachable = await cli([
      'enroll',
      '--ca',
      `http://127.0.0.1:${port}`,
      '--token',
      'tok',
      '--data-dir',
      tempDir(),
    ]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain('(ca_unreachable)');
  });

  it('reports an empty data directory as not enrolled without creating it', async () => {
    const dataDir = join(tempDir(), 'nothing-here');
    const status = await cli(['status', '--data-dir', dataDir, '--json']);
    expect(status.code).toBe(0);
    expect(status.json()).toEqual({ dataDir, enrolled: false });
    expect(existsSync(dataDir)).toBe(false);
    expect((await cli(['status', '--data-dir', dataDir])).stdout).toContain('not enrolled');
  });

  it('exits 2 on usage errors, and 0 with --help', async () => {
    const dataDir = tempDir();
    expect((await cli(['enroll', '--token', 't', '--data-dir', dataDir])).code).toBe(2);
    expect((await cli(['enroll', '--ca', caUrl, '--data-dir', dataDir])).code).toBe(2);
    const badUrl = await cli(['enroll', '--ca', 'ftp://ca', '--token', 't', '--data-dir', dataDir]);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain('--ca');
    const badPin = await cli([
      ...['enroll', '--ca', caUrl, '--token', 't', '--data-dir', dataDir],
      ...['--root-fingerprint', 'abc'],
    ]);
    expect(badPin.code).toBe(2);
    const enrollWith = (...extra: string[]) =>
      cli(['enroll', '--ca', caUrl, '--token', 't', '--data-dir', dataDir, ...extra]);
    expect((await enrollWith('--key-store', 'hsm')).code).toBe(2);
    const noTcti = await enrollWith('--key-store', 'tpm');
    expect(noTcti.code).toBe(2);
    expect(noTcti.stderr).toContain('--tpm-tcti');
    expect((await cli(['serve', '--port', 'x', '--data-dir', dataDir])).code).toBe(2);
    expect((await cli(['frobnicate'])).code).toBe(2);
    expect(existsSync(join(dataDir, 'agent.db'))).toBe(false);

    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['enroll', 'status', 'serve']) expect(help.stdout).toContain(command);
    expect((await cli(['enroll', '--help'])).stdout).toContain('--root-fingerprint');
    expect((await cli(['enroll', '--help'])).stdout).toContain('--key-store file|tpm');
  });

  it('refuses to serve on a non-loopback host', async () => {
    const dataDir = tempDir();
    const run = await cli([
      'serve',
      '--host',
      '0.0.0.0',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--json',
    ]);
    expect(run.code).toBe(1);
    expect(run.json()).toMatchObject({ code: 'loopback_only' });
    expect(existsSync(join(dataDir, 'agent.db'))).toBe(false);
  });
});
