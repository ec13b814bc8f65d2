import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { sign, webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDevice, SigninWorld } from '../../agent/test/signin-harness.js';
import { startSigninWorld } from '../../agent/test/signin-harness.js';
import type { TestCa } from '../support/ca-fixture.js';
import { createEnrollmentToken, createTenant, startTestCa } from '../support/ca-fixture.js';
import type { EnrolledTestDevice } from '../support/device-keys.js';
import { enrollTestDevice } from '../support/device-keys.js';

/**
 * Hostile `kid` and `x5c` headers (issue 11): a key id must never name a file or pick a key
 * the verifier did not already trust, and a chain must be bounded in length, size and search.
 * Each is refused with a code, quickly, and nothing crashes. Replayed device proofs are proven
 * in ca-service/test/device-proof-renewal.test.ts ('a replayed proof').
 */
const FAST_MS = 1_000;
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

const KIDS: [string, string][] = [
  ['a path traversal', '../../../../etc/passwd'],
  ['a very long kid', 'k'.repeat(10_000)],
  ['unicode', '\u202e\ud83d\udca9\u0000\u00ff'],
  ['a null byte', 'key\u0000.pem'],
];

/** A pair of CA certificates that issue each other: A ← B ← A ← … */
async function certificateLoop(): Promise<[string, string]> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const a = await webcrypto.subtle.generateKey(algorithm, false, ['sign', 'verify']);
  const b = await webcrypto.subtle.generateKey(algorithm, false, ['sign', 'verify']);
  const make = (
    subject: string,
    issuer: string,
    publicKey: webcrypto.CryptoKey,
    signingKey: webcrypto.CryptoKey,
  ) =>
    x509.X509CertificateGenerator.create({
      serialNumber: subject === 'CN=A' ? '0a' : '0b',
      subject,
      issuer,
      notBefore: new Date('2026-01-01'),
      notAfter: new Date('2027-01-01'),
      signingAlgorithm: algorithm,
      publicKey,
      signingKey,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      ],
    });
  const certA = await make('CN=A', 'CN=B', a.publicKey, b.privateKey);
  const certB = await make('CN=B', 'CN=A', b.publicKey, a.privateKey);
  return [
    Buffer.from(certA.rawData).toString('base64'),
    Buffer.from(certB.rawData).toString('base64'),
  ];
}

/**
 * x5c values an attacker might send, given a real chain [leaf, issuing]. `true` marks chains
 * that still hold the honest path: extra certificates, even a loop, are ignored, not followed.
 */
function hostileChains(real: string[], loop: [string, string]): [string, string[], boolean][] {
  const [leaf = '', issuing = ''] = real;
  return [
    ['a 100-certificate chain', [leaf, ...Array.from({ length: 99 }, () => issuing)], false],
    ['a loop A→B→A', [...loop], false],
    ['a loop in place of the issuer', [leaf, loop[0], loop[1]], false],
    ['a loop next to the honest path', [leaf, loop[0], loop[1], issuing], true],
    ['the same certificate twice', [leaf, issuing, issuing], true],
    ['the leaf as its own issuer', [leaf, leaf], false],
    ['entries that are not base64', ['%%%not base64%%%', '****'], false],
    ['a 1 MB entry', ['A'.repeat(1024 * 1024)], false],
    ['an empty chain', [], false],
  ];
}

describe('the CA device-proof verifier (POST /v1/sync)', () => {
  let ca: TestCa;
  let device: EnrolledTestDevice;
  let loop: [string, string];

  beforeAll(async () => {
    ca = await startTestCa();
    const tenantId = await createTenant(ca, 'Abuse');
    device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
    loop = await certificateLoop();
  });
  afterAll(async () => ca.close());

  const body = JSON.stringify({ events: [], revocationCursor: 0 });

  /** A proof signed by the real device key, with the header fields given. */
  function proof(header: Record<string, unknown>): string {
    const now = Math.floor(ca.clock.now() / 1000);
    const signingInput = `${b64url({ alg: 'ES256', typ: 'lantern-device-proof+jwt', x5c: device.x5c, ...header })}.${b64url(
      {
        htm: 'POST',
        htu: 'http://ca.test/v1/sync',
        iat: now,
        exp: now + 60,
        jti: `${Math.random()}`,
        bh: JSON.parse(
          Buffer.from(
            device.proof('POST', '/v1/sync', body, now).split('.')[1] ?? '',
            'base64url',
          ).toString(),
        ).bh as string,
      },
    )}`;
    const signature = sign('sha256', Buffer.from(signingInput), {
      key: device.key.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    return `${signingInput}.${signature.toString('base64url')}`;
  }

  async function sync(proofHeader: string) {
    const started = performance.now();
    const response = await ca.app.inject({
      method: 'POST',
      url: '/v1/sync',
      headers: { 'content-type': 'application/json', 'lantern-device-proof': proofHeader },
      payload: body,
    });
    return { response, ms: performance.now() - started };
  }

  it('sanity: an honest proof is accepted', async () => {
    expect((await sync(proof({}))).response.statusCode).toBe(200);
  });

  it.each(KIDS)('a kid with %s never selects a key: the chain decides', async (_label, kid) => {
    // Signed by the device key: accepted, because the key comes from the validated chain.
    expect((await sync(proof({ kid }))).response.statusCode).toBe(200);
    // The same kid on a proof whose signature is not the device's: refused.
    const forged = proof({ kid }).replace(
      /\.[^.]+$/,
      `.${Buffer.alloc(64, 7).toString('base64url')}`,
    );
    const { response, ms } = await sync(forged);
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ code: 'device_proof_invalid' });
    expect(ms).toBeLessThan(FAST_MS);
  });

  it('every hostile x5c is refused quickly with device_proof_invalid; none is followed', async () => {
    const before = await ca.eventCount();
    for (const [label, x5c, honestPath] of hostileChains(device.x5c, loop)) {
      const { response, ms } = await sync(proof({ x5c }));
      expect(`${label}: ${response.statusCode} ${String(response.json().code)}`).toBe(
        honestPath ? `${label}: 200 undefined` : `${label}: 401 device_proof_invalid`,
      );
      expect(ms, label).toBeLessThan(FAST_MS);
    }
    expect(await ca.eventCount()).toBe(before);
  });
});

describe("the agent's token verifier", () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-abuse-'));
  let world: SigninWorld;
  let device: TestDevice;
  let loop: [string, string];
  let x5c: string[] = [];

  beforeAll(async () => {
    world = await startSigninWorld(() => dir);
    device = await world.device();
    const { binding } = device.opened;
    x5c = [binding.certificatePem, ...binding.chainPems].map((pem) =>
      pem.replace(/-----[^-]+-----|\s/g, ''),
    );
    loop = await certificateLoop();
  });
  afterAll(async () => {
    await world.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function sessionToken(header: Record<string, unknown>): string {
    const now = Math.floor(world.agentClock.now() / 1000);
    const signingInput = `${b64url({ alg: 'ES256', typ: 'lantern-session+jwt', x5c, ...header })}.${b64url(
      { iss: 'urn:x', sub: 'usr_x', aud: 'lantern-local', iat: now, exp: now + 60 },
    )}`;
    const signature = device.opened.deviceKey.sign(Buffer.from(signingInput));
    return `${signingInput}.${Buffer.from(signature).toString('base64url')}`;
  }

  function verify(token: string) {
    const started = performance.now();
    const verdict = device.verifier.verify(token);
    return { verdict, ms: performance.now() - started };
  }

  it.each(KIDS)('session token with a kid of %s: refused with a reason, quickly', (_label, kid) => {
    const { verdict, ms } = verify(sessionToken({ kid }));
    expect(verdict.ok).toBe(false);
    expect(ms).toBeLessThan(FAST_MS);
  });

  it.each(KIDS)('access token with a kid of %s: unknown_kid', (_label, kid) => {
    const token = `${b64url({ alg: 'ES256', typ: 'at+jwt', kid })}.${b64url({ exp: 9e9 })}.${Buffer.alloc(64).toString('base64url')}`;
    const { verdict, ms } = verify(token);
    expect(verdict).toMatchObject({ ok: false, reason: 'unknown_kid' });
    expect(ms).toBeLessThan(FAST_MS);
  });

  it('every hostile x5c on a session token is refused quickly with a reason', () => {
    for (const [label, chain] of hostileChains(x5c, loop)) {
      // Claims aside (these tokens have none worth accepting), what matters is a quick refusal.
      const { verdict, ms } = verify(sessionToken({ x5c: chain }));
      expect(verdict.ok, label).toBe(false);
      if (!verdict.ok) expect(verdict.reason, label).toMatch(/^(malformed|untrusted_chain)$/);
      expect(ms, label).toBeLessThan(FAST_MS);
    }
  });
});
