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
 * rather than at start, and answer `not_enrolled` until then.
 */
export function lazySigninAgent(options: {
  dataDir: string;
  clock: Clock;
  validator?: EventValidator;
}): LazySigninAgent {
  let opening: Promise<OpenedSigninAgent> | undefined;
  return {
    async get() {
      opening ??= openSigninAgent(options).catch((error: unknown) => {
        opening = undefined;
        throw error;
      });
      return (await opening).agent;
    },
    async close() {
      const current = opening;
      opening = undefined;
      if (current) (await current.catch(() => undefined))?.opened.close();
    },
  };
}
