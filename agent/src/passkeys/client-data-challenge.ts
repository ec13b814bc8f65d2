/**
 * The challenge a WebAuthn response answers, read from its clientDataJSON so that the pending
 * challenge can be found (and consumed) before anything else; the library checks the rest of
 * the client data again. `null` when the JSON is not client data at all.
 */
export function challengeOf(clientDataJSON: string): string | null {
  try {
    const data = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as unknown;
    const challenge = (data as { challenge?: unknown } | null)?.challenge;
    return typeof challenge === 'string' && challenge.length > 0 ? challenge : null;
  } catch {
    return null;
  }
}
