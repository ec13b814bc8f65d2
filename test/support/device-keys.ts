import { buildCsrPem, createDeviceProof, fromPem } from '@lantern/shared';
import type { KeyObject } from 'node:crypto';
import { generateKeyPairSync, sign } from 'node:crypto';

export interface TestDeviceKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  csr(): Promise<string>;
}

export function testDeviceKey(): TestDeviceKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKey,
    publicKey,
    csr: () =>
      buildCsrPem({
        commonName: 'test device',
        subjectPublicKeyInfo: publicKey.export({ type: 'spki', format: 'der' }),
        sign: (data) => sign('sha256', data, { key: privateKey, dsaEncoding: 'der' }),
      }),
  };
}

export interface EnrolledTestDevice {
  deviceId: string;
  tenantId: string;
  key: TestDeviceKey;
  certificatePem: string;
  x5c: string[];
  proof(method: string, path: string, body: string, nowSeconds: number): string;
}

/** Enrolls a fresh key through the CA's HTTP API and returns what a device would hold. */
export async function enrollTestDevice(
  app: {
    inject: (options: {
      method: 'POST';
      url: string;
      payload: Record<string, unknown>;
    }) => PromiseLike<{ statusCode: number; body: string; json(): unknown }>;
  },
  enrollmentToken: string,
): Promise<EnrolledTestDevice> {
  const key = testDeviceKey();
  const response = await app.inject({
    method: 'POST',
    url: '/v1/devices/enroll',
    payload: { enrollmentToken, csr: await key.csr() },
  });
  if (response.statusCode !== 201) throw new Error(`enroll failed: ${response.body}`);
  const body = response.json() as {
    deviceId: string;
    tenantId: string;
    certificate: string;
    chain: string[];
  };
  const x5c = body.chain.map((pem) => fromPem(pem).toString('base64'));
  return {
    deviceId: body.deviceId,
    tenantId: body.tenantId,
    key,
    certificatePem: body.certificate,
    x5c,
    proof: (method, path, requestBody, nowSeconds) =>
      createDeviceProof({
        method,
        url: `http://ca.test${path}`,
        body: requestBody,
        x5c,
        nowSeconds,
        sign: (data) => sign('sha256', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' }),
      }),
  };
}
