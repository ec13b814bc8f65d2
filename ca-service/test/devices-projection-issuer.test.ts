import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { parseCertificate } from '@lantern/shared';
import type { webcrypto } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createEnrollmentToken, createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import { testDeviceKey } from '../../test/support/device-keys.js';

const subtle = globalThis.crypto.subtle;
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

let ca: TestCa;
let tenantId: string;
let serial = 0;

beforeEach(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Issuer Key School');
});
afterEach(async () => ca.close());

/** Records a binding the way a replayed store would hand it to the projection. */
async function recordBinding(certificatePem: string): Promise<string | null> {
  serial += 1;
  const certificateSerial = serial.toString(16).padStart(32, '0');
  const deviceId = ca.ctx.ids.next('dev');
  await ca.ctx.store.append([
    {
      eventType: 'identity.device.bound_for_offline',
      aggregateId: deviceId,
      tenantId,
      actor: { type: 'system', id: 'test' },
      correlationId: 'test',
      payload: {
        deviceId,
        certificateSerial,
        certificateFingerprint: certificateSerial.repeat(2),
        issuerFingerprint: 'b'.repeat(64),
        certificateKid: 'c'.repeat(43),
        certIssuedAt: new Date(ca.clock.now()).toISOString(),
        certExpiresAt: new Date(ca.clock.now() + 86_400_000).toISOString(),
        maxOfflineSeconds: 3600,
        certificatePem,
      },
    },
  ]);
  const row = (await ca.ctx.store.db
    .prepare('SELECT issuer_key_id FROM certificates WHERE serial = ?')
    .get(certificateSerial)) as { issuer_key_id: string | null };
  return row.issuer_key_id;
}

async function foreignCertificate(withAuthorityKeyId: boolean): Promise<string> {
  const keys = (await subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(false)];
  if (withAuthorityKeyId) {
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey));
  }
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=foreign',
    notBefore: new Date(ca.clock.now()),
    notAfter: new Date(ca.clock.now() + 86_400_000),
    keys,
    signingAlgorithm: EC,
    extensions,
  });
  return certificate.toString('pem');
}

describe('the certificates projection records the issuing key id of each binding', () => {
  it('records none for what is not a certificate, and never throws on replay', async () => {
    expect(
      await recordBinding('-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n'),
    ).toBe(null);
    expect(await recordBinding('not even PEM')).toBe(null);
    expect(
      await recordBinding('-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n'),
    ).toBe(null);
  });

  it('records none for a certificate without an authority key identifier', async () => {
    expect(await recordBinding(await foreignCertificate(false))).toBe(null);
  });

  it("records a foreign certificate's own authority key id, as the full parser reads it", async () => {
    const pem = await foreignCertificate(true);
    const expected = parseCertificate(pem).authorityKeyIdentifier;
    expect(expected).toMatch(/^[0-9a-f]{40}$/);
    expect(await recordBinding(pem)).toBe(expected);
  });

  it('records the issuing CA key id for an enrolled device', async () => {
    const response = await ca.app.inject({
      method: 'POST',
      url: '/v1/devices/enroll',
      payload: {
        enrollmentToken: await createEnrollmentToken(ca, tenantId),
        csr: await testDeviceKey().csr(),
      },
    });
    expect(response.statusCode).toBe(201);
    const { deviceId, certificate } = response.json() as { deviceId: string; certificate: string };
    const row = (await ca.ctx.store.db
      .prepare('SELECT issuer_key_id FROM certificates WHERE device_id = ?')
      .get(deviceId)) as { issuer_key_id: string };
    expect(row.issuer_key_id).toBe(parseCertificate(certificate).authorityKeyIdentifier);
    expect(row.issuer_key_id).toBe(ca.ctx.ca.authority.keyId.toString('hex'));
  });
});
