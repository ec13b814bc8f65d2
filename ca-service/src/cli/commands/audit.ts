import { optionalString, requireString, systemClock } from '@lantern/shared';
import type { Command } from '@lantern/shared';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditCheckpoints } from '../../audit/audit-checkpoints.js';
import { verifyChain } from '../../audit/verify-chain.js';
import { retiredIssuerIds } from '../../data-dir/rotate-issuing.js';
import { AuditChainBrokenError } from '../../errors.js';
import { openIssuingSigner } from '../../data-dir/issuing-signer.js';
import { passphraseOf } from '../command-kit.js';
import { PKCS11_OPTIONS, pkcs11OpenOptions } from '../pkcs11-options.js';
import { DATABASE_OPTION, databaseGiven, openStore, progress } from '../local-store.js';

export const auditCommands: Command[] = [
  {
    path: ['audit', 'verify'],
    summary:
      'Verify the event hash chain and the signed checkpoints; names the first broken position',
    usage: 'audit verify --data-dir D [--database postgres://…] [--json]',
    options: { 'data-dir': { type: 'string' }, ...DATABASE_OPTION },
    async run(values, _positionals, io) {
      const { store, paths, close } = await openStore(
        requireString(values, 'data-dir'),
        databaseGiven(values, io),
      );
      try {
        const chain = await verifyChain(store, progress(values, io, 'verified'));
        const checkpoints = await new AuditCheckpoints(store, systemClock, {
          issuingPem: readFileSync(paths.issuingCertificate, 'utf8'),
          retiredIssuingPems: retiredIssuerIds(paths).map((id) =>
            readFileSync(join(paths.retiredIssuers, `${id}.pem`), 'utf8'),
          ),
        }).verifyStored();
        const firstBadCheckpoint = checkpoints.failures.at(-1);
        if (!chain.ok) {
          throw new AuditChainBrokenError(
            `the hash chain breaks at position ${chain.brokenAt}: ${chain.reason}`,
            { details: { ...chain, checkpointFailures: checkpoints.failures } },
          );
        }
        if (firstBadCheckpoint) {
          throw new AuditChainBrokenError(
            `the checkpoint at position ${firstBadCheckpoint.position} (${firstBadCheckpoint.time}) does not verify: ${firstBadCheckpoint.reason}`,
            { details: { ...chain, checkpointFailures: checkpoints.failures } },
          );
        }
        return {
          json: {
            ok: true,
            checked: chain.checked,
            head: chain.head,
            checkpoints: checkpoints.checked,
          },
          human: `Hash chain intact: ${chain.checked} events, head ${chain.head.position} ${chain.head.hash}; ${checkpoints.checked} signed checkpoints verify.`,
        };
      } finally {
        await close();
      }
    },
  },
  {
    path: ['audit', 'checkpoint'],
    summary: 'Sign a checkpoint of the hash chain head with the issuing CA key',
    usage: 'audit checkpoint --data-dir D [--passphrase-file F] [--pkcs11-pin-file F]',
    options: {
      'data-dir': { type: 'string' },
      ...DATABASE_OPTION,
      'passphrase-file': { type: 'string' },
      'pkcs11-module': PKCS11_OPTIONS['pkcs11-module'],
      'pkcs11-pin-file': PKCS11_OPTIONS['pkcs11-pin-file'],
    },
    async run(values, _positionals, io) {
      const dataDir = requireString(values, 'data-dir');
      const { store, paths, close } = await openStore(dataDir, databaseGiven(values, io));
      let issuing: ReturnType<typeof openIssuingSigner> | undefined;
      try {
        issuing = openIssuingSigner(
          paths,
          passphraseOf(values, io, dataDir),
          pkcs11OpenOptions(values, io, dataDir),
        );
        const checkpoint = await new AuditCheckpoints(store, systemClock, {
          issuingPem: readFileSync(paths.issuingCertificate, 'utf8'),
          signer: issuing.signer,
        }).create();
        return {
          json: { ...checkpoint },
          human: `Signed checkpoint at position ${checkpoint.position} (${checkpoint.headHash}):\n${checkpoint.jws}`,
        };
      } finally {
        issuing?.close();
        await close();
      }
    },
  },
  {
    path: ['audit', 'checkpoints'],
    summary: 'Export the signed checkpoints (keep a copy outside the CA host)',
    usage: 'audit checkpoints --data-dir D [--out FILE.ndjson]',
    options: { 'data-dir': { type: 'string' }, out: { type: 'string' }, ...DATABASE_OPTION },
    async run(values, _positionals, io) {
      const { store, paths, close } = await openStore(
        requireString(values, 'data-dir'),
        databaseGiven(values, io),
      );
      try {
        const checkpoints = await new AuditCheckpoints(store, systemClock, {
          issuingPem: readFileSync(paths.issuingCertificate, 'utf8'),
        }).list(Number.MAX_SAFE_INTEGER);
        const out = optionalString(values, 'out');
        if (out !== undefined)
          writeFileSync(out, checkpoints.map((c) => `${JSON.stringify(c)}\n`).join(''));
        return {
          json: { count: checkpoints.length, ...(out === undefined ? { checkpoints } : { out }) },
          human:
            out !== undefined
              ? `Wrote ${checkpoints.length} checkpoints to ${out}`
              : checkpoints.map((c) => `${c.time}  ${c.position}  ${c.jws}`).join('\n') ||
                'No checkpoints yet.',
        };
      } finally {
        await close();
      }
    },
  },
];
