import { runCli, systemClock } from '@lantern/shared';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commands } from '../src/cli/commands.js';
import { openCa } from '../src/data-dir/open-ca.js';
import { rootDirPaths } from '../src/data-dir/offline-root.js';
import { dataDirPaths } from '../src/data-dir/paths.js';

/** Issue 15: the root key never enters the online CA's data dir unless a dev setup says so. */
const work = mkdtempSync(join(tmpdir(), 'lantern-offline-root-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const ROOT_PASSPHRASE = 'root passphrase on the ceremony laptop';
const CA_PASSPHRASE = 'online CA passphrase';
const env = { LANTERN_CA_PASSPHRASE: CA_PASSPHRASE, LANTERN_CA_ROOT_PASSPHRASE: ROOT_PASSPHRASE };

async function run(argv: string[], environment: NodeJS.ProcessEnv = env) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await runCli('lantern-ca', commands, [...argv, '--json'], {
    stdout: (text) => stdout.push(text),
    stderr: (text) => stderr.push(text),
    readStdin: async () => '',
    env: environment,
  });
  const text = stdout.join('\n');
  return { code, json: (text ? JSON.parse(text) : {}) as Record<string, unknown>, stderr };
}

/** Every file under a directory, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

const rootKeyPem = (rootDir: string) => readFileSync(rootDirPaths(rootDir).rootKey, 'utf8');

describe('offline root ceremony (lantern-ca init --root-dir, root sign-issuing)', () => {
  const dataDir = join(work, 'ca');
  const rootDir = join(work, 'usb-root');

  it('init refuses to guess where the root key goes', async () => {
    const answer = await run(['init', '--data-dir', join(work, 'nowhere')]);
    expect(answer.code).toBe(2);
    expect(existsSync(join(work, 'nowhere'))).toBe(false);
  });

  it('init refuses a root dir inside the data dir, and a root dir without the root passphrase', async () => {
    const inside = join(work, 'inside');
    const answer = await run(['init', '--data-dir', inside, '--root-dir', join(inside, 'ca')]);
    expect(answer.code).toBe(2);
    expect(existsSync(join(inside, 'ca', 'root.key.pem'))).toBe(false);
    const noRootPassphrase = await run(
      ['init', '--data-dir', join(work, 'other'), '--root-dir', join(work, 'other-root')],
      { LANTERN_CA_PASSPHRASE: CA_PASSPHRASE },
    );
    expect(noRootPassphrase.code).toBe(1);
    expect(noRootPassphrase.json['code']).toBe('root_passphrase_missing');
  });

  it('init --root-dir: the data dir holds the root certificate and no root key', async () => {
    const answer = await run(['init', '--data-dir', dataDir, '--root-dir', rootDir]);
    expect(answer.code, answer.stderr.join('\n')).toBe(0);
    expect(answer.json['rootKeyInDataDir']).toBe(false);
    const paths = dataDirPaths(dataDir);
    expect(existsSync(paths.rootKey)).toBe(false);
    const rootKey = rootKeyPem(rootDir);
    for (const file of filesUnder(dataDir)) {
      expect(readFileSync(file).includes(rootKey), file).toBe(false);
    }
    // The root key is not encrypted with the online CA's passphrase.
    const root = new X509Certificate(readFileSync(paths.rootCertificate));
    const issuing = new X509Certificate(readFileSync(paths.issuingCertificate));
    expect(issuing.verify(root.publicKey)).toBe(true);
    expect(readFileSync(rootDirPaths(rootDir).rootCertificate, 'utf8')).toBe(
      readFileSync(paths.rootCertificate, 'utf8'),
    );
    const ca = await openCa({ dataDir, clock: systemClock, passphrase: CA_PASSPHRASE });
    expect(ca.context.ca.rootFingerprint).toBe(answer.json['rootFingerprint']);
    await ca.close();
  });

  it('rotation without a root answers a usage error and changes nothing', async () => {
    const before = readFileSync(dataDirPaths(dataDir).issuingCertificate, 'utf8');
    expect((await run(['ca', 'rotate-issuing', '--data-dir', dataDir])).code).toBe(2);
    const dev = await run([
      'ca',
      'rotate-issuing',
      '--data-dir',
      dataDir,
      '--dev-root-in-data-dir',
    ]);
    expect(dev.json['code']).toBe('root_key_unavailable');
    const nothingPending = await run([
      ...['ca', 'rotate-issuing', '--data-dir', dataDir],
      ...['--certificate', dataDirPaths(dataDir).issuingCertificate],
    ]);
    expect(nothingPending.json['code']).toBe('rotation_not_pending');
    expect(readFileSync(dataDirPaths(dataDir).issuingCertificate, 'utf8')).toBe(before);
  });

  it('rotates through the offline root: CSR out, a wrong certificate refused, the signed one in', async () => {
    const paths = dataDirPaths(dataDir);
    const before = readFileSync(paths.issuingCertificate, 'utf8');
    const csr = join(work, 'transfer', 'issuing.csr');
    const requested = await run(['ca', 'rotate-issuing', '--data-dir', dataDir, '--csr-out', csr]);
    expect(requested.code, requested.stderr.join('\n')).toBe(0);
    expect(readFileSync(csr, 'utf8')).toContain('BEGIN CERTIFICATE REQUEST');

    // The root key does not open with the online CA's passphrase.
    const wrongPassphrase = await run(
      ['root', 'sign-issuing', '--root-dir', rootDir, '--csr', csr, '--out', join(work, 'x.pem')],
      { LANTERN_CA_ROOT_PASSPHRASE: CA_PASSPHRASE },
    );
    expect(wrongPassphrase.code).toBe(1);
    expect(wrongPassphrase.json['code']).toBe('key_passphrase_wrong');
    expect(existsSync(join(work, 'x.pem'))).toBe(false);

    // Another root's certificate for the same CSR: refused, nothing changes.
    const otherRoot = join(work, 'other-usb');
    expect((await run(['root', 'init', '--root-dir', otherRoot])).code).toBe(0);
    const forged = join(work, 'transfer', 'forged.pem');
    expect(
      (await run(['root', 'sign-issuing', '--root-dir', otherRoot, '--csr', csr, '--out', forged]))
        .code,
    ).toBe(0);
    const refused = await run([
      ...['ca', 'rotate-issuing', '--data-dir', dataDir, '--certificate', forged],
    ]);
    expect(refused.json['code']).toBe('issuing_certificate_mismatch');

    // The right root, but for a key this CA never asked for: refused too.
    const stranger = join(work, 'transfer', 'stranger.csr');
    const { buildCsrPem } = await import('@lantern/shared');
    const { createPublicKey, sign } = await import('node:crypto');
    const strangerKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    writeFileSync(
      stranger,
      await buildCsrPem({
        commonName: 'Lantern Issuing CA 2',
        subjectPublicKeyInfo: createPublicKey(strangerKey).export({ type: 'spki', format: 'der' }),
        sign: (data) => sign('sha256', data, { key: strangerKey, dsaEncoding: 'der' }),
      }),
    );
    const strangerPem = join(work, 'transfer', 'stranger.pem');
    await run([
      'root',
      'sign-issuing',
      '--root-dir',
      rootDir,
      '--csr',
      stranger,
      '--out',
      strangerPem,
    ]);
    const otherKey = await run([
      ...['ca', 'rotate-issuing', '--data-dir', dataDir, '--certificate', strangerPem],
    ]);
    expect(otherKey.json['code']).toBe('issuing_certificate_mismatch');
    expect(readFileSync(paths.issuingCertificate, 'utf8')).toBe(before);

    const signedPem = join(work, 'transfer', 'issuing.pem');
    const signed = await run([
      ...['root', 'sign-issuing', '--root-dir', rootDir, '--csr', csr, '--out', signedPem],
    ]);
    expect(signed.code, signed.stderr.join('\n')).toBe(0);
    const installed = await run([
      ...['ca', 'rotate-issuing', '--data-dir', dataDir, '--certificate', signedPem],
    ]);
    expect(installed.code, installed.stderr.join('\n')).toBe(0);
    expect(installed.json['issuingKeyId']).toBe(requested.json['issuingKeyId']);
    expect(readFileSync(paths.issuingCertificate, 'utf8')).not.toBe(before);
    expect(existsSync(paths.pendingIssuingKey)).toBe(false);
    expect(existsSync(paths.rootKey)).toBe(false);

    const ca = await openCa({ dataDir, clock: systemClock, passphrase: CA_PASSPHRASE });
    expect(ca.context.ca.authority.keyId.toString('hex')).toBe(installed.json['issuingKeyId']);
    expect(ca.context.ca.retired.map((r) => r.authority.keyId.toString('hex'))).toEqual([
      installed.json['retiredKeyId'],
    ]);
    await ca.close();
  });

  it('the labelled dev setup keeps the old single-machine flow', async () => {
    const devDir = join(work, 'dev');
    const init = await run(['init', '--data-dir', devDir, '--dev-root-in-data-dir']);
    expect(init.code, init.stderr.join('\n')).toBe(0);
    expect(init.json['rootKeyInDataDir']).toBe(true);
    expect(existsSync(dataDirPaths(devDir).rootKey)).toBe(true);
    const rotated = await run(
      ['ca', 'rotate-issuing', '--data-dir', devDir, '--dev-root-in-data-dir'],
      { LANTERN_CA_PASSPHRASE: CA_PASSPHRASE },
    );
    expect(rotated.code, rotated.stderr.join('\n')).toBe(0);
  });
});
