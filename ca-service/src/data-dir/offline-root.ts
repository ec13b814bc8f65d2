import type { Clock } from '@lantern/shared';
import { fromPem, toPem } from '@lantern/shared';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Name } from '@peculiar/asn1-x509';
import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDeviceCsr } from '../enrollment/csr.js';
import { CaAlreadyInitializedError, CsrInvalidError, RootKeyUnavailableError } from '../errors.js';
import { createRootCa, signIssuingCertificate } from '../pki/ca-hierarchy.js';
import { keyIdentifier, subjectOf } from '../pki/certificate-builder.js';
import { sha256Hex } from '../pki/der.js';
import { profiles } from '../pki/profiles.js';
import { encryptPrivateKey, readKeyFile } from '../pki/signer.js';
import { writePrivateFile, writePublicFile } from './secret-files.js';

/**
 * The offline root (docs/architecture.md §2): a directory on removable media, or on a machine
 * that is never online, holding the root key and certificate. The online CA's data dir holds
 * only the root certificate. The names match the data dir's own `ca/` so that the labelled
 * single-machine dev setup (`--dev-root-in-data-dir`) is simply that directory as the root dir.
 */
export function rootDirPaths(rootDir: string) {
  return {
    rootDir,
    rootCertificate: join(rootDir, 'root.pem'),
    rootKey: join(rootDir, 'root.key.pem'),
  };
}

/** Where the root lives and the passphrase of its key (never the online CA's passphrase). */
export interface RootLocation {
  dir: string;
  passphrase: string;
}

export interface OfflineRoot {
  rootPem: string;
  rootKey: KeyObject;
}

/** `lantern-ca root init`: a new root in `dir`; never replaces one. */
export async function initRoot(options: {
  root: RootLocation;
  clock: Clock;
}): Promise<{ rootPem: string; rootFingerprint: string }> {
  const paths = rootDirPaths(options.root.dir);
  if (existsSync(paths.rootKey) || existsSync(paths.rootCertificate)) {
    throw new CaAlreadyInitializedError(
      `${options.root.dir} already holds a root; a root is made once (use it with --root-dir)`,
    );
  }
  const { rootKey, rootCertificate } = await createRootCa(options.clock, profiles.rootCa());
  writePrivateFile(paths.rootKey, encryptPrivateKey(rootKey, options.root.passphrase));
  const rootPem = toPem(rootCertificate);
  writePublicFile(paths.rootCertificate, rootPem);
  return { rootPem, rootFingerprint: sha256Hex(rootCertificate) };
}

/** The root key and certificate, for signing an issuing CA; the key never leaves this process. */
export function loadRoot(root: RootLocation): OfflineRoot {
  const paths = rootDirPaths(root.dir);
  if (!existsSync(paths.rootKey) || !existsSync(paths.rootCertificate)) {
    throw new RootKeyUnavailableError(
      `no root key in ${root.dir}; mount the offline root's media and give its directory`,
    );
  }
  const { privateKey: rootKey } = readKeyFile(paths.rootKey, root.passphrase);
  return { rootPem: readFileSync(paths.rootCertificate, 'utf8'), rootKey };
}

const OID_COMMON_NAME = '2.5.4.3';

/** The CN the online CA asked for (it numbers its issuing CAs); nothing else of the subject counts. */
function requestedCommonName(subject: Buffer): string | undefined {
  for (const rdn of AsnConvert.parse(subject, Name)) {
    for (const attribute of rdn) {
      if (attribute.type !== OID_COMMON_NAME) continue;
      const value = attribute.value.utf8String ?? attribute.value.printableString;
      if (value && value.length <= 64) return value;
    }
  }
  return undefined;
}

export interface SignedIssuing {
  certificatePem: string;
  commonName: string;
  keyId: string;
  fingerprint: string;
  notAfter: string;
}

/**
 * `lantern-ca root sign-issuing`: certifies the issuing CA key of a CSR (proof of possession,
 * P-256) under the root. The profile decides every extension; only the CN is taken from the CSR.
 */
export async function signIssuingCsr(options: {
  root: OfflineRoot;
  csrPem: string;
  clock: Clock;
}): Promise<SignedIssuing> {
  const csr = parseDeviceCsr(options.csrPem);
  const profile = profiles.issuingCa();
  let commonName: string | undefined;
  try {
    commonName = requestedCommonName(csr.subject);
  } catch {
    throw new CsrInvalidError('the CSR subject is not a distinguished name');
  }
  commonName ??= profile.subject.commonName;
  const rootDer = fromPem(options.root.rootPem);
  const rootSpki = createPublicKey(options.root.rootPem).export({ type: 'spki', format: 'der' });
  const now = new Date(Math.floor(options.clock.now() / 1000) * 1000);
  const der = await signIssuingCertificate({
    now,
    rootName: subjectOf(rootDer),
    rootKeyId: keyIdentifier(rootSpki),
    rootKey: options.root.rootKey,
    profile,
    subjectPublicKeyInfo: csr.subjectPublicKeyInfo,
    commonName,
  });
  return {
    certificatePem: toPem(der),
    commonName,
    keyId: keyIdentifier(csr.subjectPublicKeyInfo).toString('hex'),
    fingerprint: sha256Hex(der),
    notAfter: new Date(now.getTime() + profile.validityDays * 86_400_000).toISOString(),
  };
}
