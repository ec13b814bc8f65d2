import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeEnrollmentUri, systemClock } from '@lantern/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCa } from '../ca-service/src/data-dir/open-ca.js';
import { createEnrollmentToken } from '../ca-service/src/enrollment/enrollment-tokens.js';
import { AGENT_CLI, CA_CLI, freePort, runNode } from './support/processes.js';

/**
 * Issue 24, as a newcomer runs it with real processes: `init` without `--url` (so the CA calls
 * itself http://127.0.0.1:8080), `serve` on another port, one agent enrolled through 127.0.0.1
 * and one through localhost, both signing in online, and admin commands that find the service
 * without `--url`. Then an export of more than one page of events.
 */
describe('one CA under several names, found without --url', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-newcomer-'));
  const caDir = join(dir, 'ca');
  let port = 0;
  let rootFingerprint = '';
  let tenantId = '';
  let serveProcess: ChildProcess | undefined;
  let serveStdout = '';
  let serveStderr = '';

  const ca = (...args: string[]) => runNode(CA_CLI, [...args, '--data-dir', caDir, '--json']);
  const agent = (args: string[], input?: string) =>
    runNode(AGENT_CLI, [...args, '--json'], input === undefined ? {} : { input });
  const newToken = (): string => {
    const created = ca('enroll-token', 'create', '--tenant', tenantId);
    expect(created.status, created.stdout + created.stderr).toBe(0);
    return created.json<{ token: string }>().token;
  };

  beforeAll(async () => {
    const init = runNode(CA_CLI, ['init', '--data-dir', caDir, '--dev-root-in-data-dir', '--json']);
    expect(init.status, init.stderr).toBe(0);
    rootFingerprint = init.json<{ rootFingerprint: string }>().rootFingerprint;
    port = await freePort();
    const child = spawn(
      process.execPath,
      [CA_CLI, 'serve', '--data-dir', caDir, '--port', String(port)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    serveProcess = child;
    child.stdout.on('data', (chunk: Buffer) => (serveStdout += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        serveStderr += chunk.toString();
        if (/public URL/.test(serveStderr)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${serveStderr}`)));
    });
  });

  afterAll(() => {
    serveProcess?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('serve says what it calls itself and warns that the public URL is not where it listens', () => {
    expect(serveStderr).toContain(`lantern-ca listening on http://127.0.0.1:${port}`);
    expect(serveStderr).toContain('issuer (the name the CA calls itself): http://127.0.0.1:8080');
    expect(serveStderr).toContain(
      `warning: the public URL http://127.0.0.1:8080 is not where this process listens (http://127.0.0.1:${port})`,
    );
  });

  it('a second serve on the same SQLite data dir exits non-zero with a clear message', async () => {
    const second = runNode(CA_CLI, [
      'serve',
      '--data-dir',
      caDir,
      '--port',
      String(await freePort()),
    ]);
    expect(second.status).toBe(1);
    expect(second.stderr).toContain(`another lantern-ca serve is already running on ${caDir}`);
    expect(second.stdout).toBe('');
  });

  it('enrolls through 127.0.0.1 and through localhost; both sign in online; admin needs no --url', () => {
    const tenant = ca('tenant', 'create', 'Hillside Primary');
    expect(tenant.status, tenant.stdout + tenant.stderr).toBe(0);
    tenantId = tenant.json<{ id: string }>().id;
    const created = runNode(
      CA_CLI,
      [
        ...['user', 'create', '--tenant', tenantId, '--username', 'bo', '--role', 'learner'],
        ...['--data-dir', caDir],
      ],
      { input: 'correct horse battery' },
    );
    expect(created.status, created.stderr).toBe(0);

    const viaIp = join(dir, 'agent-ip');
    const enrolledIp = agent([
      ...['enroll', '--ca', `http://127.0.0.1:${port}`, '--token', newToken()],
      ...['--root-fingerprint', rootFingerprint, '--data-dir', viaIp],
    ]);
    expect(enrolledIp.status, enrolledIp.stdout + enrolledIp.stderr).toBe(0);
    expect(enrolledIp.json()).toMatchObject({
      caUrl: `http://127.0.0.1:${port}`,
      issuer: 'http://127.0.0.1:8080',
      rootTrust: 'pinned',
    });

    // The other name, handed over as the enrollment URI a QR code carries.
    const viaName = join(dir, 'agent-localhost');
    const uri = encodeEnrollmentUri({
      caUrl: `http://localhost:${port}`,
      token: newToken(),
      rootFingerprint,
    });
    const enrolledName = agent(['enroll', '--uri', uri, '--data-dir', viaName]);
    expect(enrolledName.status, enrolledName.stdout + enrolledName.stderr).toBe(0);
    expect(enrolledName.json()).toMatchObject({ caUrl: `http://localhost:${port}` });

    for (const dataDir of [viaIp, viaName]) {
      const signin = agent(
        ['signin', '--user', 'bo', '--data-dir', dataDir],
        'correct horse battery',
      );
      expect(signin.status, signin.stdout + signin.stderr).toBe(0);
      expect(signin.json()).toMatchObject({ mode: 'online' });
    }

    const devices = ca('device', 'list');
    expect(devices.status, devices.stderr).toBe(0);
    expect(devices.json<{ devices: unknown[] }>().devices).toHaveLength(2);
  });

  it('events --all --tenant T --json exports every event as NDJSON, paging for the user', async () => {
    const bulk = 5000;
    const opened = await openCa({
      dataDir: caDir,
      clock: systemClock,
      passphrase: readFileSync(join(caDir, 'secrets', 'passphrase'), 'utf8').trim(),
    });
    try {
      // Real commands, one transaction: the serve process keeps running beside it (WAL).
      await opened.context.store.transaction(async () => {
        for (let i = 0; i < bulk; i += 1) {
          await createEnrollmentToken(
            opened.context,
            { tenant: tenantId, ttlSeconds: 3600 },
            { actor: { type: 'system', id: 'bulk-test' }, correlationId: `evt_bulk${i}` },
          );
        }
      });
    } finally {
      await opened.close();
    }
    const started = Date.now();
    const exported = runNode(CA_CLI, [
      ...['events', '--all', '--tenant', tenantId, '--data-dir', caDir, '--json'],
    ]);
    // More than one page, and stdout holds nothing but the events.
    const seconds = (Date.now() - started) / 1000;
    expect(exported.status, exported.stderr).toBe(0);
    const lines = exported.stdout.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(bulk);
    const events = lines.map((line) => JSON.parse(line) as { position: number; tenantId: string });
    expect(events.every((event) => event.tenantId === tenantId)).toBe(true);
    expect(
      events.every((event, i) => i === 0 || event.position > (events[i - 1]?.position ?? 0)),
    ).toBe(true);
    expect(exported.stderr).toContain(`exported ${events.length} events`);
    console.log(`events --all exported ${events.length} events in ${seconds.toFixed(1)} s`);

    const page = ca('events', '--tenant', tenantId, '--limit', '5000');
    expect(page.status).toBe(2);
    expect(page.stderr).toContain('add --all to page through every event');
  });

  it('stops with human lines on stderr only: stdout is JSON log lines, the runtime file is gone', async () => {
    // `close`, not `exit`: only then has everything the process wrote to its pipes been read.
    const exited = new Promise<number | null>((resolve) => serveProcess?.once('close', resolve));
    serveProcess?.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(serveStderr).toContain('lantern-ca stopped');
    const lines = serveStdout.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(existsSync(join(caDir, 'serve.json'))).toBe(false);

    const offline = ca('device', 'list');
    expect(offline.status, offline.stderr).toBe(0);
    expect(offline.json<{ devices: unknown[] }>().devices).toHaveLength(2);
  });
});
