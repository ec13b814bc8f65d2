import { signInOffline } from './offline-signin.js';
import { signInOnline } from './online-signin.js';
import type { SigninAgent, SigninInput, SigninOptions, SigninVerdict } from './signin-agent.js';

/**
 * `lantern-agent signin` and `POST /v1/signin`: online when the CA answers, offline only when
 * it gives no answer (no connection, timeout, 5xx, 429). A refusal from the CA is final, so
 * a suspended or locked account cannot fall back to a looser offline check.
 */
export async function signIn(
  agent: SigninAgent,
  input: SigninInput,
  options: SigninOptions = {},
): Promise<SigninVerdict> {
  const online = await signInOnline(agent, input, options);
  if (online.kind === 'answered') return online.verdict;
  return signInOffline(agent, input, options);
}
