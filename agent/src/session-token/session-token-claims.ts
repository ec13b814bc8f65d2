/** `typ` of offline session tokens (docs/architecture.md §4); verifiers refuse any other type. */
export const SESSION_TOKEN_TYPE = 'lantern-session+jwt';
/** Session tokens are for apps on this device, never for the CA or other services. */
export const SESSION_TOKEN_AUDIENCE = 'lantern-local';

/** What an agent-minted session token states; times are epoch seconds. */
export interface SessionTokenClaims {
  /** `urn:lantern:device:<tenantId>:<deviceId>`: the binding certificate's SAN URI. */
  iss: string;
  sub: string;
  aud: typeof SESSION_TOKEN_AUDIENCE;
  sid: string;
  grt: string;
  /**
   * When the grant was issued (its signed `iat`). Not in docs/architecture.md §4's list: a user revoked at R
   * revokes grants issued before R, and so every token minted under them, including tokens
   * minted after R by a device that had not synced yet. The token's own `iat` cannot tell.
   */
  grt_iat: number;
  tenant: string;
  amr: string[];
  iat: number;
  exp: number;
}
