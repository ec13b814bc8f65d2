import { randomBytes } from 'node:crypto';
import { link, open, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const SECRET_MODE = 0o600;
const POSIX = process.platform !== 'win32';

/**
 * Key files are written to a temporary sibling and then hard-linked to their name, so a crash
 * or a full disk never leaves a truncated key, and an existing key is never replaced (the link
 * fails instead: two processes racing to create a key cannot both win). The temporary file is
 * created 0600 from the start rather than chmod-ed later, so the key is never readable by
 * others, not even for a moment. Resolves false when the file already exists.
 */
export async function createSecretFile(path: string, contents: Uint8Array): Promise<boolean> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}`);
  const handle = await open(temporary, 'wx', SECRET_MODE);
  try {
    await handle.writeFile(contents);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await rm(temporary, { force: true });
  }
  await syncDirectory(dirname(path));
  return true;
}

/** Null when there is no such file; unsafe permissions are reported, not silently accepted. */
export async function readSecretFile(
  path: string,
): Promise<{ contents: Buffer; tooOpen: boolean } | null> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const { mode } = await handle.stat();
    return { contents: await handle.readFile(), tooOpen: POSIX && (mode & 0o077) !== 0 };
  } finally {
    await handle.close();
  }
}

/**
 * Overwrites the file with random bytes before unlinking it. On journaling file systems and
 * flash storage the old blocks may survive; that is why the data key is the only thing ever
 * shredded: everything else is ciphertext under it.
 */
export async function shredFile(path: string): Promise<void> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const handle = await open(path, 'r+');
  try {
    await handle.write(randomBytes(Math.max(size, 1)), 0, undefined, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rm(path, { force: true });
  await syncDirectory(dirname(path));
}

async function syncDirectory(path: string): Promise<void> {
  // Windows cannot open a directory for fsync; NTFS journals the rename itself.
  if (!POSIX) return;
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
