import { existsSync } from 'node:fs';
import { link, rename, rm, stat } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { parseCertificate } from '@lantern/shared';
import type { AgentPaths } from '../data-dir/agent-paths.js';
import { KeyUnavailableError } from '../errors.js';
import type { DataKey } from './data-key.js';
import { FileDeviceKeyStore } from './file-device-key-store.js';
import { shredFile } from './secret-file.js';

/**
 * The device key the stored binding certificate certifies, finishing a re-keying renewal that
 * a crash interrupted. A renewal writes its new key to `device-key.next`, commits the new
 * certificate, then moves the old key aside, renames the new one into place and shreds the old
 * one. So whatever step a crash hit, the certificate in the store has its key in one of the two
 * files: before the commit it is the old key in `device-key` (the `.next` file is a leftover the
 * next renewal removes), after it the new key, in `device-key` or still in `device-key.next`.
 */
export async function loadBindingKey(
  paths: AgentPaths,
  dataKey: DataKey,
  certificatePem: string,
): Promise<FileDeviceKeyStore> {
  const certified = certifiedKeyOf(certificatePem);
  const current = existsSync(paths.deviceKey)
    ? await FileDeviceKeyStore.load(paths.deviceKey, dataKey)
    : null;
  if (current?.publicKey().equals(certified)) {
    // Only a renewal that committed leaves an old key aside, so it is no longer needed.
    await shredFile(paths.retiredDeviceKey);
    return current;
  }
  const next = existsSync(paths.nextDeviceKey)
    ? await FileDeviceKeyStore.load(paths.nextDeviceKey, dataKey)
    : null;
  if (!next?.publicKey().equals(certified)) {
    throw new KeyUnavailableError(
      `the device key in ${paths.deviceKey} is not the key of the binding certificate`,
    );
  }
  await promoteNextKey(paths);
  return FileDeviceKeyStore.load(paths.deviceKey, dataKey);
}

/** The public key a binding certificate certifies. */
export function certifiedKeyOf(certificatePem: string): KeyObject {
  return createPublicKey({
    key: Buffer.from(parseCertificate(certificatePem).subjectPublicKeyInfo),
    format: 'der',
    type: 'spki',
  });
}

/**
 * After the new certificate is stored: the old key file gets a second name, the new key is
 * renamed over `device-key` (atomic: that name always holds one whole key), and the second name,
 * now the only one left of the old key, is shredded. A crash anywhere here leaves the new key
 * under `device-key` or `device-key.next`, and `loadBindingKey` finishes the job; no step can
 * shred the new key, because `device-key.old` only ever names an older inode.
 */
export async function promoteNextKey(paths: AgentPaths): Promise<void> {
  // Another process finished the promotion: linking `device-key` aside now would shred the new key.
  if (!existsSync(paths.nextDeviceKey)) return;
  await dropRetired(paths);
  if (existsSync(paths.deviceKey)) await link(paths.deviceKey, paths.retiredDeviceKey);
  try {
    await rename(paths.nextDeviceKey, paths.deviceKey);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    // Renamed meanwhile by another process: `device-key` is the new key, so only unlink.
    await rm(paths.retiredDeviceKey, { force: true });
    return;
  }
  await shredFile(paths.retiredDeviceKey);
}

/**
 * A `device-key.old` left by a crash is either a second name of `device-key` (crash before the
 * rename: both are the old key, which the commit made useless) or an older key: shredding is
 * right for both, except that shredding a second name would also garble `device-key` under a
 * reader's feet, so that case is only unlinked (it is re-linked and shredded right after).
 */
async function dropRetired(paths: AgentPaths): Promise<void> {
  const [retired, current] = await Promise.all([
    stat(paths.retiredDeviceKey).catch(() => null),
    stat(paths.deviceKey).catch(() => null),
  ]);
  if (retired === null) return;
  if (current !== null && retired.ino === current.ino && retired.dev === current.dev) {
    await rm(paths.retiredDeviceKey, { force: true });
  } else {
    await shredFile(paths.retiredDeviceKey);
  }
}
