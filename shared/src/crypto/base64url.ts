const BASE64URL = /^[A-Za-z0-9_-]*$/;

export function base64urlEncode(data: Uint8Array | string): string {
  const bytes =
    typeof data === 'string'
      ? Buffer.from(data, 'utf8')
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return bytes.toString('base64url');
}

/**
 * Unpadded RFC 4648 §5 only, and canonical (unused trailing bits zero). Node's own decoder skips
 * characters it does not know, so two different strings could name the same bytes; anything
 * compared or hashed as text (JWS segments, thumbprints) must not allow that. Throws TypeError.
 */
export function base64urlDecode(text: string): Uint8Array {
  if (!BASE64URL.test(text) || text.length % 4 === 1) {
    throw new TypeError('not unpadded base64url');
  }
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) throw new TypeError('non-canonical base64url');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
