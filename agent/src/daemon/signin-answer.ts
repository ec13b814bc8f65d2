import type { SigninSuccess, SigninVerdict } from '../signin/signin-agent.js';
import { refusalError } from '../signin/signin-refusals.js';

/**
 * What the loopback API answers for a sign-in verdict, whatever the method: the session for
 * the app, or the refusal as `{ code, message, details }`.
 */
export function signinAnswer(
  verdict: SigninVerdict,
): { answer: Record<string, unknown> } | { error: Error } {
  if (!verdict.ok) {
    const details = {
      ...(verdict.lockedUntil === undefined
        ? {}
        : { lockedUntil: new Date(verdict.lockedUntil).toISOString() }),
      ...(verdict.caCode === undefined ? {} : { caCode: verdict.caCode }),
    };
    return {
      error: refusalError(verdict.code, Object.keys(details).length > 0 ? details : undefined),
    };
  }
  return { answer: signedInAnswer(verdict) };
}

/** A session for the app, whichever way the person signed in (password, passkey, school account). */
export function signedInAnswer(verdict: SigninSuccess): Record<string, unknown> {
  return {
    ok: true,
    mode: verdict.mode,
    token: verdict.token,
    sessionId: verdict.sessionId,
    userId: verdict.userId,
    username: verdict.username,
    expiresAt: new Date(verdict.expiresAt).toISOString(),
    ...(verdict.accessToken === undefined ? {} : { accessToken: verdict.accessToken }),
  };
}
