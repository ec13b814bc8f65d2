import { PASSKEY_REFUSALS } from '../../passkeys/passkey-refusals.js';
import { SIGNIN_REFUSALS } from '../../signin/signin-refusals.js';

/**
 * What the page says for each code it can meet: every sign-in and passkey refusal, in the same
 * words as the API and the CLI, and the failures that only the page sees (the browser's
 * WebAuthn errors, the agent not answering). `unknown` is for anything else.
 */
export function pageMessages(): Record<string, string> {
  const messages: Record<string, string> = {};
  for (const [code, { message }] of Object.entries({ ...SIGNIN_REFUSALS, ...PASSKEY_REFUSALS })) {
    messages[code] = message;
  }
  return {
    ...messages,
    missing_fields: 'Type your user name and your password or PIN.',
    reauth_required: 'Type your password or PIN again to add a passkey.',
    agent_unreachable:
      'The Lantern agent on this device is not answering. Wait a moment and try again, or restart the device.',
    unauthorized: 'This page has expired. Reload it and try again.',
    forbidden: 'This page has expired. Reload it and try again.',
    invalid_request: 'Something in the form is not right. Check it and try again.',
    webauthn_unavailable:
      'This browser cannot use passkeys here. Sign in with your password or PIN instead.',
    // Browsers report a failed PIN, fingerprint or face check like a cancel (NotAllowedError).
    webauthn_cancelled:
      'Your passkey did not confirm it is you, or the request was cancelled or timed out. Try again and unlock it with your PIN, fingerprint or face, or sign in with your password.',
    webauthn_failed:
      'The passkey could not be used. Try again, or sign in with your password or PIN.',
    registration_cancelled:
      'No passkey was added: the request was cancelled, timed out, or this device already has one for you.',
    // The CA's refusals of a single sign-on, by its code (`details.caCode`).
    sso_not_configured:
      'Your school has not set up sign-in with school accounts. Sign in with your user name and password or PIN.',
    sso_handoff_pending:
      'The school sign-in was not finished in time. Start again and finish it within a few minutes.',
    sso_handoff_invalid: 'This sign-in expired or was already used. Start again.',
    unknown: 'Something went wrong. Try again; if it keeps happening, tell your teacher.',
  };
}
