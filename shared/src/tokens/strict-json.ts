const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes one base64url JWS segment into a JSON object, or null when it is anything else.
 * Stricter than JSON.parse on purpose: bytes that are not UTF-8 (rather than U+FFFD), a BOM,
 * and duplicate member names are refused, because two parsers that disagree on which `exp` or
 * `aud` wins are a known way to slip a token past one of them (RFC 7515 §5.2, RFC 8725 §2.7).
 * `__proto__` is refused too, so no caller that merges claims can have its prototype replaced.
 */
export function decodeJsonObjectSegment(segment: string): Record<string, unknown> | null {
  // Callers have checked the alphabet; a length of 4n+1 is the one shape Buffer would truncate.
  if (segment.length % 4 === 1) return null;
  let text: string;
  let value: unknown;
  try {
    text = utf8.decode(Buffer.from(segment, 'base64url'));
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  return hasAmbiguousMember(text) ? null : (value as Record<string, unknown>);
}

/** Runs on text JSON.parse has already accepted, so it only has to track member names. */
function hasAmbiguousMember(text: string): boolean {
  const frames: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char === 0x22) {
      let end = i + 1;
      let escaped = false;
      for (let next = text.charCodeAt(end); next !== 0x22; next = text.charCodeAt(++end)) {
        if (next === 0x5c) {
          escaped = true;
          end++;
        }
      }
      if (expectKey) {
        const names = frames[frames.length - 1];
        // Escapes must be resolved first: "\u0065xp" and "exp" are the same member.
        const name = escaped
          ? (JSON.parse(text.slice(i, end + 1)) as string)
          : text.slice(i + 1, end);
        if (names == null || name === '__proto__' || names.has(name)) return true;
        names.add(name);
        expectKey = false;
      }
      i = end;
    } else if (char === 0x7b) {
      frames.push(new Set());
      expectKey = true;
    } else if (char === 0x5b) {
      frames.push(null);
    } else if (char === 0x7d || char === 0x5d) {
      frames.pop();
      expectKey = false;
    } else if (char === 0x2c) {
      expectKey = frames[frames.length - 1] != null;
    }
  }
  return false;
}
