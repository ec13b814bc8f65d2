/**
 * The claims of a compact JWS without checking anything. Only for reading our own tokens (the
 * jti of the proof we just signed, the iat of a grant we stored after verifying it) or for
 * choosing the instant at which a token is then verified; never for a decision on its own.
 */
export function unverifiedClaims(token: string): Record<string, unknown> | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const claims = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')) as unknown;
    return typeof claims === 'object' && claims !== null && !Array.isArray(claims)
      ? (claims as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
