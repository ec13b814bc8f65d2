import { requireString, systemClock } from '@lantern/shared';
import type { Command } from '@lantern/shared';
import { openCa } from '../../data-dir/open-ca.js';
import { requireInitialisedDataDir } from '../../data-dir/require-data-dir.js';
import { acquireServeLock } from '../../data-dir/serve-lock.js';
import { passphraseOf } from '../command-kit.js';

export const projectionsCommands: Command[] = [
  {
    path: ['projections', 'rebuild'],
    summary: 'Rebuild every read model from the event store (run with the service stopped)',
    usage: 'projections rebuild --data-dir D [--passphrase-file F]',
    options: { 'data-dir': { type: 'string' }, 'passphrase-file': { type: 'string' } },
    async run(values, _positionals, io) {
      const dataDir = requireString(values, 'data-dir');
      requireInitialisedDataDir(dataDir);
      const passphrase = passphraseOf(values, io, dataDir);
      // A running service would keep serving from read models rebuilt under its feet.
      const lock = acquireServeLock(dataDir);
      const ca = await openCa({ dataDir, clock: systemClock, passphrase }).catch(
        (error: unknown) => {
          lock.release();
          throw error;
        },
      );
      try {
        const started = Date.now();
        const replayed = await ca.context.store.rebuildProjections((done, total) => {
          if (!values['json']) io.stderr(`  replayed ${done}/${total} events`);
        });
        const seconds = (Date.now() - started) / 1000;
        return {
          json: { replayed, seconds },
          human: `Rebuilt every projection from ${replayed} events in ${seconds.toFixed(2)} s`,
        };
      } finally {
        await ca.close();
        lock.release();
      }
    },
  },
];
