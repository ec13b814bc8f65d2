import { join } from 'node:path';

/** Everything the CA keeps on disk, under one directory an admin can back up. */
export function dataDirPaths(dataDir: string) {
  return {
    dataDir,
    database: join(dataDir, 'lantern-ca.db'),
    config: join(dataDir, 'config.json'),
    rootCertificate: join(dataDir, 'ca', 'root.pem'),
    /** Only in a dev setup made with \`init --dev-root-in-data-dir\`; the root key lives offline otherwise. */
    rootKey: join(dataDir, 'ca', 'root.key.pem'),
    issuingCertificate: join(dataDir, 'ca', 'issuing.pem'),
    issuingKey: join(dataDir, 'ca', 'issuing.key.pem'),
    /** A rotation's new issuing CA until it replaces the current one. */
    nextIssuingCertificate: join(dataDir, 'ca', 'issuing.next.pem'),
    nextIssuingKey: join(dataDir, 'ca', 'issuing.next.key.pem'),
    /** A rotation's new issuing key while the offline root signs its CSR (\`ca rotate-issuing --csr-out\`). */
    pendingIssuingKey: join(dataDir, 'ca', 'issuing.pending.key.pem'),
    /** Retired issuing CAs (`<SKI hex>.pem`, `.key.pem`): they keep signing CRLs. */
    retiredIssuers: join(dataDir, 'ca', 'retired'),
    /** Present when the issuing and token keys are on a PKCS#11 token: where, and which. */
    pkcs11Settings: join(dataDir, 'ca', 'pkcs11.json'),
    tokenKeys: join(dataDir, 'keys', 'token-keys.json'),
    /** The token key ring's states and times when its keys are on the PKCS#11 token. */
    tokenKeysPkcs11: join(dataDir, 'keys', 'token-keys.pkcs11.json'),
    /** TPM manufacturer CAs (PEM bundle) for hardware-tier attestation; none, no hardware tier. */
    tpmManufacturers: join(dataDir, 'tpm-manufacturers.pem'),
    passphraseFile: join(dataDir, 'secrets', 'passphrase'),
    adminApiKey: join(dataDir, 'secrets', 'admin-api-key'),
    logSalt: join(dataDir, 'secrets', 'log-salt'),
    /** Held (a SQLite exclusive lock) by the one \`serve\` of this data dir; the OS drops it on exit. */
    serveLock: join(dataDir, 'serve.lock'),
    /** Where the running \`serve\` listens, for the admin CLI; removed on a clean stop. */
    runtime: join(dataDir, 'serve.json'),
  };
}

export type DataDirPaths = ReturnType<typeof dataDirPaths>;
