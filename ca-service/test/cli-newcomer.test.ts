import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnrollmentUri, runCli, systemClock } from '@lantern/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands } from '../src/cli/commands.js';
import { eventCommands } from '../src/cli/event-commands.js';
import { initDataDir } from '../src/data-dir/init-data-dir.js';
import { dataDirPaths } from '../src/data-dir/paths.js';
import type { RunningCa } from '../src/serve.js';
import { serve } from '../src/serve.js';

/** Issue 25: what a new school admin types wrong, and what `lantern-ca` answers. */
const root = mkdtempSync(join(tmpdir(), 'lantern-cli-newcomer-'));
const dataDir = join(root, 'ca');
let passphrase = '';
let rootFingerprint = '';

async function run(argv: string[], stdin = '') {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await runCli('lantern-ca', [...commands, ...eventCommands], argv, {
    stdout: (text) => stdout.push(text),
    stderr: (text) => stderr.push(text),
    readStdin: async () => stdin,
    // Not the test runner's: LANTERN_API_KEY or a passphrase there would change the answers.
    env: {},
  });
  return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
}

beforeAll(async () => {
  const init = await initDataDir({
    dataDir,
    clock: systemClock,
    publicUrl: 'http://127.0.0.1:8080',
    root: 'dev-in-data-dir',
  });
  rootFingerprint = init.rootFingerprint;
  passphrase = readFileSync(dataDirPaths(dataDir).passphraseFile, 'utf8').trim();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('mistakes are named in the user’s words, with what is allowed', () => {
  it('a mistyped command suggests the nearest one and exits 2', async () => {
    const typo = await run(['tenant', 'craete', 'Hillside', '--data-dir', dataDir]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("unknown command 'craete'; did you mean 'create'?");
    expect(typo.stderr).not.toContain('commands:');
    expect((await run(['tennant', 'list'])).stderr).toContain("did you mean 'tenant'?");
    expect((await run(['tenant'])).stderr).toContain(
      "'tenant' needs a command: create, list, password-policy, sso",
    );
    expect((await run(['zzzzzz'])).stderr).toMatch(/unknown command 'zzzzzz'; commands are: /);
  });

  it('init on an initialised data dir refuses clearly, never internal_error', async () => {
    const again = await run(['init', '--data-dir', dataDir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already holds a CA');
    expect(again.stderr).toContain('(ca_already_initialized)');
  });

  it('a missing or uninitialised data dir says so, not passphrase_missing', async () => {
    const missing = join(root, 'nope');
    for (const argv of [
      ['serve', '--data-dir', missing],
      ['device', 'list', '--data-dir', missing],
      ['projections', 'rebuild', '--data-dir', missing],
    ]) {
      const answer = await run(argv);
      expect(answer.code, argv.join(' ')).toBe(1);
      expect(answer.stderr).toContain(`the data dir ${missing} does not exist`);
      expect(answer.stderr).not.toContain('passphrase');
    }
    const empty = join(root, 'empty');
    mkdirSync(empty);
    expect((await run(['serve', '--data-dir', empty])).stderr).toContain(
      'is not an initialised lantern-ca data dir',
    );
  });

  it('a stream replica count out of range, or without NATS, is a usage error', async () => {
    const outOfRange = await run([
      'serve',
      '--data-dir',
      dataDir,
      '--nats',
      'nats://127.0.0.1:1',
      '--nats-replicas',
      '7',
    ]);
    expect(outOfRange.code).toBe(2);
    expect(outOfRange.stderr).toContain('--nats-replicas must be 1-5');
    const alone = await run(['serve', '--data-dir', dataDir, '--nats-replicas', '3']);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('--nats-replicas needs --nats');
  });

  it('a trusted proxy must be an address or CIDR block, never a wildcard or hop count', async () => {
    for (const bad of [
      'true',
      '2',
      '10.0.0.0/33',
      'lb.school.example',
      '::1/129',
      '10.0.0.1/8/1',
      // Every client, spelled other ways: the wildcards, wide blocks and IPv4 written as IPv6.
      ...['0.0.0.0/0', '::/0', '0.0.0.0/1,128.0.0.0/1', '::ffff:0.0.0.0/96', '0.0.0.0', '::'],
      '10.0.0.5,2001:db8::/16',
    ]) {
      const answer = await run(['serve', '--data-dir', dataDir, '--trust-proxy', bad]);
      expect(answer.code, bad).toBe(2);
      expect(answer.stderr).toContain(`--trust-proxy takes IP addresses or CIDR blocks`);
    }
  });

  it('a bad id, reason or ttl is a usage error (exit 2) that says what is allowed', async () => {
    const badId = await run(['device', 'revoke', 'abc', '--reason', 'lost', '--data-dir', dataDir]);
    expect(badId.code).toBe(2);
    expect(badId.stderr).toContain('"abc" is not a device ID: those are dev_ followed by 26');
    expect(badId.stderr).not.toContain('[0-9A-H');

    const id = 'dev_01ARZ3NDEKTSV4RRFFQ69G5FAV';
    const badReason = await run([
      'device',
      'revoke',
      id,
      '--reason',
      'broken',
      '--data-dir',
      dataDir,
    ]);
    expect(badReason.code).toBe(2);
    expect(badReason.stderr).toContain(
      '--reason "broken" is not allowed: use one of lost, stolen, compromised, decommissioned, admin',
    );
    const noReason = await run(['device', 'revoke', id, '--data-dir', dataDir]);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('--reason is required: one of lost, stolen');

    const ttl = await run([
      'enroll-token',
      'create',
      '--tenant',
      'x',
      '--ttl',
      '400d',
      '--data-dir',
      dataDir,
    ]);
    expect(ttl.code).toBe(2);
    expect(ttl.stderr).toContain('--ttl 400d is too long: at most 7 days');
    expect(ttl.stderr).not.toContain('604800');
  });

  it('--type takes the short form when it is unique, and lists every type otherwise', async () => {
    const ambiguous = await run(['events', '--type', 'revoked', '--data-dir', dataDir]);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain('could be identity.api_key.revoked or');
    expect(ambiguous.stderr).toContain('\n  identity.device.revoked');
    const unknown = await run(['events', '--type', 'device.exploded', '--data-dir', dataDir]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('"device.exploded" is no event type; the types are:');
  });
});

describe('with the service down, reads work from the data dir and changes say they need it', () => {
  it('device list reads the data dir; tenant create needs the service', async () => {
    const created = await run(['tenant', 'create', 'Hillside', '--data-dir', dataDir]);
    expect(created.code).toBe(1);
    expect(created.stderr).toContain(`no lantern-ca serve is running on ${dataDir}`);
    expect(created.stderr).toContain('(ca_not_running)');

    const devices = await run(['device', 'list', '--data-dir', dataDir, '--json']);
    expect(devices.code, devices.stderr).toBe(0);
    expect(JSON.parse(devices.stdout)).toEqual({ devices: [] });
  });
});

describe('serve: one per SQLite data dir, found by the admin CLI without --url', () => {
  let running: RunningCa;
  let tenantId = '';
  beforeAll(async () => {
    running = await serve({ dataDir, passphrase, port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await running.close();
  });

  it('refuses a second serve on the same data dir, and says where the first one is', async () => {
    await expect(serve({ dataDir, passphrase, port: 0, host: '127.0.0.1' })).rejects.toMatchObject({
      code: 'ca_already_running',
    });
    const runtime = JSON.parse(readFileSync(dataDirPaths(dataDir).runtime, 'utf8')) as {
      url: string;
      issuer: string;
    };
    expect(runtime).toMatchObject({ url: running.url, issuer: 'http://127.0.0.1:8080' });
    expect(running.publicUrlWarning).toContain(
      `the public URL http://127.0.0.1:8080 is not where this process listens (${running.url})`,
    );
  });

  it('admin commands reach it on its own port; --type short form finds the full type', async () => {
    const tenant = await run(['tenant', 'create', 'Hillside', '--data-dir', dataDir, '--json']);
    expect(tenant.code, tenant.stderr).toBe(0);
    tenantId = (JSON.parse(tenant.stdout) as { id: string }).id;
    const events = await run([
      ...['events', '--type', 'tenant.created', '--tenant', tenantId],
      ...['--data-dir', dataDir, '--json'],
    ]);
    expect(events.code, events.stderr).toBe(0);
    expect(
      (JSON.parse(events.stdout) as { events: { eventType: string }[] }).events.map(
        (event) => event.eventType,
      ),
    ).toEqual(['identity.tenant.created']);
  });

  it("user update changes a user's role and email through PATCH, and says what is missing", async () => {
    const created = await run(
      [
        ...['user', 'create', '--tenant', tenantId, '--username', 'amina', '--role', 'admin'],
        ...['--data-dir', dataDir, '--json'],
      ],
      'correct horse battery',
    );
    expect(created.code, created.stderr).toBe(0);
    const { id } = JSON.parse(created.stdout) as { id: string };
    const nothing = await run(['user', 'update', id, '--data-dir', dataDir]);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('say what changes');
    const updated = await run([
      ...['user', 'update', id, '--role', 'teacher', '--email', 'amina@hillside.example'],
      ...['--data-dir', dataDir],
    ]);
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout).toBe('Updated amina: teacher, amina@hillside.example');
  });

  it('invite revoke withdraws an invitation and says so; list shows it revoked', async () => {
    const created = await run([
      ...['invite', 'create', '--tenant', tenantId, '--email', 'kofi@hillside.example'],
      ...['--data-dir', dataDir, '--json'],
    ]);
    expect(created.code, created.stderr).toBe(0);
    const { id } = JSON.parse(created.stdout) as { id: string };
    const noId = await run([
      'invite',
      'revoke',
      'kofi',
      '--tenant',
      tenantId,
      '--data-dir',
      dataDir,
    ]);
    expect(noId.code).toBe(2);
    expect(noId.stderr).toContain('"kofi" is not an invitation ID: those are inv_ followed by 26');
    const revoked = await run([
      ...['invite', 'revoke', id, '--tenant', tenantId, '--reason', 'typo in the address'],
      ...['--data-dir', dataDir],
    ]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toBe(
      `Invitation ${id} for kofi@hillside.example is revoked; its token no longer works.`,
    );
    const listed = await run(['invite', 'list', '--tenant', tenantId, '--data-dir', dataDir]);
    expect(listed.stdout).toMatch(new RegExp(`${id}\\s+kofi@hillside.example.*revoked`));
  });

  it('enroll-token create prints the whole agent command, the URI and a QR code', async () => {
    const json = await run([
      'enroll-token',
      'create',
      '--tenant',
      tenantId,
      '--data-dir',
      dataDir,
      '--json',
    ]);
    expect(json.code, json.stderr).toBe(0);
    const created = JSON.parse(json.stdout) as {
      token: string;
      enrollmentUri: string;
      enrollCommand: string;
    };
    expect(created.enrollCommand).toBe(
      `lantern-agent enroll --ca http://127.0.0.1:8080 --token ${created.token} --root-fingerprint ${rootFingerprint}`,
    );
    expect(parseEnrollmentUri(created.enrollmentUri)).toEqual({
      ok: true,
      fields: { caUrl: 'http://127.0.0.1:8080', token: created.token, rootFingerprint },
    });
    expect(created.enrollmentUri).toBe(
      `lantern-enroll:?ca=http%3A%2F%2F127.0.0.1%3A8080&token=${encodeURIComponent(created.token)}&fp=${rootFingerprint}`,
    );
    const human = await run([
      'enroll-token',
      'create',
      '--tenant',
      tenantId,
      '--data-dir',
      dataDir,
    ]);
    expect(human.stdout).toContain(`--root-fingerprint ${rootFingerprint}`);
    expect(human.stdout).toContain('lantern-enroll:?ca=');
    expect(human.stdout).toMatch(/[▄▀█]{7}/);
  });

  it('the API names a bad id in words, not as a regex', async () => {
    const response = await running.app.inject({
      method: 'POST',
      url: '/v1/admin/devices/abc/revoke',
      headers: {
        authorization: `Bearer ${readFileSync(dataDirPaths(dataDir).adminApiKey, 'utf8').trim()}`,
      },
      payload: { reason: 'lost' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      code: 'invalid_request',
      message:
        'params/id is not a device id: those are dev_ followed by 26 letters and digits, as the lists show them',
    });
  });
});

describe('after serve stops', () => {
  it('the runtime file is gone and the lock is free for the next one', async () => {
    expect(existsSync(dataDirPaths(dataDir).runtime)).toBe(false);
    const next = await serve({ dataDir, passphrase, port: 0, host: '127.0.0.1' });
    expect(existsSync(dataDirPaths(dataDir).runtime)).toBe(true);
    await next.close();
    expect(existsSync(dataDirPaths(dataDir).runtime)).toBe(false);
  });
});
