import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TpmUnavailableError } from '../../errors.js';

/** TPM_RC_LOCKOUT: the dictionary-attack protection is refusing DA-protected authorizations. */
const RC_LOCKOUT = 0x921;
/** TPM_RC_AUTH_FAIL and TPM_RC_BAD_AUTH, format-1 codes with the session bits masked off. */
const RC_AUTH_FAIL = 0x8e;
const RC_BAD_AUTH = 0xa2;
const FMT1 = 0x80;
/** TPM_RC_OBJECT_MEMORY: no free transient slot. */
const RC_OBJECT_MEMORY = 0x902;
/** TPM_RC_SESSION_MEMORY: no free session slot. */
const RC_SESSION_MEMORY = 0x903;
/** Owner persistent handles (TCG handle registry); the low bits are drawn at random. */
const PERSISTENT_OWNER_BASE = 0x81000000;
const PERSISTENT_SPAN = 0x800000;
const TOOL_TIMEOUT_MS = 30_000;

/** A tpm2-tools run that the TPM answered with an error code (not a missing tool or TPM). */
export class TpmCommandError extends Error {
  constructor(
    readonly tool: string,
    readonly responseCode: number | null,
    stderr: string,
  ) {
    super(
      `${tool} failed${responseCode === null ? '' : ` (TPM rc 0x${responseCode.toString(16)})`}: ${lastLine(stderr)}`,
    );
    this.name = 'TpmCommandError';
  }

  get lockout(): boolean {
    return this.responseCode === RC_LOCKOUT;
  }

  /** A wrong authValue: the TPM counted it in its dictionary-attack counter. */
  get authFailed(): boolean {
    const code = this.responseCode;
    if (code === null || (code & FMT1) === 0) return false;
    const base = code & 0xbf;
    return base === RC_AUTH_FAIL || base === RC_BAD_AUTH;
  }
}

export interface RunOptions {
  /** Bytes for the tool's stdin: where secrets go (`-i -`, `-p file:-`), never argv. */
  input?: Uint8Array;
}

/**
 * Runs tpm2-tools against one TPM (`TPM2TOOLS_TCTI`). Without a resource manager (swtpm's
 * socket, or /dev/tpm0 opened directly) objects loaded by one tool stay in the TPM's few
 * transient slots after it exits, so every operation flushes them (`tpm2_flushcontext -t`)
 * when done. Synchronous on purpose: `DeviceKeyStore.sign` is synchronous, and a TPM
 * operation takes a few tens of milliseconds. Secrets travel over stdin and stdout only: the
 * argument list of a process is readable by every other user of the machine.
 */
export class Tpm2Tools {
  constructor(readonly tcti: string) {}

  run(tool: string, args: readonly string[], options: RunOptions = {}): Buffer {
    try {
      return this.runOnce(tool, args, options);
    } catch (error) {
      // Some tools (tpm2_ecdhzgen) leave their parameter-encryption session loaded; without a
      // resource manager nothing else frees it, and the next tool that needs one fails.
      if (!(error instanceof TpmCommandError) || error.responseCode !== RC_SESSION_MEMORY) {
        throw error;
      }
      this.runOnce('tpm2_flushcontext', ['-l'], {});
      return this.runOnce(tool, args, options);
    }
  }

  private runOnce(tool: string, args: readonly string[], options: RunOptions): Buffer {
    try {
      return execFileSync(tool, args, {
        env: { ...process.env, TPM2TOOLS_TCTI: this.tcti },
        input: options.input,
        stdio: ['pipe', 'pipe', 'pipe'],
        timeout: TOOL_TIMEOUT_MS,
        maxBuffer: 1 << 20,
      });
    } catch (error) {
      const failure = error as NodeJS.ErrnoException & { stderr?: Buffer; status?: number | null };
      if (failure.code === 'ENOENT') {
        throw new TpmUnavailableError(`${tool} is not installed: apt-get install -y tpm2-tools`);
      }
      const stderr = failure.stderr?.toString('utf8') ?? '';
      const rc = responseCodeOf(stderr);
      if (rc === null) {
        throw new TpmUnavailableError(
          `${tool} could not use the TPM at ${this.tcti}: ${lastLine(stderr)}`,
        );
      }
      throw new TpmCommandError(tool, rc, stderr);
    }
  }

  flushTransient(): void {
    this.run('tpm2_flushcontext', ['-t']);
  }

  /**
   * Runs `fn` with a private scratch directory (0700) for object contexts and public parts;
   * it never holds a secret. Afterwards the directory goes and the TPM's transient slots are
   * flushed.
   */
  withScratch<T>(fn: (dir: string) => T): T {
    const dir = mkdtempSync(join(tmpdir(), 'lantern-tpm-'));
    try {
      return fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      this.flushTransient();
    }
  }

  /**
   * The storage primary key (owner hierarchy, ECC P-256), made once at enrollment and made
   * persistent at a free handle, so that each later operation is one load instead of a fresh
   * primary. Its children are wrapped with it and load only on this TPM.
   */
  persistPrimary(): string {
    return this.withScratch((dir) => {
      const context = join(dir, 'primary.ctx');
      this.run('tpm2_createprimary', [
        ...['-C', 'o', '-G', 'ecc256', '-c', context, '-Q'],
        // The default template plus `noda`: loading the device key must still work while a
        // guessing loop has the TPM in dictionary-attack lockout.
        ...['-a', 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt'],
      ]);
      for (let attempt = 0; ; attempt++) {
        const handle = `0x${(PERSISTENT_OWNER_BASE + randomInt(PERSISTENT_SPAN)).toString(16)}`;
        try {
          this.run('tpm2_evictcontrol', ['-C', 'o', '-c', context, handle, '-Q']);
          return handle;
        } catch (error) {
          // Taken by someone else: another handle.
          if (error instanceof TpmCommandError && attempt < 8) continue;
          throw error;
        }
      }
    });
  }

  /** Removes a persistent primary (a failed enrollment, or a wiped device). */
  evict(handle: string): void {
    this.run('tpm2_evictcontrol', ['-C', 'o', '-c', handle, '-Q']);
  }

  /**
   * Loads a child (its `.pub`/`.priv` blobs) under the persistent primary and runs `fn` with its
   * context. A TPM whose slots a crashed process left full is flushed and tried once more.
   */
  withObject<T>(
    parent: string,
    blobs: { pub: string; priv: string },
    fn: (context: string, dir: string) => T,
  ): T {
    return this.withScratch((dir) => {
      const context = join(dir, 'object.ctx');
      const load = () =>
        this.run('tpm2_load', [
          '-C',
          parent,
          '-u',
          blobs.pub,
          '-r',
          blobs.priv,
          '-c',
          context,
          '-Q',
        ]);
      try {
        try {
          load();
        } catch (error) {
          if (!(error instanceof TpmCommandError) || error.responseCode !== RC_OBJECT_MEMORY) {
            throw error;
          }
          this.flushTransient();
          load();
        }
      } catch (error) {
        if (!(error instanceof TpmCommandError)) throw error;
        // Blobs made by another TPM, or a primary that is gone: nothing here can use them.
        throw new TpmUnavailableError(
          `the key blobs ${blobs.priv} do not load on the TPM at ${this.tcti}: ${error.message}`,
          { cause: error },
        );
      }
      return fn(context, dir);
    });
  }
}

function responseCodeOf(stderr: string): number | null {
  const match = /ErrorCode \(0x([0-9a-fA-F]+)\)/.exec(stderr);
  if (!match?.[1]) return null;
  const code = Number.parseInt(match[1], 16);
  // Layer bits above the low 16 mean the TSS stack failed (no TPM at the TCTI), not the TPM.
  return code >>> 16 === 0 ? code : null;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}
