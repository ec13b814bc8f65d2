import {
  copyFileSync,
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import Database from 'better-sqlite3';
import { SealedBoxError, keyAssuranceOf, parseCertificate, sealForDevice } from '@lantern/shared';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Swtpm } from '../../test/support/swtpm.js';
import { startSwtpm } from '../../test/support/swtpm.js';
import { agentPaths } from '../src/data-dir/agent-paths.js';
import { readAgentStatus } from '../src/data-dir/agent-status.js';
import {
  SEAL_KEY_LABEL,
  ensureStateSeal,
  platformSecretOf,
  readKeyStoreConfig,
} from '../src/keys/key-store.js';
import { DataKey } from '../src/keys/data-key.js';
import { TpmCounter, hex } from '../src/keys/tpm/tpm-counter.js';
import { Tpm2Tools } from '../src/keys/tpm/tpm2-tools.js';
import { SyncClient } from '../src/sync/sync-client.js';
import { openAgentStore } from '../src/store/agent-store.js';
import { StateSeal } from '../src/store/state-seal.js';
import type { MonotonicCounter } from '../src/store/state-seal.js';
import { TrustedTime } from '../src/time/trusted-time.js';
import { createLocalVerifier } from '../src/verify/local-verifier.js';
import { openAgent } from '../src/data-dir/open-agent.js';
import { DataKeyDestroyedError, StateRollbackError } from '../src/errors.js';
import { signInOffline } from '../src/signin/offline-signin.js';
import { signInOnline } from '../src/signin/online-signin.js';
import { derivePasswordKey } from '../src/signin/password-verifier.js';
import { sealedColumn } from '../src/keys/sealed-columns.js';
import type { SigninWorld, TestDevice } from './signin-harness.js';
import { TEST_OPTIONS, startSigninWorld } from './signin-harness.js';
import { useTempDirs } from './support/temp-dir.js';

/** A learner PIN: allowed offline on the hardware tier only. */
const PIN = '4821';
const tempDir = useTempDirs();
let tpm: Swtpm;
let world: SigninWorld;

beforeAll(async () => {
  // Made by a throwaway manufacturer the CA trusts: the hardware tier needs attestation.
  tpm = await startSwtpm({ ekCertificate: { manufacturerDir: tempDir() } });
});
afterAll(async () => {
  await tpm.stop();
});
beforeEach(async () => {
  world = await startSigninWorld(tempDir);
  trust(tpm);
});

/** The CA trusts the TPM's manufacturer; its clocks move past the certificates' notBefore. */
function trust(attested: Swtpm): void {
  world.advance(Math.max(0, Date.now() - world.ca.clock.now()) + 60_000);
  world.ca.ctx.tpmManufacturers = [attested.manufacturerPem ?? ''];
}
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

/** A copy of the device's agent.db as it stands (its WAL folded in first), as a restore would use. */
function copyOfStore(device: TestDevice, name: string): { database: string; backup: string } {
  const database = join(device.dataDir, 'agent.db');
  const backup = join(tempDir(), name);
  device.opened.store.db.pragma('wal_checkpoint(TRUNCATE)');
  copyFileSync(database, backup);
  return { database, backup };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

describe('TPM key store (swtpm)', () => {
  it('enrolls at the hardware tier with no key in the data directory; a copy of it is useless off the TPM', async () => {
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
    const record = (await world.ca.ctx.store.db
      .prepare('SELECT assurance FROM devices WHERE device_id = ?')
      .get(device.opened.binding.deviceId)) as { assurance: string };
    expect(record.assurance).toBe('hardware');

    // The CA's sealed boxes (offline TOTP secrets) open through the TPM's ECDH, and only there.
    const box = sealForDevice(device.opened.deviceKey.publicKey(), Buffer.from('seed'), 'ctx');
    expect(Buffer.from(device.opened.deviceKey.openSealedBox(box, 'ctx')).toString()).toBe('seed');
    expect(() => device.opened.deviceKey.openSealedBox(box, 'other')).toThrow(SealedBoxError);

    const signedIn = await offline(device, PIN);
    expect(signedIn).toMatchObject({ ok: true, mode: 'offline' });
    expect(await offline(device, '1357')).toMatchObject({ ok: false, code: 'bad_credentials' });

    const { dataDir } = device;
    device.opened.store.db.pragma('wal_checkpoint(TRUNCATE)');
    const copy = join(tempDir(), 'stolen');
    cpSync(dataDir, copy, { recursive: true });

    // The software tier's attack: read keys/data-key, open the verifier, run the KDF per guess.
    expect(existsSync(join(copy, 'keys', 'data-key'))).toBe(false);
    // Another machine's TPM (the attacker's own swtpm) cannot load the wrapped blobs.
    const other = await startSwtpm();
    try {
      const config = JSON.parse(readFileSync(join(copy, 'keys', 'key-store.json'), 'utf8')) as {
        tcti: string;
      };
      config.tcti = other.tcti;
      writeFileSync(join(copy, 'keys', 'key-store.json'), JSON.stringify(config));
      await expect(openAgent({ dataDir: copy, clock: world.agentClock })).rejects.toMatchObject({
        code: 'tpm_unavailable',
      });
    } finally {
      await other.stop();
    }

    // Even with the data key (a root attacker who dumped the running agent's memory), the row
    // holds a TPM object whose authValue is the KDF output: no guess, not even the right PIN,
    // has anything to be compared with off the TPM.
    const row = device.opened.store.db
      .prepare("SELECT sealed, params_json AS params FROM verifiers WHERE kind = 'password'")
      .get() as { sealed: Buffer; params: string };
    const userId = (
      device.opened.store.db.prepare('SELECT user_id AS id FROM verifiers').get() as { id: string }
    ).id;
    const stored = device.opened.dataKey.open(row.sealed, sealedColumn.passwordVerifier(userId));
    expect(JSON.parse(row.params)).toMatchObject({ gate: 'tpm' });
    for (const guess of ['0000', '1357', PIN]) {
      const derived = await derivePasswordKey(guess, row.params);
      expect(derived).not.toBeNull();
      expect(stored.includes(derived!.subarray(0, 16))).toBe(false);
      expect(stored.includes(Buffer.from(derived!.subarray(0, 16).toString('hex')))).toBe(false);
    }

    // The daemon's and the CLI's verifier write the trusted-time mark on a connection of their
    // own: sealed there too, the store still opens afterwards.
    const paths = agentPaths(device.dataDir);
    const store = openAgentStore(paths.database, { clock: world.agentClock });
    await ensureStateSeal(paths, store);
    world.advance(10 * 60_000);
    const token = signedIn.ok ? signedIn.token : '';
    expect(
      createLocalVerifier({ store, trustedTime: new TrustedTime(store) }).verify(token),
    ).toMatchObject({ ok: true });
    store.close();
    device.opened.close();
    (await openAgent({ dataDir: device.dataDir, clock: world.agentClock })).close();
  });

  it('a restored older agent.db, or rows edited behind the agent, are refused', async () => {
    const device = await tpmDevice();
    const { dataDir } = device;
    const { database, backup } = copyOfStore(device, 'agent.db.bak');
    // Two sign-ins move the trusted-time mark twice: the TPM counter moves with them.
    for (let i = 0; i < 2; i++) {
      world.advance(60_000);
      expect(await offline(device, PIN)).toMatchObject({ ok: true });
    }
    device.opened.close();
    const reopened = await openAgent({ dataDir, clock: world.agentClock });
    reopened.close();

    const edit = (sql: string) => {
      const db = new Database(database);
      db.exec(sql);
      db.close();
    };
    const refused = () =>
      expect(openAgent({ dataDir, clock: world.agentClock })).rejects.toBeInstanceOf(
        StateRollbackError,
      );
    // Behind the agent's back (no TPM, no seal): the mark set back, then the seal row dropped.
    edit('UPDATE trusted_time SET mark_ms = 0, anchor_wall_ms = 0 WHERE id = 1');
    await refused();
    edit('DELETE FROM state_seal');
    await refused();
    // A whole older copy, consistent in itself but sealed at an older TPM counter.
    copyFileSync(backup, database);
    await refused();
  });

  it('an offline sign-in moves the TPM counter once; a transaction rolled back after its seal leaves a store that opens', async () => {
    const device = await tpmDevice();
    const { dataDir } = device;
    const config = readKeyStoreConfig(agentPaths(dataDir));
    if (config.kind !== 'tpm') throw new Error('expected the TPM key store');
    const counter = new TpmCounter(new Tpm2Tools(config.tcti), config.nvIndex);
    let expected = counter.read();
    // A wrong PIN writes the trusted-time mark and the lockout; a right one the mark and the reset.
    for (const [pin, verdict] of [
      ['1357', { ok: false, code: 'bad_credentials' }],
      [PIN, { ok: true }],
    ] as const) {
      world.advance(60_000);
      expect(await offline(device, pin)).toMatchObject(verdict);
      expected += 1n;
      expect(counter.read()).toBe(expected);
    }

    // Both sealed rows written, then the transaction fails: the TPM moved once, the store did not.
    const { store } = device.opened;
    expect(() =>
      store.transaction(() => {
        store.db.prepare('UPDATE trusted_time SET mark_ms = mark_ms + 1 WHERE id = 1').run();
        store.db
          .prepare(
            "INSERT INTO lockout (user_id, failure_count, window_start, locked_until, updated_at) VALUES ('x', 1, 0, NULL, 0)",
          )
          .run();
        throw new Error('crash before the commit');
      }),
    ).toThrow('crash before the commit');
    expect(counter.read()).toBe(expected + 1n);
    device.opened.close();
    const reopened = await openAgent({ dataDir, clock: world.agentClock });
    reopened.close();
  });

  it('a store opened while another connection writes sealed rows is not taken for an edited or older copy', async () => {
    const device = await tpmDevice();
    const paths = agentPaths(device.dataDir);
    const config = readKeyStoreConfig(paths);
    if (config.kind !== 'tpm') throw new Error('expected the TPM key store');
    const tpmCounter = new TpmCounter(new Tpm2Tools(config.tcti), config.nvIndex);
    const dataKey = await DataKey.load(platformSecretOf(paths, config));
    // The agent's own connection, resealing on each write, plays the other process.
    const writer = device.opened.store;
    writer.db.pragma('busy_timeout = 0');
    let writesDuringCheck = 0;
    const racing: MonotonicCounter = {
      index: tpmCounter.index,
      read: () => {
        for (let i = 0; i < 2; i++) {
          try {
            writer.transaction(() =>
              writer.db.prepare('UPDATE trusted_time SET mark_ms = mark_ms + 1 WHERE id = 1').run(),
            );
            writesDuringCheck += 1;
          } catch (error) {
            expect((error as { code?: string }).code).toBe('SQLITE_BUSY');
          }
        }
        return tpmCounter.read();
      },
      increment: () => tpmCounter.increment(),
    };
    const reader = openAgentStore(paths.database, { clock: world.agentClock });
    try {
      new StateSeal(reader, racing, dataKey.deriveKey(SEAL_KEY_LABEL)).verify();
    } finally {
      reader.close();
    }
    expect(writesDuringCheck).toBe(0);
    // Once the check is over the writer goes on, and the store still opens.
    writer.transaction(() =>
      writer.db.prepare('UPDATE trusted_time SET mark_ms = mark_ms + 1 WHERE id = 1').run(),
    );
    device.opened.close();
    (await openAgent({ dataDir: device.dataDir, clock: world.agentClock })).close();
  });

  it('a copy from before a sync round that revoked a grant is refused, though a round is one transaction', async () => {
    const device = await tpmDevice();
    const { dataDir } = device;
    const { database, backup } = copyOfStore(device, 'agent.db.before-round');
    const { grantId } = device.opened.store.db
      .prepare('SELECT grant_id AS grantId FROM grants')
      .get() as { grantId: string };
    const revoked = await world.ca.admin('POST', `/v1/admin/grants/${grantId}/revoke`, {});
    expect(revoked.statusCode, revoked.body).toBe(200);
    world.advance(60_000);
    // One round, and nothing written after it: the copy is one round behind, no more.
    const round = await new SyncClient({ agent: device.opened, sleep: async () => {} }).round();
    expect(round).toMatchObject({ ok: true });
    expect(device.opened.store.db.prepare('SELECT count(*) AS n FROM grants').get()).toEqual({
      n: 0,
    });
    device.opened.close();

    copyFileSync(backup, database);
    rmSync(`${database}-wal`, { force: true });
    rmSync(`${database}-shm`, { force: true });
    await expect(openAgent({ dataDir, clock: world.agentClock })).rejects.toBeInstanceOf(
      StateRollbackError,
    );
  });

  it('the wipe shreds the data key in the TPM: blobs copied before it unseal nothing after', async () => {
    const device = await tpmDevice();
    const paths = agentPaths(device.dataDir);
    const config = readKeyStoreConfig(paths);
    if (config.kind !== 'tpm') throw new Error('not the TPM store');
    const tpmDir = join(paths.keysDir, 'tpm');
    const copy = join(tempDir(), 'blobs');
    cpSync(tpmDir, copy, { recursive: true });
    const unseal = () => DataKey.load(platformSecretOf(paths, config));
    // The control: before the wipe, these blobs unseal on this TPM.
    await expect(unseal()).resolves.toBeInstanceOf(DataKey);

    const revoked = await world.ca.admin(
      'POST',
      `/v1/admin/devices/${device.opened.binding.deviceId}/revoke`,
      { reason: 'stolen' },
    );
    expect(revoked.statusCode, revoked.body).toBe(200);
    const wiped = await new SyncClient({ agent: device.opened, sleep: async () => {} }).run();
    expect(wiped).toMatchObject({ device: { revoked: true, keysDestroyedAt: expect.any(Number) } });
    device.opened.close();

    // The copy put back, with no tombstone, as someone holding a backup of the disk would.
    rmSync(tpmDir, { recursive: true, force: true });
    cpSync(copy, tpmDir, { recursive: true });
    await expect(unseal()).rejects.toMatchObject({ code: 'tpm_unavailable' });
    await expect(
      openAgent({ dataDir: device.dataDir, clock: world.agentClock }),
    ).rejects.toMatchObject({ code: 'tpm_unavailable' });
    // The index defined again with the owner's (empty) password: same public area, same name,
    // but contents of the attacker's choosing; the blob's authValue was the old contents.
    const tools = new Tpm2Tools(tpm.tcti);
    const index = hex(config.shredIndex);
    tools.run('tpm2_nvdefine', [index, '-C', 'o', '-s', '16', '-a', 'ownerread|ownerwrite|no_da']);
    tools.run('tpm2_nvwrite', [index, '-C', 'o', '-i', '-'], { input: Buffer.alloc(16) });
    await expect(unseal()).rejects.toBeInstanceOf(DataKeyDestroyedError);
    tools.run('tpm2_nvundefine', [index, '-C', 'o']);
  });

  it("the TPM's lockout stops a guessing loop through the agent, whatever its own rows say", async () => {
    // A TPM of its own: this test leaves it locked out (swtpm: 3 tries, 1000 s recovery).
    const own = await startSwtpm({ ekCertificate: { manufacturerDir: tempDir() } });
    try {
      trust(own);
      await world.user('amina', PIN);
      const device = await world.device({ tpmTcti: own.tcti });
      const online = await signInOnline(
        device.agent,
        { username: 'amina', password: PIN },
        TEST_OPTIONS,
      );
      expect(online).toMatchObject({ verdict: { ok: true } });
      // The agent's own lockout set out of the way, and its rows wiped before every guess, as a
      // local attacker driving the agent would.
      const loose = { ...TEST_OPTIONS, lockout: { maxFailures: 1000 } };
      const verdicts: string[] = [];
      for (const guess of ['1111', '2222', '3333', '4444', PIN]) {
        device.opened.store.db.exec('DELETE FROM lockout');
        const verdict = await offline(device, guess, loose);
        verdicts.push(verdict.ok ? 'ok' : verdict.code);
      }
      expect(verdicts).toEqual([
        'bad_credentials',
        'bad_credentials',
        'bad_credentials',
        'locked',
        'locked',
      ]);
    } finally {
      await own.stop();
    }
  });
});

describe('the software tier', () => {
  it('never keeps a PIN as an offline credential, and a tenant can require the hardware tier', async () => {
    await world.user('amina', PIN);
    await world.user('noor', 'a long enough passphrase');
    const device = await world.device();
    expect(readAgentStatus(device.opened.store)).toMatchObject({ keyAssurance: 'software' });
    const online = await signInOnline(
      device.agent,
      { username: 'amina', password: PIN },
      TEST_OPTIONS,
    );
    expect(online).toMatchObject({ verdict: { ok: true, mode: 'online' } });
    expect(device.count('grants')).toBe(0);
    expect(device.count('verifiers')).toBe(0);
    expect(await offline(device, PIN)).toMatchObject({ ok: false, code: 'no_grant' });

    const policy = await world.ca.admin('PUT', `/v1/admin/tenants/${world.tenantId}/mfa-policy`, {
      roles: { learner: { required: [], offline: ['password'], offlineAssurance: 'hardware' } },
    });
    expect(policy.statusCode, policy.body).toBe(200);
    const strong = await signInOnline(
      device.agent,
      { username: 'noor', password: 'a long enough passphrase' },
      TEST_OPTIONS,
    );
    expect(strong).toMatchObject({ verdict: { ok: true, mode: 'online' } });
    expect(device.count('grants')).toBe(0);

    const hardware = await world.device({ tpmTcti: tpm.tcti, dataDir: join(tempDir(), 'tpm') });
    const granted = await signInOnline(
      hardware.agent,
      { username: 'noor', password: 'a long enough passphrase' },
      TEST_OPTIONS,
    );
    expect(granted).toMatchObject({ verdict: { ok: true, mode: 'online' } });
    expect(hardware.count('grants')).toBe(1);
  });
});
