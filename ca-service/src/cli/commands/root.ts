import { clockFromEnv, requireString } from '@lantern/shared';
import type { Command } from '@lantern/shared';
import { readFileSync } from 'node:fs';
import { initRoot, loadRoot, signIssuingCsr } from '../../data-dir/offline-root.js';
import { writePublicFile } from '../../data-dir/secret-files.js';
import { ROOT_OPTIONS, rootLocationOf } from '../command-kit.js';

/** The offline root ceremony: run on the machine (or with the media) that holds the root, never the online CA. */
export const rootCommands: Command[] = [
  {
    path: ['root', 'init'],
    summary: 'Create the offline root CA in a directory of its own (removable media)',
    usage:
      'root init --root-dir R [--root-passphrase-file F]\n\n' +
      'The root key is encrypted with its own passphrase (LANTERN_CA_ROOT_PASSPHRASE or\n' +
      '--root-passphrase-file), not the online CA’s. Then: lantern-ca init --data-dir D --root-dir R',
    options: { ...ROOT_OPTIONS },
    async run(values, _positionals, io) {
      const root = rootLocationOf(values, io);
      const result = await initRoot({ root, clock: clockFromEnv(io.env) });
      return {
        json: { rootDir: root.dir, rootFingerprint: result.rootFingerprint },
        human: [
          `Created the offline root in ${root.dir}.`,
          `Root certificate SHA-256 fingerprint: ${result.rootFingerprint}`,
        ].join('\n'),
      };
    },
  },
  {
    path: ['root', 'sign-issuing'],
    summary: 'Sign an issuing CA CSR with the offline root (a rotation’s second step)',
    usage: 'root sign-issuing --root-dir R --csr F --out F [--root-passphrase-file F]',
    options: { ...ROOT_OPTIONS, csr: { type: 'string' }, out: { type: 'string' } },
    async run(values, _positionals, io) {
      const root = rootLocationOf(values, io);
      const csrPem = readFileSync(requireString(values, 'csr'), 'utf8');
      const out = requireString(values, 'out');
      const signed = await signIssuingCsr({
        root: loadRoot(root),
        csrPem,
        clock: clockFromEnv(io.env),
      });
      writePublicFile(out, signed.certificatePem);
      const { certificatePem: _pem, ...summary } = signed;
      return {
        json: { out, ...summary },
        human: [
          `Signed issuing CA "${signed.commonName}" (key id ${signed.keyId}), valid until ${signed.notAfter}: ${out}`,
          `Install it on the online CA: lantern-ca ca rotate-issuing --data-dir D --certificate ${out}`,
        ].join('\n'),
      };
    },
  },
];
