import type { Clock, DataResidency, Logger } from '@lantern/shared';
import { createIdGenerator, createLogger, toPem } from '@lantern/shared';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { issueApiKey } from '../api-keys/api-keys.js';
import { CaAlreadyInitializedError } from '../errors.js';
import { createCaHierarchy, createRootFor } from '../pki/ca-hierarchy.js';
import { sha256Hex } from '../pki/der.js';
import { profiles } from '../pki/profiles.js';
import type { Pkcs11Config } from '../pki/pkcs11-token.js';
import { openPkcs11Token } from '../pki/pkcs11-token.js';
import { encryptPrivateKey } from '../pki/signer.js';
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
  logger?: Logger;
  /**
   * Generate the issuing CA key and the token keys on this PKCS#11 token instead of in files:
   * the data dir then records where they are, and holds none of them.
   */
  pkcs11?: Pkcs11Config;
  /** Stamped on every event's envelope (`dataResidency`); absent, events carry none. */
  dataResidency?: DataResidency;
}

export interface InitResult {
  rootFingerprint: string;
  adminApiKey: string;
  adminKeyId: string;
  dataDir: string;
  passphraseFile: string | null;
}

/** `lantern-ca init`: CA hierarchy, store, a local installation-wide admin key. */
export async function initDataDir(options: InitOptions): Promise<InitResult> {
  const paths = dataDirPaths(options.dataDir);
  if (
    existsSync(paths.issuingKey) ||
    existsSync(paths.database) ||
    readPkcs11Settings(paths) !== null
  ) {
    throw new CaAlreadyInitializedError(
      `${options.dataDir} already holds a CA; init never overwrites one (serve it with \`lantern-ca serve --data-dir ${options.dataDir}\`, or init a new directory)`,
    );
  }
  let passphrase = options.passphrase;
  let passphraseFile: string | null = null;
  if (passphrase === undefined) {
    passphrase = randomBytes(32).toString('base64url');
    writePrivateFile(paths.passphraseFile, `${passphrase}\n`);
    passphraseFile = paths.passphraseFile;
  }
  const hierarchy =
    options.pkcs11 === undefined
      ? await fileHeldHierarchy(paths, options.clock, passphrase)
      : await tokenHeldHierarchy(paths, options.clock, options.pkcs11);
  writePrivateFile(paths.rootKey, encryptPrivateKey(hierarchy.rootKey, passphrase));
  writePublicFile(paths.rootCertificate, toPem(hierarchy.rootCertificate));
  writePublicFile(paths.issuingCertificate, toPem(hierarchy.issuingCertificate));
  const logSalt = randomBytes(32).toString('base64url');
  writePrivateFile(paths.logSalt, logSalt);
  writePublicFile(
    paths.config,
    `${JSON.stringify(
      {
        publicUrl: options.publicUrl,
        createdAt: new Date(options.clock.now()).toISOString(),
        ...(options.dataResidency === undefined ? {} : { dataResidency: options.dataResidency }),
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
    const issued = issueApiKey(
      ca.context,
      { tenantId: null, scopes: ['admin'], name: 'local admin (lantern-ca init)' },
      {
        actor: { type: 'system', id: 'lantern-ca-init' },
        correlationId: createIdGenerator(options.clock).next('evt'),
      },
    );
    writePrivateFile(paths.adminApiKey, `${issued.apiKey}\n`);
    return {
      rootFingerprint: sha256Hex(hierarchy.rootCertificate),
      adminApiKey: issued.apiKey,
      adminKeyId: issued.keyId,
      dataDir: options.dataDir,
      passphraseFile,
    };
  } finally {
    ca.close();
  }
}

async function fileHeldHierarchy(paths: DataDirPaths, clock: Clock, passphrase: string) {
  const hierarchy = await createCaHierarchy(clock, profiles.rootCa(), profiles.issuingCa());
  writePrivateFile(paths.issuingKey, encryptPrivateKey(hierarchy.issuingKey, passphrase));
  return hierarchy;
}

/** The issuing key is generated on the token; the data dir learns only where it is. */
async function tokenHeldHierarchy(paths: DataDirPaths, clock: Clock, config: Pkcs11Config) {
  const token = openPkcs11Token(config);
  try {
    const issuing = token.generateKey('lantern-issuing-ca');
    const hierarchy = await createRootFor(
      clock,
      profiles.rootCa(),
      profiles.issuingCa(),
      issuing.publicKey,
    );
    writePkcs11Settings(paths, {
      modulePath: config.modulePath,
      tokenLabel: config.tokenLabel,
      issuingKeyId: issuing.id,
    });
    return hierarchy;
  } finally {
    token.close();
  }
}
