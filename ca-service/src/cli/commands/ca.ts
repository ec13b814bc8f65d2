import { UsageError, clockFromEnv, optionalString, requireString } from '@lantern/shared';
import type { Command } from '@lantern/shared';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { dataDirPaths } from '../../data-dir/paths.js';
import type { RotationResult } from '../../data-dir/rotate-issuing.js';
import {
  installIssuingCertificate,
  requestIssuingRotation,
  rotateIssuingCa,
} from '../../data-dir/rotate-issuing.js';
import { writePublicFile } from '../../data-dir/secret-files.js';
import { ROOT_OPTIONS, passphraseOf, rootLocationOf } from '../command-kit.js';

const rotated = (dataDir: string, result: RotationResult) => ({
  json: { dataDir, ...result },
  human: [
    `New issuing CA "${result.commonName}" (key id ${result.issuingKeyId}), valid until ${result.notAfter}.`,
    `The previous one (key id ${result.retiredKeyId}) is retired: it issues nothing more but keeps`,
    `signing the CRL of its certificates (GET /v1/crl?issuer=${result.retiredKeyId}).`,
    `Restart \`lantern-ca serve --data-dir ${dataDir}\` to issue with the new one; devices move`,
    'to it as they renew.',
  ].join('\n'),
});

export const caCommands: Command[] = [
  {
    path: ['ca', 'rotate-issuing'],
    summary:
      'Create a new issuing CA under the offline root (the service uses it from its next start)',
    usage:
      'ca rotate-issuing --data-dir D [--passphrase-file F] (--csr-out F | --certificate F | --root-dir R [--root-passphrase-file F] | --dev-root-in-data-dir)\n\n' +
      'Offline root: --csr-out writes the new issuing key’s CSR; sign it on the root’s machine with\n' +
      '`lantern-ca root sign-issuing`, then install the result with --certificate. --root-dir does\n' +
      'all three at once with the root’s media mounted here. --dev-root-in-data-dir: DEV ONLY, for\n' +
      'a data dir made with `init --dev-root-in-data-dir`.',
    options: {
      'data-dir': { type: 'string' },
      'passphrase-file': { type: 'string' },
      'csr-out': { type: 'string' },
      certificate: { type: 'string' },
      ...ROOT_OPTIONS,
      'dev-root-in-data-dir': { type: 'boolean', default: false },
    },
    async run(values, _positionals, io) {
      const dataDir = requireString(values, 'data-dir');
      const csrOut = optionalString(values, 'csr-out');
      const certificate = optionalString(values, 'certificate');
      const devRoot = values['dev-root-in-data-dir'] === true;
      const rootDir = optionalString(values, 'root-dir');
      const modes = [csrOut, certificate, rootDir].filter((v) => v !== undefined).length;
      if (modes + (devRoot ? 1 : 0) !== 1) {
        throw new UsageError(
          'give one of --csr-out F (then sign offline and --certificate F), --root-dir R, or --dev-root-in-data-dir',
        );
      }
      const passphrase = passphraseOf(values, io, dataDir);
      const clock = clockFromEnv(io.env);
      if (csrOut !== undefined) {
        const request = await requestIssuingRotation({ dataDir, passphrase });
        writePublicFile(csrOut, request.csrPem);
        return {
          json: { dataDir, csr: csrOut, ...request },
          human: [
            `The new issuing key (key id ${request.issuingKeyId}) waits in the data dir; its CSR is in ${csrOut}.`,
            `On the offline root: lantern-ca root sign-issuing --root-dir R --csr ${csrOut} --out issuing.pem`,
            `Then here: lantern-ca ca rotate-issuing --data-dir ${dataDir} --certificate issuing.pem`,
          ].join('\n'),
        };
      }
      if (certificate !== undefined) {
        const certificatePem = readFileSync(certificate, 'utf8');
        return rotated(
          dataDir,
          await installIssuingCertificate({ dataDir, passphrase, certificatePem }),
        );
      }
      const root = devRoot
        ? { dir: dirname(dataDirPaths(dataDir).rootKey), passphrase }
        : rootLocationOf(values, io);
      return rotated(dataDir, await rotateIssuingCa({ dataDir, clock, passphrase, root }));
    },
  },
];
