import { access } from 'node:fs/promises';
import { KeyUnavailableError } from '../errors.js';
import type { PlatformSecret, PlatformSecretState } from './platform-secret.js';
import { createSecretFile, readSecretFile, shredFile } from './secret-file.js';

const FORMAT_VERSION = 1;

/**
 * The default platform secret: a 0600 file in the data directory. It protects the data key
 * only as well as the file system's permissions do; the point of the `PlatformSecret`
 * interface is that keychain- or TPM-backed stores can replace it without touching callers.
 */
export class FilePlatformSecret implements PlatformSecret {
  readonly description: string;
  private readonly tombstone: string;

  constructor(private readonly path: string) {
    this.description = `file ${path}`;
    this.tombstone = `${path}.destroyed`;
  }

  async load(): Promise<PlatformSecretState> {
    // The tombstone wins over a leftover key file: destroy() writes it before shredding, so a
    // crash in between still reads as destroyed.
    if (await exists(this.tombstone)) return { state: 'destroyed' };
    const file = await readSecretFile(this.path);
    if (file === null) return { state: 'absent' };
    if (file.tooOpen) {
      throw new KeyUnavailableError(`${this.description} is readable by other users; chmod 600 it`);
    }
    return { state: 'present', secret: this.decode(file.contents) };
  }

  async create(secret: Buffer): Promise<boolean> {
    if (await exists(this.tombstone)) return false;
    const encoded = JSON.stringify({ version: FORMAT_VERSION, key: secret.toString('base64url') });
    return createSecretFile(this.path, Buffer.from(encoded, 'utf8'));
  }

  async destroy(): Promise<void> {
    await createSecretFile(
      this.tombstone,
      Buffer.from(JSON.stringify({ version: FORMAT_VERSION })),
    );
    await shredFile(this.path);
  }

  private decode(contents: Buffer): Buffer {
    try {
      const parsed = JSON.parse(contents.toString('utf8')) as { version?: unknown; key?: unknown };
      if (parsed.version === FORMAT_VERSION && typeof parsed.key === 'string') {
        return Buffer.from(parsed.key, 'base64url');
      }
    } catch {
      // Reported below with the same error as a wrong version.
    }
    throw new KeyUnavailableError(
      `${this.description} is not a version ${FORMAT_VERSION} key file`,
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
