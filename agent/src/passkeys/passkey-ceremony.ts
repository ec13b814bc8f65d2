import type { SigninAgent } from '../signin/signin-agent.js';
import type { LocalVerifier } from '../verify/local-verifier.js';
import type { PasskeyChallenges } from './passkey-challenges.js';
import type { PasskeyConfig } from './passkey-config.js';
import type { PasskeyRefusalCode } from './passkey-refusals.js';
import { PasskeyStore } from './passkey-store.js';

/** What both ceremonies work with; one per opened agent. */
export interface PasskeyCeremony {
  agent: SigninAgent;
  passkeys: PasskeyStore;
  config: PasskeyConfig;
  challenges: PasskeyChallenges;
  /** Checks the session token that proves a signed-in user before a registration. */
  verifier: LocalVerifier;
}

export interface PasskeyRefusal {
  ok: false;
  code: PasskeyRefusalCode;
}

export function createPasskeyCeremony(deps: Omit<PasskeyCeremony, 'passkeys'>): PasskeyCeremony {
  return { ...deps, passkeys: new PasskeyStore(deps.agent.store, deps.agent.dataKey) };
}
