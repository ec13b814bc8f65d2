import { clockFromEnv, requireString } from '@lantern/shared';
import type { Command } from '@lantern/shared';
import { rotateIssuingCa } from '../../data-dir/rotate-issuing.js';
import { passphraseOf } from '../command-kit.js';

export const caCommands: Command[] = [
  {
    path: ['ca', 'rotate-issuing'],
    summary: 'Create a new issuing CA under the root (the service uses it from its next start)',
    usage: 'ca rotate-issuing --data-dir D [--passphrase-file F]',
    options: { 'data-dir': { type: 'string' }, 'passphrase-file': { type: 'string' } },
    async run(values, _positionals, io) {
      const dataDir = requireString(values, 'data-dir');
      const passphrase = passphraseOf(values, io, dataDir);
      const result = await rotateIssuingCa({ dataDir, clock: clockFromEnv(io.env), passphrase });
      return {
        json: { dataDir, ...result },
        human: [
          `New issuing CA "${result.commonName}" (key id ${result.issuingKeyId}), valid until ${result.notAfter}.`,
          `The previous one (key id ${result.retiredKeyId}) is retired: it issues nothing more but keeps`,
          `signing the CRL of its certificates (GET /v1/crl?issuer=${result.retiredKeyId}).`,
          `Restart \`lantern-ca serve --data-dir ${dataDir}\` to issue with the new one; devices move`,
          'to it as they renew. If the root key lives offline, move ca/root.key.pem away again now.',
        ].join('\n'),
      };
    },
  },
];
