import type { KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { join } from 'node:path';
import { buildCsrPem, keyAssuranceOf, parseCertificate } from '@lantern/shared';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEnrollmentToken } from '../../test/support/ca-fixture.js';
import type { Swtpm } from '../../test/support/swtpm.js';
import { startSwtpm } from '../../test/support/swtpm.js';
import { enroll } from '../src/enrollment/enroll.js';
import { p1363ToDer } from '../src/enrollment/p1363-to-der.js';
import { TpmAttestation } from '../src/keys/tpm/tpm-attestation.js';
import { tpmBlobs } from '../src/keys/tpm/tpm-blobs.js';
import { TpmDeviceKeyStore } from '../src/keys/tpm/tpm-device-key-store.js';
import { Tpm2Tools } from '../src/keys/tpm/tpm2-tools.js';
import type { SigninWorld } from './signin-harness.js';
import { startSigninWorld } from './signin-harness.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();
/** Two TPMs certified by one throwaway manufacturer, and one TPM with no EK certificate. */
let tpmA: Swtpm;
let tpmB: Swtpm;
let bare: Swtpm;
let untrustedRoot: string;
let world: SigninWorld;

beforeAll(async () => {
  const manufacturerDir = join(tempDir(), 'manufacturer');
  tpmA = await startSwtpm({ ekCertificate: { manufacturerDir } });
  tpmB = await startSwtpm({ ekCertificate: { manufacturerDir } });
  bare = await startSwtpm();
  const dir = tempDir();
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
      ...['-subj', '/CN=Some other TPM vendor', '-days', '30'],
      ...['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'root.pem')],
    ],
    { stdio: 'ignore' },
  );
  untrustedRoot = execFileSync('cat', [join(dir, 'root.pem')], { encoding: 'utf8' });
});
afterAll(async () => {
  await Promise.all([tpmA?.stop(), tpmB?.stop(), bare?.stop()]);
});
beforeEach(async () => {
  world = await startSigninWorld(tempDir);
  // The frozen clocks start before the manufacturer certificates made just now were valid.
  world.advance(Math.max(0, Date.now() - world.ca.clock.now()) + 60_000);
  world.ca.ctx.tpmManufacturers = [tpmA.manufacturerPem ?? ''];
});
afterEach(async () => {
  await world.close();
});

interface Signer {
  publicKey(): KeyObject;
  sign(data: Uint8Array): Buffer;
}

function csrOf(key: Signer): Promise<string> {
  return buildCsrPem({
    commonName: 'lantern-agent',
    subjectPublicKeyInfo: key.publicKey().export({ type: 'spki', format: 'der' }),
    sign: (data) => p1363ToDer(key.sign(data)),
  });
}

function softwareKey(): Signer {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    publicKey: () => publicKey,
    sign: (data) => sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }),
  };
}

/** A device key made in `tpm`, as the TPM store makes it. */
async function tpmKey(tpm: Swtpm) {
  const tools = new Tpm2Tools(tpm.tcti);
  const primary = tools.persistPrimary();
  const keysDir = join(tempDir(), 'keys');
  const key = await TpmDeviceKeyStore.generate(tools, primary, keysDir);
  return {
    key,
    attestation: () => new TpmAttestation(tools, primary, tpmBlobs(keysDir, 'device')),
  };
}

const token = () => createEnrollmentToken(world.ca, world.tenantId);

async function challenge(body: Record<string, unknown>) {
  const answer = await world.ca.app.inject({
    method: 'POST',
    url: '/v1/devices/attestation/challenge',
    payload: body,
  });
  return { status: answer.statusCode, body: answer.json<Record<string, string>>() };
}

/** The agent's two steps, by hand: challenge for `enrollmentToken`, then the proof. */
async function evidence(attestation: TpmAttestation, enrollmentToken: string) {
  try {
    const answer = await challenge({
      enrollmentToken,
      ekCertificate: attestation.ekCertificate,
      akPublic: attestation.akPublic,
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return {
      challenge: answer.body.challenge ?? '',
      ...attestation.prove(answer.body.credential ?? ''),
    };
  } finally {
    attestation.close();
  }
}

async function enrollRaw(body: Record<string, unknown>) {
  const answer = await world.ca.app.inject({
    method: 'POST',
    url: '/v1/devices/enroll',
    payload: body,
  });
  const json = answer.json<{
    code?: string;
    message?: string;
    deviceId?: string;
    certificate?: string;
  }>();
  return { status: answer.statusCode, ...json };
}

async function recordedTier(deviceId: string | undefined): Promise<string | undefined> {
  const row = (await world.ca.ctx.store.db
    .prepare('SELECT assurance FROM devices WHERE device_id = ?')
    .get(deviceId)) as { assurance: string } | undefined;
  return row?.assurance;
}

describe('TPM attestation of the hardware tier', () => {
  it('a claim is not evidence: a software key claiming hardware is recorded and certified as software', async () => {
    const enrolled = await enrollRaw({
      enrollmentToken: await token(),
      csr: await csrOf(softwareKey()),
      keyAssurance: 'hardware',
    });
    expect(enrolled.status).toBe(201);
    expect(await recordedTier(enrolled.deviceId)).toBe('software');
    expect(keyAssuranceOf(parseCertificate(enrolled.certificate ?? '').extensions)).toBe(
      'software',
    );
  });

  it('a TPM without an EK certificate, or from a manufacturer the CA does not trust, enrolls at the software tier', async () => {
    const outcome = await enroll({
      dataDir: join(tempDir(), 'bare'),
      caUrl: world.caUrl,
      token: await token(),
      clock: world.agentClock,
      keyStore: 'tpm',
      tpmTcti: bare.tcti,
    });
    expect(outcome).toMatchObject({ keyAssurance: 'software' });
    expect(outcome.attestationRefused).toMatch(/no RSA EK certificate/);
    expect(await recordedTier(outcome.deviceId)).toBe('software');

    world.ca.ctx.tpmManufacturers = [untrustedRoot];
    const attestation = (await tpmKey(tpmA)).attestation();
    const refused = await challenge({
      enrollmentToken: await token(),
      ekCertificate: attestation.ekCertificate,
      akPublic: attestation.akPublic,
    });
    attestation.close();
    expect(refused).toMatchObject({ status: 400, body: { code: 'tpm_attestation_invalid' } });
    const untrusted = await enroll({
      dataDir: join(tempDir(), 'untrusted'),
      caUrl: world.caUrl,
      token: await token(),
      clock: world.agentClock,
      keyStore: 'tpm',
      tpmTcti: tpmA.tcti,
    });
    expect(untrusted.keyAssurance).toBe('software');
    expect(untrusted.attestationRefused).toMatch(/trusted TPM manufacturer/);
  });

  it('refuses evidence for a key that is not in the attested TPM', async () => {
    const a = await tpmKey(tpmA);
    // The CSR's key is a software key; the evidence certifies a real TPM key.
    const enrollmentToken = await token();
    const proof = await evidence(a.attestation(), enrollmentToken);
    const swapped = await enrollRaw({
      enrollmentToken,
      csr: await csrOf(softwareKey()),
      tpmAttestation: proof,
    });
    expect(swapped).toMatchObject({
      status: 400,
      code: 'tpm_attestation_invalid',
      message: expect.stringMatching(/not the key of the CSR/),
    });

    // A's EK certificate with B's AK: only A's TPM can release the credential, and B cannot.
    const b = await tpmKey(tpmB);
    const fromA = a.attestation();
    const fromB = b.attestation();
    const mixedToken = await token();
    const mixed = await challenge({
      enrollmentToken: mixedToken,
      ekCertificate: fromA.ekCertificate,
      akPublic: fromB.akPublic,
    });
    fromA.close();
    expect(mixed.status).toBe(200);
    expect(() => fromB.prove(mixed.body.credential ?? '')).toThrow(/activatecredential/);
    // So B can certify its own key, but has no credential to go with it.
    const certified = await evidence(b.attestation(), await token());
    fromB.close();
    const guessed = await enrollRaw({
      enrollmentToken: mixedToken,
      csr: await csrOf(b.key),
      tpmAttestation: { ...certified, challenge: mixed.body.challenge },
    });
    expect(guessed).toMatchObject({
      status: 400,
      code: 'tpm_attestation_invalid',
      message: expect.stringMatching(/credential is not/),
    });
  });

  it('refuses a challenge replayed with another token, after it expired, or twice', async () => {
    const a = await tpmKey(tpmA);
    const csr = await csrOf(a.key);
    const first = await token();
    const proof = await evidence(a.attestation(), first);
    const other = await enrollRaw({ enrollmentToken: await token(), csr, tpmAttestation: proof });
    expect(other).toMatchObject({
      status: 400,
      message: expect.stringMatching(/another enrollment/),
    });
    const tampered = await enrollRaw({
      enrollmentToken: first,
      csr,
      tpmAttestation: { ...proof, challenge: `${proof.challenge.slice(0, -4)}AAAA` },
    });
    expect(tampered).toMatchObject({
      status: 400,
      message: expect.stringMatching(/not one this CA/),
    });

    const enrolled = await enrollRaw({ enrollmentToken: first, csr, tpmAttestation: proof });
    expect(enrolled.status).toBe(201);
    expect(await recordedTier(enrolled.deviceId)).toBe('hardware');
    expect(await enrollRaw({ enrollmentToken: first, csr, tpmAttestation: proof })).toMatchObject({
      status: 409,
      code: 'enrollment_token_used',
    });
    const late = await token();
    const stale = await evidence(a.attestation(), late);
    world.advance(5 * 60_000 + 1000);
    expect(await enrollRaw({ enrollmentToken: late, csr, tpmAttestation: stale })).toMatchObject({
      status: 400,
      message: expect.stringMatching(/expired/),
    });
  });

  it('an agent on a TPM the trusted manufacturer certified enrolls at the hardware tier, end to end', async () => {
    const outcome = await enroll({
      dataDir: join(tempDir(), 'attested'),
      caUrl: world.caUrl,
      token: await token(),
      clock: world.agentClock,
      keyStore: 'tpm',
      tpmTcti: tpmA.tcti,
    });
    expect(outcome.attestationRefused).toBeUndefined();
    expect(outcome.keyAssurance).toBe('hardware');
    expect(await recordedTier(outcome.deviceId)).toBe('hardware');
  });
});
