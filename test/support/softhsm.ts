import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian's `softhsm2` package puts its PKCS#11 module here. */
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export interface SoftHsm {
  modulePath: string;
  tokenLabel: string;
  pin: string;
  /** Another empty token in the same store: "the right HSM, the wrong token". */
  otherTokenLabel: string;
  close(): void;
}

/**
 * A throwaway SoftHSM2 store for one test file: its own config and token directory, so tests
 * never touch /var/lib/softhsm or each other. SoftHSM reads SOFTHSM2_CONF when a process first
 * initialises the module, so this is set before anything opens it (vitest runs each file in
 * its own process).
 */
export function startSoftHsm(): SoftHsm {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-softhsm-'));
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(
    conf,
    `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`,
  );
  process.env['SOFTHSM2_CONF'] = conf;
  const pin = '246810';
  const init = (label: string) =>
    execFileSync(
      'softhsm2-util',
      ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', '13579135'],
      { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: 'pipe' },
    );
  init('lantern-ca-test');
  init('lantern-other');
  return {
    modulePath: SOFTHSM_MODULE,
    tokenLabel: 'lantern-ca-test',
    pin,
    otherTokenLabel: 'lantern-other',
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}
