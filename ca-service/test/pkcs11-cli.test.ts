import { runCli } from '@lantern/shared';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands } from '../src/cli/commands.js';
import { eventCommands } from '../src/cli/event-commands.js';
import { dataDirPaths } from '../src/data-dir/paths.js';
import { serve } from '../src/serve.js';
import { enrollTestDevice } from '../../test/support/device-keys.js';
import type { SoftHsm } from '../../test/support/softhsm.js';
import { startSoftHsm } from '../../test/support/softhsm.js';

let hsm: SoftHsm;
const root = mkdtempSync(join(tmpdir(), 'lantern-pkcs11-cli-'));
const dataDir = join(root, 'ca');
const PASSPHRASE = 'cli-test-passphrase-not-secret';
const ROOT_PASSPHRASE = 'cli-test-root-passphrase-not-secret';
/** The offline root, beside (never inside) the data dir. */
const rootDir = join(root, 'offline-root');

async function run(argv: string[], env: Record<string, string>) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await runCli('lantern-ca', [...commands, ...eventCommands], argv, {
    stdout: (text) => stdout.push(text),
    stderr: (text) => stderr.push(text),
    readStdin: async () => '',
    env: { LANTERN_CA_PASSPHRASE: PASSPHRASE, LANTERN_CA_ROOT_PASSPHRASE: ROOT_PASSPHRASE, ...env },
  });
  return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
}

const tokenFlags = () => [
  '--pkcs11-module',
  hsm.modulePath,
  '--pkcs11-token-label',
  hsm.tokenLabel,
];

beforeAll(() => {
  hsm = startSoftHsm();
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  hsm?.close();
});

describe('lantern-ca with CA keys on a PKCS#11 token', () => {
  it('init refuses a wrong PIN with its code, prints no PIN and no stack, and writes no CA', async () => {
    const wrong = await run(
      ['init', '--data-dir', dataDir, '--root-dir', rootDir, ...tokenFlags()],
      {
        LANTERN_PKCS11_PIN: '000000',
      },
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('(hsm_pin_incorrect)');
    expect(wrong.stderr).not.toContain('000000');
    expect(wrong.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(dataDirPaths(dataDir).pkcs11Settings)).toBe(false);
    expect(existsSync(rootDir)).toBe(false);
  });

  it('init without a PIN, or with half the token flags, is refused before anything is made', async () => {
    const noPin = await run(
      ['init', '--data-dir', dataDir, '--root-dir', rootDir, ...tokenFlags()],
      {},
    );
    expect(noPin.code).toBe(1);
    expect(noPin.stderr).toContain('(hsm_pin_missing)');
    const half = await run(
      ['init', '--data-dir', dataDir, '--root-dir', rootDir, '--pkcs11-module', hsm.modulePath],
      {
        LANTERN_PKCS11_PIN: hsm.pin,
      },
    );
    expect(half.code).toBe(2);
    expect(half.stderr).toContain('--pkcs11-token-label');
    expect(existsSync(dataDirPaths(dataDir).database)).toBe(false);
  });

  it('init puts the keys on the token; serve, enrollment and an audit checkpoint use them', async () => {
    const pinFile = join(root, 'pin');
    writeFileSync(pinFile, `${hsm.pin}\n`, { mode: 0o600 });
    const init = await run(
      [
        'init',
        '--data-dir',
        dataDir,
        '--root-dir',
        rootDir,
        ...tokenFlags(),
        '--pkcs11-pin-file',
        pinFile,
        '--json',
      ],
      {},
    );
    expect(init.code, init.stderr).toBe(0);
    expect(JSON.parse(init.stdout)).toMatchObject({ pkcs11TokenLabel: hsm.tokenLabel });
    expect(init.stdout).not.toContain(hsm.pin);
    expect(existsSync(dataDirPaths(dataDir).issuingKey)).toBe(false);

    // serve without the PIN refuses by code; with it, devices enroll against the held key.
    await expect(
      run(['serve', '--data-dir', dataDir, '--port', '0'], {}).then((r) => r.stderr),
    ).resolves.toContain('(hsm_pin_missing)');
    const running = await serve({
      dataDir,
      passphrase: PASSPHRASE,
      port: 0,
      host: '127.0.0.1',
      pkcs11: { pin: hsm.pin },
    });
    try {
      const adminKey = (JSON.parse(init.stdout) as { adminApiKey: string }).adminApiKey;
      const admin = (url: string, body: unknown) =>
        running.app.inject({
          method: 'POST',
          url,
          headers: { authorization: `Bearer ${adminKey}` },
          payload: body as Record<string, unknown>,
        });
      const tenant = (await admin('/v1/admin/tenants', { name: 'Hillside' })).json() as {
        tenantId: string;
      };
      const token = (
        await admin('/v1/admin/enrollment-tokens', { tenant: tenant.tenantId, ttlSeconds: 600 })
      ).json() as { token: string };
      const device = await enrollTestDevice(running.app, token.token);
      const chain = await (await fetch(`${running.url}/v1/ca/chain`)).text();
      const issuing = new X509Certificate(chain);
      expect(new X509Certificate(device.certificatePem).verify(issuing.publicKey)).toBe(true);
    } finally {
      await running.close();
    }

    const checkpoint = await run(['audit', 'checkpoint', '--data-dir', dataDir, '--json'], {
      LANTERN_PKCS11_PIN: hsm.pin,
    });
    expect(checkpoint.code, checkpoint.stderr).toBe(0);
    const verify = await run(['audit', 'verify', '--data-dir', dataDir], {});
    expect(verify.code, verify.stderr).toBe(0);
  });
});
