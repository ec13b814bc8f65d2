import { buildCsrPem } from '@lantern/shared';
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
