import type { Clock, EventValidator } from '@lantern/shared';
import type { OpenedSigninAgent } from '../signin/open-signin-agent.js';
import { openSigninAgent } from '../signin/open-signin-agent.js';
import type { SigninAgent } from '../signin/signin-agent.js';

export interface LazySigninAgent {
  /** Opens the keys on first use; a failed opening is tried again on the next call. */
  get(): Promise<SigninAgent>;
  close(): Promise<void>;
}

/**
 * The daemon may start before enrollment, so routes that need the keys open them on first use
 * rather than at start, and answer `not_enrolled` until then. A renewal (background sync, or
 * `lantern-agent renew` in another process) replaces the certificate and key underneath: the
 * next call sees the stored certificate changed and opens the new binding. The old opening is
 * closed only at `close()`, since a sign-in may still be using it.
 */
export function lazySigninAgent(options: {
  dataDir: string;
  clock: Clock;
  validator?: EventValidator;
}): LazySigninAgent {
  let opening: Promise<OpenedSigninAgent> | undefined;
  const superseded: OpenedSigninAgent[] = [];
  const renewed = (opened: OpenedSigninAgent): boolean =>
    opened.opened.store.db
      .prepare<[], string>('SELECT certificate_pem FROM binding WHERE id = 1')
      .pluck()
      .get() !== opened.opened.binding.certificatePem;
  return {
    async get() {
      opening ??= openSigninAgent(options).catch((error: unknown) => {
        opening = undefined;
        throw error;
      });
      const opened = await opening;
      if (!renewed(opened)) return opened.agent;
      superseded.push(opened);
      opening = undefined;
      return this.get();
    },
    async close() {
      const current = opening;
      opening = undefined;
      if (current) (await current.catch(() => undefined))?.opened.close();
      for (const old of superseded.splice(0)) old.opened.close();
    },
  };
}
