import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LanternError, manualClock, signJwt, systemClock } from '@lantern/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentPaths } from '../src/data-dir/agent-paths.js';
import { openAgent } from '../src/data-dir/open-agent.js';
import { checkEnrollmentResponse } from '../src/enrollment/check-enrollment-response.js';
import { readDeviceBinding } from '../src/enrollment/device-binding.js';
import type { EnrollOptions } from '../src/enrollment/enroll.js';
import { enroll } from '../src/enrollment/enroll.js';
import { p1363ToDer } from '../src/enrollment/p1363-to-der.js';
import { normalizeFingerprint } from '../src/enrollment/root-fingerprint.js';
import { DataKey } from '../src/keys/data-key.js';
import { FileDeviceKeyStore } from '../src/keys/file-device-key-store.js';
import { FilePlatformSecret } from '../src/keys/file-platform-secret.js';
import { openAgentStore } from '../src/store/agent-store.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createEnrollmentToken, createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import { testDeviceKey } from '../../test/support/device-keys.js';
import { freePort } from '../../test/support/processes.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();
const posix = process.platform !== 'win32';
const YEAR_MS = 365 * 86_400_000;

/** Resolves with the refusal an enrollment ends in; fails the test if it succeeds. */
async function refusalOf(promise: Promise<unknown>): Promise<LanternError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(LanternError);
    return error as LanternError;
  }
  throw new Error('expected the enrollment to be refused');
}

function keyFiles(dataDir: string): string[] {
  const keysDir = agentPaths(dataDir).keysDir;
  return existsSync(keysDir) ? readdirSync(keysDir) : [];
}

function bindingIn(dataDir: string) {
  const store = openAgentStore(agentPaths(dataDir).database, { clock: systemClock });
  try {
    return readDeviceBinding(store);
  } finally {
    store.close();
  }
}

describe('enrollment against a real CA over HTTP', () => {
  let ca: TestCa;
  let caUrl = '';
  let tenantId = '';
  const newToken = () => createEnrollmentToken(ca, tenantId);
  const options = async (dataDir: string): Promise<EnrollOptions> => ({
    dataDir,
    caUrl,
    token: await newToken(),
    rootFingerprint: ca.rootFingerprint,
    clock: systemClock,
  });

  beforeAll(async () => {
    ca = await startTestCa({ now: Date.now() });
    caUrl = await ca.app.listen({ port: 0, host: '127.0.0.1' });
    tenantId = await createTenant(ca, 'Hillside Primary');
  });
  afterAll(async () => {
    await ca.close();
  });

  it('stores the binding and keys, 0600, with a certificate for the device key', async () => {
    const dataDir = join(tempDir(), 'agent');
    const outcome = await enroll({ ...(await options(dataDir)), name: 'Tablet 7' });

    expect(outcome).toMatchObject({
      tenantId,
      caUrl,
      rootFingerprint: ca.rootFingerprint,
      rootTrust: 'pinned',
      keyAssurance: 'software',
      revocationCursor: 0,
    });
    expect(outcome.deviceId).toMatch(/^dev_/);

    const binding = bindingIn(dataDir);
    expect(binding).toMatchObject({
      deviceId: outcome.deviceId,
      tenantId,
      caUrl,
      rootFingerprint: ca.rootFingerprint,
      policy: { maxOfflineSeconds: expect.any(Number) },
      tenantName: 'Hillside Primary',
      deviceName: 'Tablet 7',
    });
    expect(binding?.chainPems).toHaveLength(1);
    expect(binding?.chainPems[0]).toBe(ca.ctx.ca.issuingPem);
    expect(binding?.rootPem).toBe(ca.ctx.ca.rootPem);

    const paths = agentPaths(dataDir);
    for (const file of [paths.deviceKey, paths.platformSecret, paths.localSecret, paths.database]) {
      expect(existsSync(file), file).toBe(true);
      if (posix) expect(statSync(file).mode & 0o777, file).toBe(0o600);
    }
    if (posix) expect(statSync(paths.dataDir).mode & 0o777).toBe(0o700);
    // The private key is sealed: the PKCS#8 structure never reaches the disk in clear.
    expect(readFileSync(paths.deviceKey).includes(Buffer.from('BEGIN'))).toBe(false);

    const agent = await openAgent({ dataDir, clock: systemClock });
    try {
      expect(agent.binding.deviceId).toBe(outcome.deviceId);
      expect(agent.deviceKey.thumbprint()).toBe(outcome.keyThumbprint);
    } finally {
      agent.close();
    }

    const device = await ca.admin('GET', `/v1/admin/devices/${outcome.deviceId}`);
    expect(device.statusCode).toBe(200);
    expect(device.json()).toMatchObject({ deviceId: outcome.deviceId, name: 'Tablet 7' });
  });

  it('accepts the fingerprint in upper case with colons, as openssl prints it', async () => {
    const dataDir = tempDir();
    const colons = (ca.rootFingerprint.toUpperCase().match(/../g) ?? []).join(':');
    const outcome = await enroll({ ...(await options(dataDir)), rootFingerprint: colons });
    expect(outcome.rootFingerprint).toBe(ca.rootFingerprint);
    // No name in the request or the token: the school is still named, the device is not.
    expect(bindingIn(dataDir)).toMatchObject({ tenantName: 'Hillside Primary', deviceName: null });
  });

  it('trusts on first use without a fingerprint, and says so', async () => {
    const dataDir = tempDir();
    const { rootFingerprint: _pin, ...unpinned } = await options(dataDir);
    const outcome = await enroll(unpinned);
    expect(outcome.rootTrust).toBe('first_use');
    expect(outcome.rootFingerprint).toBe(ca.rootFingerprint);
    expect(bindingIn(dataDir)?.rootFingerprint).toBe(ca.rootFingerprint);
  });

  it('refuses a wrong root fingerprint before the token is sent, then enrolls with the right one', async () => {
    const dataDir = tempDir();
    const enrollment = await options(dataDir);
    const wrong = 'ab'.repeat(32);
    const refused = await refusalOf(enroll({ ...enrollment, rootFingerprint: wrong }));
    expect(refused.code).toBe('root_fingerprint_mismatch');
    expect(refused.message).toContain(ca.rootFingerprint);
    expect(bindingIn(dataDir)).toBeNull();
    expect(keyFiles(dataDir)).toEqual([]);
    expect(existsSync(agentPaths(dataDir).localSecret)).toBe(false);

    // The same token still works: the wrong CA (here: the wrong pin) never received it.
    const outcome = await enroll(enrollment);
    expect(outcome.rootTrust).toBe('pinned');
    expect(bindingIn(dataDir)?.deviceId).toBe(outcome.deviceId);
  });

  it('passes on the CA refusal of a used token and removes the keys it had made', async () => {
    const first = await options(tempDir());
    await enroll(first);
    const dataDir = tempDir();
    const refused = await refusalOf(enroll({ ...first, dataDir }));
    expect(refused.code).toBe('enrollment_token_used');
    expect(refused.status).toBe(409);
    expect(bindingIn(dataDir)).toBeNull();
    expect(keyFiles(dataDir)).toEqual([]);

    const retried = await enroll({ ...(await options(dataDir)) });
    expect(bindingIn(dataDir)?.deviceId).toBe(retried.deviceId);
  });

  it('leaves the data directory as it was after a failed enrollment', async () => {
    const fresh = join(tempDir(), 'agent');
    const used = await options(tempDir());
    await enroll(used);
    const refused = await refusalOf(enroll({ ...used, dataDir: fresh }));
    expect(refused.code).toBe('enrollment_token_used');
    expect(existsSync(fresh)).toBe(false);

    const empty = tempDir();
    const port = await freePort();
    const unreachable = await refusalOf(
      enroll({ ...(await options(empty)), caUrl: `http://127.0.0.1:${port}` }),
    );
    expect(unreachable.code).toBe('ca_unreachable');
    expect(readdirSync(empty)).toEqual([]);
  });

  it('caches only the token keys the issuing CA signed, never an unsigned or forged set', async () => {
    const cachedKids = (dataDir: string) => {
      const db = new Database(agentPaths(dataDir).database, { readonly: true });
      try {
        const json = db.prepare('SELECT keys_json FROM jwks WHERE id = 1').pluck().get();
        return typeof json === 'string'
          ? (JSON.parse(json) as { keys: { kid: string }[] }).keys.map((key) => key.kid)
          : [];
      } finally {
        db.close();
      }
    };
    const honest = join(tempDir(), 'honest');
    await enroll(await options(honest));
    expect(cachedKids(honest)).toContain(ca.ctx.tokenKeys.activeKid);

    // A man in the middle puts its key in the answer's unsigned `jwks` and forges the signed
    // set (the real issuing CA's certificate in x5c, its own signature).
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const planted = { ...publicKey.export({ format: 'jwk' }), kid: 'attacker', alg: 'ES256' };
    const now = Math.floor(Date.now() / 1000);
    const forged = signJwt(
      { typ: 'jwks', iat: now, exp: now + 3600, etag: 'planted', keys: [planted] },
      {
        typ: 'lantern-jwks+jws',
        x5c: [ca.ctx.ca.issuingPem.replace(/-----[^-]+-----|\s/g, '')],
      } as Record<string, unknown>,
      privateKey,
    );
    const mitm = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        void (async () => {
          const path = request.url ?? '/';
          if (path === '/v1/ca/jwks.jws') {
            response.writeHead(200, { 'content-type': 'application/json' });
            response.end(JSON.stringify({ jwks: forged, jwksEtag: 'planted' }));
            return;
          }
          const upstream = await fetch(`${caUrl}${path}`, {
            method: request.method ?? 'GET',
            headers: { 'content-type': 'application/json' },
            ...(chunks.length === 0 ? {} : { body: Buffer.concat(chunks) }),
          });
          let text = await upstream.text();
          if (path === '/v1/devices/enroll' && upstream.status === 201) {
            text = JSON.stringify({ ...(JSON.parse(text) as object), jwks: { keys: [planted] } });
          }
          response.writeHead(upstream.status, {
            'content-type': upstream.headers.get('content-type') ?? 'application/json',
          });
          response.end(text);
        })();
      });
    });
    await new Promise<void>((resolve) => mitm.listen(0, '127.0.0.1', resolve));
    const address = mitm.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const attacked = join(tempDir(), 'attacked');
    try {
      await enroll({ ...(await options(attacked)), caUrl: `http://127.0.0.1:${port}` });
    } finally {
      await new Promise<void>((resolve) => mitm.close(() => resolve()));
    }
    expect(cachedKids(attacked)).toEqual([]);
  });

  it('reports an unreachable CA as ca_unreachable and stores nothing', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const refused = await refusalOf(
      enroll({ ...(await options(dataDir)), caUrl: `http://127.0.0.1:${port}` }),
    );
    expect(refused.code).toBe('ca_unreachable');
    expect(keyFiles(dataDir)).toEqual([]);

    const { rootFingerprint: _pin, ...unpinned } = await options(dataDir);
    const tofu = await refusalOf(enroll({ ...unpinned, caUrl: `http://127.0.0.1:${port}` }));
    expect(tofu.code).toBe('ca_unreachable');
    expect(keyFiles(dataDir)).toEqual([]);
    expect(bindingIn(dataDir)).toBeNull();
  });

  it('refuses to enroll twice and leaves the first binding and key alone', async () => {
    const dataDir = tempDir();
    const first = await enroll(await options(dataDir));
    const keyBefore = readFileSync(agentPaths(dataDir).deviceKey);
    const refused = await refusalOf(enroll(await options(dataDir)));
    expect(refused.code).toBe('already_enrolled');
    expect(refused.message).toContain(first.deviceId);
    expect(readFileSync(agentPaths(dataDir).deviceKey).equals(keyBefore)).toBe(true);
    expect(bindingIn(dataDir)?.deviceId).toBe(first.deviceId);
  });

  it('refuses a certificate that is not valid at trusted time, and removes the keys', async () => {
    const dataDir = tempDir();
    const farAhead = manualClock(Date.now() + 10 * YEAR_MS);
    const refused = await refusalOf(enroll({ ...(await options(dataDir)), clock: farAhead }));
    expect(refused.code).toBe('enrollment_failed');
    expect(refused.message).toMatch(/^chain_invalid: expired/);
    expect(keyFiles(dataDir)).toEqual([]);
    expect(bindingIn(dataDir)).toBeNull();
  });

  it('replaces keys left behind by an interrupted enrollment', async () => {
    const dataDir = tempDir();
    const paths = agentPaths(dataDir);
    mkdirSync(paths.keysDir, { recursive: true });
    const leftoverDataKey = await DataKey.loadOrCreate(
      new FilePlatformSecret(paths.platformSecret),
    );
    const leftover = await FileDeviceKeyStore.generate(paths.deviceKey, leftoverDataKey);

    const outcome = await enroll(await options(dataDir));
    expect(outcome.keyThumbprint).not.toBe(leftover.thumbprint());
    const agent = await openAgent({ dataDir, clock: systemClock });
    agent.close();
  });

  it('waits for, then refuses, an enrollment while another holds the data directory', async () => {
    const dataDir = tempDir();
    const paths = agentPaths(dataDir);
    openAgentStore(paths.database, { clock: systemClock }).close();
    const other = new Database(paths.database);
    other.exec('BEGIN IMMEDIATE');
    try {
      const refused = await refusalOf(enroll(await options(dataDir)));
      expect(refused.code).toBe('enrollment_in_progress');
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(keyFiles(dataDir)).toEqual([]);
  }, 20_000);

  it('says not_enrolled when opening a data directory that was never enrolled', async () => {
    const empty = tempDir();
    await expect(openAgent({ dataDir: empty, clock: systemClock })).rejects.toMatchObject({
      code: 'not_enrolled',
    });
    expect(existsSync(agentPaths(empty).database)).toBe(false);
    openAgentStore(agentPaths(empty).database, { clock: systemClock }).close();
    await expect(openAgent({ dataDir: empty, clock: systemClock })).rejects.toMatchObject({
      code: 'not_enrolled',
    });
  });
});

describe('checking the CA answer', () => {
  let ca: TestCa;
  let otherCa: TestCa;
  let tenantId = '';

  beforeAll(async () => {
    [ca, otherCa] = await Promise.all([startTestCa(), startTestCa()]);
    tenantId = await createTenant(ca, 'Riverside');
  });
  afterAll(async () => {
    await Promise.all([ca.close(), otherCa.close()]);
  });

  async function answerFor(key = testDeviceKey()): Promise<Record<string, unknown>> {
    const response = await ca.app.inject({
      method: 'POST',
      url: '/v1/devices/enroll',
      payload: { enrollmentToken: await createEnrollmentToken(ca, tenantId), csr: await key.csr() },
    });
    expect(response.statusCode, response.body).toBe(201);
    return response.json();
  }

  it('accepts an untouched answer and keeps the issuing CA as the chain', async () => {
    const key = testDeviceKey();
    const answer = await answerFor(key);
    const verdict = checkEnrollmentResponse(answer, {
      devicePublicKey: key.publicKey,
      pinnedRootFingerprint: ca.rootFingerprint,
      at: new Date(ca.clock.now()),
    });
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.enrollment.chainPems).toEqual([ca.ctx.ca.issuingPem]);
    expect(verdict.enrollment.deviceId).toBe(answer['deviceId']);
  });

  it('names what is wrong with a tampered or mismatched answer', async () => {
    const key = testDeviceKey();
    const answer = await answerFor(key);
    const foreign = await answerFor();
    const at = new Date(ca.clock.now());
    const check = (body: unknown, pin?: string) =>
      checkEnrollmentResponse(body, {
        devicePublicKey: key.publicKey,
        pinnedRootFingerprint: pin,
        at,
      });
    const reasonOf = (body: unknown, pin?: string) => {
      const verdict = check(body, pin);
      return verdict.ok ? 'ok' : verdict.reason;
    };

    expect(reasonOf(null)).toBe('malformed_response');
    expect(reasonOf({ ...answer, chain: 'not a list' })).toBe('malformed_response');
    expect(reasonOf({ ...answer, revocationCursor: -1 })).toBe('malformed_response');
    expect(reasonOf({ ...answer, tenantName: 7 })).toBe('malformed_response');
    expect(reasonOf({ ...answer, deviceName: 'x'.repeat(5000) })).toBe('malformed_response');
    expect(reasonOf({ ...answer, policy: { maxOfflineSeconds: 60 } })).toBe('malformed_response');
    expect(reasonOf({ ...answer, certificate: 'garbage' })).toBe('malformed_response');
    expect(reasonOf({ ...answer, rootFingerprint: 'ab'.repeat(32) })).toBe('malformed_response');
    expect(reasonOf(answer, otherCa.rootFingerprint)).toBe('root_fingerprint_mismatch');
    // Another CA's root, announced honestly: the pin is absent, the path is what fails.
    expect(
      reasonOf({
        ...answer,
        root: otherCa.ctx.ca.rootPem,
        rootFingerprint: otherCa.rootFingerprint,
      }),
    ).toBe('chain_invalid');
    expect(reasonOf({ ...answer, chain: [answer['certificate']] })).toBe('chain_invalid');
    expect(
      reasonOf({ ...answer, certificate: foreign['certificate'], chain: foreign['chain'] }),
    ).toBe('key_mismatch');
    expect(reasonOf({ ...answer, deviceId: foreign['deviceId'] })).toBe('identity_mismatch');
    expect(
      reasonOf({
        ...answer,
        policy: { ...(answer['policy'] as object), maxOfflineSeconds: 10 * YEAR_MS },
      }),
    ).toBe('policy_mismatch');
    expect(reasonOf(answer)).toBe('ok');

    const expired = checkEnrollmentResponse(answer, {
      devicePublicKey: key.publicKey,
      at: new Date(ca.clock.now() + 10 * YEAR_MS),
    });
    expect(expired).toMatchObject({ ok: false, reason: 'chain_invalid' });
  });
});

describe('root fingerprints', () => {
  it('normalizes case and colons and refuses anything else', () => {
    const hex = '0123456789abcdef'.repeat(4);
    expect(normalizeFingerprint(hex)).toBe(hex);
    expect(normalizeFingerprint(` ${hex.toUpperCase()} `)).toBe(hex);
    expect(normalizeFingerprint((hex.match(/../g) ?? []).join(':'))).toBe(hex);
    expect(normalizeFingerprint(hex.slice(1))).toBeNull();
    expect(normalizeFingerprint(`${hex}00`)).toBeNull();
    expect(normalizeFingerprint(hex.replace('a', 'g'))).toBeNull();
    expect(normalizeFingerprint('')).toBeNull();
  });
});

describe('P1363 to DER', () => {
  it('gives DER signatures that verify, whatever the leading bytes of r and s', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const shapes = new Set<string>();
    for (let i = 0; i < 300; i += 1) {
      const data = Buffer.from(`message ${i}`);
      const p1363 = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      const der = p1363ToDer(p1363);
      expect(verify('sha256', data, { key: publicKey, dsaEncoding: 'der' }, der)).toBe(true);
      shapes.add(`${(p1363[0] ?? 0) >= 0x80}/${(p1363[32] ?? 0) >= 0x80}/${der.length}`);
    }
    // Both high-bit cases (a 0x00 pad byte) and shorter values were exercised.
    expect(shapes.size).toBeGreaterThan(3);
    expect(p1363ToDer(Buffer.alloc(64, 0))).toEqual(
      Buffer.from([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]),
    );
    expect(() => p1363ToDer(Buffer.alloc(63))).toThrow(TypeError);
  });
});
