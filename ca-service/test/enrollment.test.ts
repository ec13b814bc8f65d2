import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import {
  OID_EKU_CLIENT_AUTH,
  OID_EKU_LANTERN_DEVICE_BINDING,
  OID_EXT_LANTERN_OFFLINE_POLICY,
  decodeOfflinePolicy,
  parseCertificate,
} from '@lantern/shared';
import type { webcrypto } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createEnrollmentToken, createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import { testDeviceKey } from '../../test/support/device-keys.js';

const subtle = globalThis.crypto.subtle;

async function peculiarCsr(
  algorithm: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams,
  signingAlgorithm: webcrypto.Algorithm | webcrypto.EcdsaParams,
  extensions: x509.Extension[] = [],
): Promise<string> {
  const keys = (await subtle.generateKey(algorithm, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=test',
    keys,
    signingAlgorithm,
    extensions,
  });
  return csr.toString('pem');
}

let ca: TestCa;
let tenantId: string;

beforeEach(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Hillside Primary');
});
afterEach(async () => ca.close());

function enroll(body: unknown) {
  return ca.app.inject({
    method: 'POST',
    url: '/v1/devices/enroll',
    payload: body as Record<string, unknown>,
  });
}

describe('POST /v1/devices/enroll refuses bad input with a distinct code and writes nothing', () => {
  const cases: [string, () => Promise<unknown>, number, string][] = [
    ['garbage JSON body', async () => 'not json at all', 400, 'invalid_request'],
    [
      'a body missing the CSR',
      async () => ({ enrollmentToken: await createEnrollmentToken(ca, tenantId) }),
      400,
      'invalid_request',
    ],
    [
      'an unknown property',
      async () => ({ enrollmentToken: 'x', csr: 'y', admin: true }),
      400,
      'invalid_request',
    ],
    [
      'a malformed token',
      async () => ({ enrollmentToken: 'hello', csr: await testDeviceKey().csr() }),
      401,
      'enrollment_token_invalid',
    ],
    [
      'an unknown token',
      async () => ({
        enrollmentToken: `let_01J9Z3YQ8M6W4Q9V2K7T5R3N1B.${'A'.repeat(43)}`,
        csr: await testDeviceKey().csr(),
      }),
      401,
      'enrollment_token_invalid',
    ],
    [
      'a CSR that is not PEM',
      async () => ({ enrollmentToken: await createEnrollmentToken(ca, tenantId), csr: 'garbage' }),
      400,
      'csr_invalid',
    ],
    [
      'a CSR with a bad signature',
      async () => {
        const pem = await testDeviceKey().csr();
        const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
        der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0xff;
        const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
        return { enrollmentToken: await createEnrollmentToken(ca, tenantId), csr: tampered };
      },
      400,
      'csr_signature_invalid',
    ],
    [
      'an RSA-1024 CSR',
      async () => ({
        enrollmentToken: await createEnrollmentToken(ca, tenantId),
        csr: await peculiarCsr(
          {
            name: 'RSASSA-PKCS1-v1_5',
            modulusLength: 1024,
            publicExponent: new Uint8Array([1, 0, 1]),
            hash: 'SHA-256',
          },
          { name: 'RSASSA-PKCS1-v1_5' },
        ),
      }),
      400,
      'key_policy_violation',
    ],
    [
      'a P-384 CSR',
      async () => ({
        enrollmentToken: await createEnrollmentToken(ca, tenantId),
        csr: await peculiarCsr(
          { name: 'ECDSA', namedCurve: 'P-384' },
          { name: 'ECDSA', hash: 'SHA-384' },
        ),
      }),
      400,
      'key_policy_violation',
    ],
    [
      'a CSR requesting extensions',
      async () => ({
        enrollmentToken: await createEnrollmentToken(ca, tenantId),
        csr: await peculiarCsr(
          { name: 'ECDSA', namedCurve: 'P-256' },
          { name: 'ECDSA', hash: 'SHA-256' },
          [new x509.BasicConstraintsExtension(true, 5, true)],
        ),
      }),
      400,
      'csr_extension_not_allowed',
    ],
  ];

  it.each(cases)('%s', async (_label, makeBody, status, code) => {
    const body = await makeBody();
    const before = await ca.eventCount();
    const response =
      typeof body === 'string'
        ? await ca.app.inject({
            method: 'POST',
            url: '/v1/devices/enroll',
            headers: { 'content-type': 'application/json' },
            payload: body,
          })
        : await enroll(body);
    expect(response.statusCode).toBe(status);
    expect(response.json()).toMatchObject({ code });
    expect(await ca.eventCount()).toBe(before);
  });

  it('an oversized body', async () => {
    const before = await ca.eventCount();
    const response = await enroll({ enrollmentToken: 'x', csr: 'A'.repeat(64 * 1024) });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ code: 'body_too_large' });
    expect(await ca.eventCount()).toBe(before);
  });

  it('a reused token', async () => {
    const token = await createEnrollmentToken(ca, tenantId);
    expect(
      (await enroll({ enrollmentToken: token, csr: await testDeviceKey().csr() })).statusCode,
    ).toBe(201);
    const before = await ca.eventCount();
    const second = await enroll({ enrollmentToken: token, csr: await testDeviceKey().csr() });
    expect(second.statusCode).toBe(409);
    expect(second.json()).toMatchObject({ code: 'enrollment_token_used' });
    expect(await ca.eventCount()).toBe(before);
  });

  it('two enrollments racing for one token: exactly one wins', async () => {
    const token = await createEnrollmentToken(ca, tenantId);
    const csrs = await Promise.all([
      testDeviceKey().csr(),
      testDeviceKey().csr(),
      testDeviceKey().csr(),
    ]);
    const responses = await Promise.all(csrs.map((csr) => enroll({ enrollmentToken: token, csr })));
    expect(responses.map((r) => r.statusCode).sort()).toEqual([201, 409, 409]);
  });

  it('an expired token', async () => {
    const token = await createEnrollmentToken(ca, tenantId, 600);
    ca.clock.advance(601_000);
    const before = await ca.eventCount();
    const response = await enroll({ enrollmentToken: token, csr: await testDeviceKey().csr() });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ code: 'enrollment_token_expired' });
    expect(await ca.eventCount()).toBe(before);
  });

  it('a revoked token', async () => {
    const created = await ca.admin('POST', '/v1/admin/enrollment-tokens', { tenant: tenantId });
    const { token, tokenId } = created.json() as { token: string; tokenId: string };
    expect(
      (await ca.admin('POST', `/v1/admin/enrollment-tokens/${tokenId}/revoke`, {})).statusCode,
    ).toBe(200);
    const response = await enroll({ enrollmentToken: token, csr: await testDeviceKey().csr() });
    expect(response.json()).toMatchObject({ code: 'enrollment_token_revoked' });
  });

  it("another tenant's token", async () => {
    const otherTenant = await createTenant(ca, 'Riverside Secondary');
    const token = await createEnrollmentToken(ca, otherTenant);
    const before = await ca.eventCount();
    const response = await enroll({
      enrollmentToken: token,
      csr: await testDeviceKey().csr(),
      tenant: tenantId,
    });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ code: 'tenant_mismatch' });
    expect(await ca.eventCount()).toBe(before);
  });
});

describe('a successful enrollment', () => {
  it('returns a binding certificate built from the device-binding profile', async () => {
    const key = testDeviceKey();
    const response = await enroll({
      enrollmentToken: await createEnrollmentToken(ca, tenantId),
      csr: await key.csr(),
      name: 'Tablet 7',
    });
    expect(response.statusCode).toBe(201);
    const body = response.json() as {
      deviceId: string;
      tenantId: string;
      certificate: string;
      chain: string[];
      root: string;
      rootFingerprint: string;
      revocationCursor: number;
      policy: { maxOfflineSeconds: number };
    };
    expect(body.tenantId).toBe(tenantId);
    expect(body.rootFingerprint).toBe(ca.rootFingerprint);
    expect(body.chain).toHaveLength(2);
    expect(body.revocationCursor).toBe(0);

    const certificate = new x509.X509Certificate(body.certificate);
    expect(certificate.subject).toBe(`CN=${body.deviceId}`);
    expect(certificate.serialNumber).toMatch(/^[0-7][0-9a-f]{31}$/);
    expect(certificate.notAfter.getTime() - ca.clock.now()).toBe(30 * 86_400_000);
    expect(Buffer.from(certificate.publicKey.rawData)).toEqual(
      key.publicKey.export({ type: 'spki', format: 'der' }),
    );
    const parsed = parseCertificate(body.certificate);
    expect(parsed.extendedKeyUsage).toEqual([OID_EKU_CLIENT_AUTH, OID_EKU_LANTERN_DEVICE_BINDING]);
    const keyUsage = certificate.getExtension(x509.KeyUsagesExtension);
    expect(keyUsage?.critical).toBe(true);
    expect(keyUsage?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    const san = certificate.getExtension(x509.SubjectAlternativeNameExtension);
    expect(san?.names.toJSON()).toEqual([
      { type: 'url', value: `urn:lantern:device:${tenantId}:${body.deviceId}` },
    ]);
    const policy = parsed.extensions.find(
      (extension) => extension.oid === OID_EXT_LANTERN_OFFLINE_POLICY,
    );
    expect(policy?.critical).toBe(false);
    expect(decodeOfflinePolicy(policy?.value ?? new Uint8Array())).toEqual({
      tenantId,
      deviceId: body.deviceId,
      maxOfflineSeconds: body.policy.maxOfflineSeconds,
    });
    expect(
      await certificate.verify({ publicKey: new x509.X509Certificate(body.chain[1] ?? '') }),
    ).toBe(true);

    const events = await ca.ctx.store.read({ aggregateId: body.deviceId });
    expect(events.map((event) => event.eventType)).toEqual([
      'identity.device.enrolled',
      'identity.device.bound_for_offline',
    ]);
    expect(events[1]?.payload).toMatchObject({
      certificateSerial: certificate.serialNumber,
      certExpiresAt: certificate.notAfter.toISOString(),
    });
  });
});
