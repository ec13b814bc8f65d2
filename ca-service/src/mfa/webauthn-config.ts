/** The relying party the CA is for WebAuthn: passkeys registered here work on these origins. */
export interface WebAuthnConfig {
  rpId: string;
  rpName: string;
  /** Full origins (`https://id.example.org`) whose pages may run the ceremonies. */
  origins: string[];
}

export const DEFAULT_RP_ID = 'localhost';

/**
 * Fills the gaps from the public URL: the default origin is the public URL's own when its host
 * belongs to the RP ID, else the same scheme and port on the RP ID (a CA published as
 * http://127.0.0.1:8080 has its page at http://localhost:8080 for rpId `localhost`).
 */
export function webAuthnConfig(
  publicUrl: string,
  given: Partial<WebAuthnConfig> = {},
): WebAuthnConfig {
  const rpId = given.rpId ?? DEFAULT_RP_ID;
  const url = new URL(publicUrl);
  const ownHost = url.hostname === rpId || url.hostname.endsWith(`.${rpId}`);
  const origin = ownHost ? url.origin : `${url.protocol}//${rpId}${url.port ? `:${url.port}` : ''}`;
  return {
    rpId,
    rpName: given.rpName ?? 'Lantern',
    origins: given.origins && given.origins.length > 0 ? [...given.origins] : [origin],
  };
}
