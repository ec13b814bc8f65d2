/**
 * The claims of a compact JWS without checking anything. Only for reading our own tokens (the
 * jti of the proof we just signed, the iat of a grant we stored after verifying it) or for
 * choosing the instant at which a token is then verified; never for a decision on its own.
 */
export function unverifiedClaims(token: string): Record<string, unknown> | null {
  return unverifiedPart(token, 1);
}

/**
 * The protected header of a compact JWS without checking anything, under the same rule: the
 * `kid` of a grant stored after it verified, the certificate a proof names before its chain is
 * checked.
 */
export function unverifiedHeader(token: string): Record<string, unknown> | null {
  return unverifiedPart(token, 0);
}

function unverifiedPart(token: string, index: 0 | 1): Record<string, unknown> | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const part = JSON.parse(
      Buffer.from(parts[index] ?? '', 'base64url').toString('utf8'),
    ) as unknown;
    return typeof part === 'object' && part !== null && !Array.isArray(part)
      ? (part as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
