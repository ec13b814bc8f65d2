import type { Command } from '@lantern/shared';
import { clockFromEnv, optionalString } from '@lantern/shared';
import { resolveDataDir } from '../data-dir/agent-paths.js';
import type { RenewalOutcome } from '../renewal/renew-binding.js';

export function renewedText(outcome: RenewalOutcome & { renewed: true }): string {
  return `Renewed the binding of device ${outcome.deviceId}${outcome.afterExpiry ? ' (it had expired; renewed within the grace period)' : ''}: serial ${outcome.serial}, valid until ${outcome.notAfter}, ${outcome.rekeyed ? `new device key ${outcome.keyThumbprint}` : 'same device key'}.`;
}

/**
 * `lantern-agent renew`: renews the binding certificate now, with a new device key unless
 * `--keep-key`. `serve` and `sync` do the same on their own once it is due; this is for an
 * admin who wants it done before a long offline stretch. The CA refuses before its renewal
 * window (`renewal_too_early`) and after the grace period (`binding_expired`: re-enroll).
 */
export const renewCommand: Command = {
  path: ['renew'],
  summary: 'Renew the binding certificate now (new device key unless --keep-key)',
  usage: 'renew [--data-dir D] [--keep-key]',
  options: { 'data-dir': { type: 'string' }, 'keep-key': { type: 'boolean', default: false } },
  async run(values, _positionals, io) {
    const dataDir = resolveDataDir(optionalString(values, 'data-dir'), io.env);
    const { renewBinding } = await import('../renewal/renew-binding.js');
    const outcome = await renewBinding({
      dataDir,
      clock: clockFromEnv(io.env),
      when: 'now',
      rekey: values['keep-key'] !== true,
    });
    if (!outcome.renewed) throw new Error('a renewal asked for now always renews or refuses');
    return { json: { dataDir, ...outcome }, human: renewedText(outcome) };
  },
};
