import type { Clock, DataResidency, Logger } from '@lantern/shared';
import { UsageError, createIdGenerator, createLogger, fromPem, toPem } from '@lantern/shared';
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { issueApiKey } from '../api-keys/api-keys.js';
import { CaAlreadyInitializedError } from '../errors.js';
import { signIssuingCertificate } from '../pki/ca-hierarchy.js';
import { keyIdentifier, subjectOf } from '../pki/certificate-builder.js';
import { sha256Hex } from '../pki/der.js';
import { profiles } from '../pki/profiles.js';
import type { Pkcs11Config, Pkcs11Token } from '../pki/pkcs11-token.js';
import { openPkcs11Token } from '../pki/pkcs11-token.js';
import { encryptPrivateKey } from '../pki/signer.js';
import type { OfflineRoot, RootLocation } from './offline-root.js';
import { initRoot, loadRoot, rootDirPaths } from './offline-root.js';
import { recordableDatabaseUrl } from './database-location.js';
import { openCa } from './open-ca.js';
import { dataDirPaths } from './paths.js';
import type { DataDirPaths } from './paths.js';
import { readPkcs11Settings, writePkcs11Settings } from './pkcs11-settings.js';
import { writePrivateFile, writePublicFile } from './secret-files.js';

export interface InitOptions {
  dataDir: string;
  clock: Clock;
  publicUrl: string;
  /** When absent, a random passphrase is generated into the data dir (dev setups). */
  passphrase?: string;
  /**
   * Where the root key is (made there when the directory holds no root yet): removable media
   * or an offline machine's directory, never the data dir. `'dev-in-data-dir'` is the
   * single-machine dev setup: the root key beside the issuing key, under the data dir's
   * passphrase; anyone with that directory can then mint issuing CAs.
   */
  root: RootLocation | 'dev-in-data-dir';
  logger?: Logger;
  /**
   * Generate the issuing CA key and the token keys on this PKCS#11 token instead of in files:
   * the data dir then records where they are, and holds none of them.
   */
  pkcs11?: Pkcs11Config;
  /** Stamped on every event's envelope (`dataResidency`); absent, events carry none. */
  dataResidency?: DataResidency;
  /** A PostgreSQL URL (no password): the store, recorded in config.json; else SQLite in the data dir. */
  database?: string;
}

export interface InitResult {
  rootFingerprint: string;
  adminApiKey: string;
  adminKeyId: string;
  dataDir: string;
  passphraseFile: string | null;
  /** True only for the labelled dev setup. */
  rootKeyInDataDir: boolean;
}

function isInside(child: string, parent: string): boolean {
  const path = relative(resolve(parent), resolve(child));
  return path === '' || (!path.startsWith('..') && !path.startsWith('/'));
}

export function refuseInitialisedDataDir(dataDir: string): void {
  const paths = dataDirPaths(dataDir);
  if (
    existsSync(paths.issuingKey) ||
    existsSync(paths.database) ||
    readPkcs11Settings(paths) !== null
  ) {
    throw new CaAlreadyInitializedError(
      `${dataDir} already holds a CA; init never overwrites one (serve it with \`lantern-ca serve --data-dir ${dataDir}\`, or init a new directory)`,
    );
  }
}

/** `lantern-ca init`: CA hierarchy, store, a local installation-wide admin key. */
export async function initDataDir(options: InitOptions): Promise<InitResult> {
  const paths = dataDirPaths(options.dataDir);
  refuseInitialisedDataDir(options.dataDir);
  let passphrase = options.passphrase;
  let passphraseFile: string | null = null;
  if (passphrase === undefined) {
    passphrase = randomBytes(32).toString('base64url');
    writePrivateFile(paths.passphraseFile, `${passphrase}\n`);
    passphraseFile = paths.passphraseFile;
  }
  const rootLocation =
    options.root === 'dev-in-data-dir'
      ? { dir: dirname(paths.rootCertificate), passphrase }
      : options.root;
  if (options.root !== 'dev-in-data-dir' && isInside(options.root.dir, options.dataDir)) {
    throw new UsageError(
      `--root-dir ${options.root.dir} is inside the data dir; the root key belongs on offline media (or say --dev-root-in-data-dir for a dev setup)`,
    );
  }
  // The token first: a wrong PIN, label or module is refused before any root is made.
  const token = options.pkcs11 === undefined ? null : openPkcs11Token(options.pkcs11);
  let issuingPublicKey: KeyObject;
  let root: OfflineRoot;
  try {
    if (!existsSync(rootDirPaths(rootLocation.dir).rootKey)) {
      await initRoot({ root: rootLocation, clock: options.clock });
    }
    root = loadRoot(rootLocation);
    // The root signs the issuing CA certificate for the issuing key's public half, wherever
    // that key is held (an encrypted file in the data dir, or the PKCS#11 token).
    issuingPublicKey =
      token === null || options.pkcs11 === undefined
        ? fileHeldIssuingKey(paths, passphrase)
        : tokenHeldIssuingKey(paths, token, options.pkcs11);
  } finally {
    token?.close();
  }
  const rootDer = fromPem(root.rootPem);
  const rootSpki = createPublicKey(root.rootPem).export({ type: 'spki', format: 'der' });
  const issuingCertificate = await signIssuingCertificate({
    now: new Date(Math.floor(options.clock.now() / 1000) * 1000),
    rootName: subjectOf(rootDer),
    rootKeyId: keyIdentifier(rootSpki),
    rootKey: root.rootKey,
    profile: profiles.issuingCa(),
    subjectPublicKeyInfo: issuingPublicKey.export({ type: 'spki', format: 'der' }),
  });
  writePublicFile(paths.rootCertificate, root.rootPem);
  writePublicFile(paths.issuingCertificate, toPem(issuingCertificate));
  const logSalt = randomBytes(32).toString('base64url');
  writePrivateFile(paths.logSalt, logSalt);
  writePublicFile(
    paths.config,
    `${JSON.stringify(
      {
        publicUrl: options.publicUrl,
        createdAt: new Date(options.clock.now()).toISOString(),
        ...(options.dataResidency === undefined ? {} : { dataResidency: options.dataResidency }),
        ...(options.database === undefined
          ? {}
          : { database: recordableDatabaseUrl(options.database) }),
      },
      null,
      2,
    )}\n`,
  );

  const ca = await openCa({
    dataDir: options.dataDir,
    clock: options.clock,
    passphrase,
    ...(options.pkcs11 === undefined
      ? {}
      : { pkcs11: { pin: options.pkcs11.pin, modulePath: options.pkcs11.modulePath } }),
    // What init prints on stdout is its answer (one JSON object with --json): its own records
    // (the admin key's issuance) are events in the store, and only problems go to stderr.
    logger:
      options.logger ??
      createLogger({
        service: 'lantern-ca',
        level: 'warn',
        salt: logSalt,
        destination: process.stderr,
      }),
  });
  try {
    const issued = await issueApiKey(
      ca.context,
      { tenantId: null, scopes: ['admin'], name: 'local admin (lantern-ca init)' },
      {
        actor: { type: 'system', id: 'lantern-ca-init' },
        correlationId: createIdGenerator(options.clock).next('evt'),
      },
    );
    writePrivateFile(paths.adminApiKey, `${issued.apiKey}\n`);
    return {
      rootFingerprint: sha256Hex(rootDer),
      rootKeyInDataDir: options.root === 'dev-in-data-dir',
      adminApiKey: issued.apiKey,
      adminKeyId: issued.keyId,
      dataDir: options.dataDir,
      passphraseFile,
    };
  } finally {
    await ca.close();
  }
}

function fileHeldIssuingKey(paths: DataDirPaths, passphrase: string): KeyObject {
  const issuing = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writePrivateFile(paths.issuingKey, encryptPrivateKey(issuing.privateKey, passphrase));
  return issuing.publicKey;
}

/** The issuing key is generated on the token; the data dir learns only where it is. */
function tokenHeldIssuingKey(paths: DataDirPaths, token: Pkcs11Token, config: Pkcs11Config) {
  const issuing = token.generateKey('lantern-issuing-ca');
  writePkcs11Settings(paths, {
    modulePath: config.modulePath,
    tokenLabel: config.tokenLabel,
    issuingKeyId: issuing.id,
  });
  return issuing.publicKey;
}
