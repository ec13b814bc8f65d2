import { copyFileSync, cpSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import Database from 'better-sqlite3';
import { keyAssuranceOf, parseCertificate } from '@lantern/shared';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Swtpm } from '../../test/support/swtpm.js';
import { startSwtpm } from '../../test/support/swtpm.js';
import { readAgentStatus } from '../src/data-dir/agent-status.js';
import { openAgent } from '../src/data-dir/open-agent.js';
import { StateRollbackError } from '../src/errors.js';
import { signInOffline } from '../src/signin/offline-signin.js';
import { signInOnline } from '../src/signin/online-signin.js';
import { derivePasswordKey } from '../src/signin/password-verifier.js';
import { sealedColumn } from '../src/signin/sealed-columns.js';
import type { SigninWorld, TestDevice } from './signin-harness.js';
import { TEST_OPTIONS, startSigninWorld } from './signin-harness.js';
import { useTempDirs } from './support/temp-dir.js';

/** A learner PIN: allowed offline on the hardware tier only. */
const PIN = '4821';
const tempDir = useTempDirs();
let tpm: Swtpm;
let world: SigninWorld;

beforeAll(async () => {
  tpm = await startSwtpm();
});
afterAll(async () => {
  await tpm.stop();
});
beforeEach(async () => {
  world = await startSigninWorld(tempDir);
});
afterEach(async () => {
  await world.close();
});

const offline = (device: TestDevice, pin: string, options = TEST_OPTIONS) =>
  signInOffline(device.agent, { username: 'amina', password: pin }, options);

/** Enrolled with the TPM store, with amina's grant and PIN gate from one online sign-in. */
async function tpmDevice(): Promise<TestDevice> {
  await world.user('amina', PIN);
  const device = await world.device({ tpmTcti: tpm.tcti });
  const online = await signInOnline(
    device.agent,
    { username: 'amina', password: PIN },
    TEST_OPTIONS,
  );
  expect(online).toMatchObject({ kind: 'answered', verdict: { ok: true, mode: 'online' } });
  return device;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

describe('TPM key store (swtpm)', () => {
  it('enrolls at the hardware tier with no key in the data directory', async () => {
    const device = await tpmDevice();
    const files = filesUnder(device.dataDir).sort();
    expect(files).not.toContain('keys/device-key');
    expect(files).not.toContain('keys/data-key');
    expect(files.filter((file) => file.startsWith('keys/'))).toEqual([
      'keys/key-store.json',
      'keys/tpm/data-key.priv',
      'keys/tpm/data-key.pub',
      'keys/tpm/device.priv',
      'keys/tpm/device.pub',
    ]);
    expect(device.opened.deviceKey.assurance).toBe('hardware');
    const certificate = parseCertificate(device.opened.binding.certificatePem);
    expect(keyAssuranceOf(certificate.extensions)).toBe('hardware');
    expect(readAgentStatus(device.opened.store)).toMatchObject({ keyAssurance: 'hardware' });
    const record = world.ca.ctx.store.db
      .prepare('SELECT assurance FROM devices WHERE device_id = ?')
      .get(device.opened.binding.deviceId) as { assurance: string };
    expect(record.assurance).toBe('hardware');

    expect(await offline(device, PIN)).toMatchObject({ ok: true, mode: 'offline' });
    expect(await offline(device, '1357')).toMatchObject({ ok: false, code: 'bad_credentials' });
  });
});
