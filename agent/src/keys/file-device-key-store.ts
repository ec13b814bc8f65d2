import type { KeyObject } from 'node:crypto';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { DeviceKeyExistsError, KeyUnavailableError } from '../errors.js';
import type { DataKey } from './data-key.js';
import type { DeviceKeyStore, EcPublicJwk } from './device-key-store.js';
import { decryptForDevice, jwkThumbprint } from '@lantern/shared';
import { ecPublicJwk } from './device-key-store.js';
import { createSecretFile, readSecretFile, shredFile } from './secret-file.js';

const AAD = 'lantern:device-key:pkcs8';

/**
 * Software device key: PKCS#8 sealed with the data key in a 0600 file, so shredding the data
 * key also kills the device key. Labelled `software` assurance, as docs/architecture.md §3 requires.
 */
export class FileDeviceKeyStore implements DeviceKeyStore {
  readonly algorithm = 'ES256';
  readonly assurance = 'software';
  private privateKey: KeyObject | null;
  private readonly publicKeyObject: KeyObject;
  private readonly jwk: EcPublicJwk;
  private readonly keyThumbprint: string;

  private constructor(
    private readonly path: string,
    privateKey: KeyObject,
  ) {
    this.privateKey = privateKey;
    this.publicKeyObject = createPublicKey(privateKey);
    this.jwk = ecPublicJwk(this.publicKeyObject);
    // Asked at every offline sign-in (the grant's key binding); the key never changes.
    this.keyThumbprint = jwkThumbprint(this.jwk);
  }

  static async generate(path: string, dataKey: DataKey): Promise<FileDeviceKeyStore> {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
    const sealed = dataKey.seal(pkcs8, AAD);
    pkcs8.fill(0);
    if (!(await createSecretFile(path, sealed))) {
      throw new DeviceKeyExistsError(`a device key already exists at ${path}`);
    }
    return new FileDeviceKeyStore(path, privateKey);
  }

  static async load(path: string, dataKey: DataKey): Promise<FileDeviceKeyStore> {
    const file = await readSecretFile(path);
    if (file === null) throw new KeyUnavailableError(`no device key at ${path}`);
    if (file.tooOpen) {
      throw new KeyUnavailableError(`${path} is readable by other users; chmod 600 it`);
    }
    const pkcs8 = dataKey.open(file.contents, AAD);
    try {
      return new FileDeviceKeyStore(
        path,
        createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }),
      );
    } finally {
      pkcs8.fill(0);
    }
  }

  publicKey(): KeyObject {
    return this.publicKeyObject;
  }

  publicJwk(): EcPublicJwk {
    return { ...this.jwk };
  }

  thumbprint(): string {
    return this.keyThumbprint;
  }

  sign(data: Uint8Array): Buffer {
    if (this.privateKey === null) throw new KeyUnavailableError('the device key was destroyed');
    return sign('sha256', data, { key: this.privateKey, dsaEncoding: 'ieee-p1363' });
  }

  openSealedBox(bundle: unknown, context: string): Uint8Array {
    if (this.privateKey === null) throw new KeyUnavailableError('the device key was destroyed');
    return decryptForDevice(this.privateKey, bundle, context);
  }

  async destroy(): Promise<void> {
    this.privateKey = null;
    await shredFile(this.path);
  }
}
