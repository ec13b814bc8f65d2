import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KeyUnavailableError } from '../errors.js';
import { createSecretFile, readSecretFile } from '../keys/secret-file.js';

const SECRET_BYTES = 32;
const SECRET_FORMAT = /^[A-Za-z0-9_-]{43}$/;

/**
 * The per-install secret local apps present to the loopback API (`Authorization: Bearer …`).
 * It is created once, 0600, and never replaced: apps that already read it keep working, and two
 * processes starting at once (enroll and serve) end up with the same value. It is kept in
 * plain text on purpose: any process of the agent's user may read it, which is exactly who may
 * call the API; the file mode is the whole protection.
 */
export async function ensureLocalSecret(path: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const fresh = randomBytes(SECRET_BYTES).toString('base64url');
  await createSecretFile(path, Buffer.from(fresh, 'utf8'));
  const file = await readSecretFile(path);
  if (file === null) throw new KeyUnavailableError(`${path} vanished while it was created`);
  if (file.tooOpen)
    throw new KeyUnavailableError(`${path} is readable by other users; chmod 600 it`);
  const secret = file.contents.toString('utf8').trim();
  if (!SECRET_FORMAT.test(secret)) {
    throw new KeyUnavailableError(
      `${path} does not hold a local API secret; delete it to get a new one`,
    );
  }
  return secret;
}
