const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// Real headers and claims nest a few levels; thousands of levels would verify and then crash
// whichever consumer first walks them recursively (JSON.stringify in a logger, for one).
const MAX_DEPTH = 32;

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
  try {
    const text = utf8.decode(Buffer.from(segment, 'base64url'));
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
    // JSON.parse keeps the last of duplicate names (escaped spellings included), so the parsed
    // tree has fewer members than the text exactly when a name was repeated.
    return membersInText(text) === membersInValue(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/**
 * In valid JSON every `:` outside a string separates one member name from its value. Returns -1
 * past MAX_DEPTH, which also bounds the recursion of membersInValue.
 */
function membersInText(text: string): number {
  let count = 0;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char === 0x3a) {
      count++;
    } else if (char === 0x7b || char === 0x5b) {
      if (++depth > MAX_DEPTH) return -1;
    } else if (char === 0x7d || char === 0x5d) {
      depth--;
    } else if (char === 0x22) {
      for (i++; text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c) i++;
      }
    }
  }
  return count;
}

function membersInValue(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let count = 0;
  if (Array.isArray(value)) {
    for (const item of value) count += membersInValue(item);
    return count;
  }
  for (const name in value) {
    if (name === '__proto__') return Number.NaN;
    count += 1 + membersInValue((value as Record<string, unknown>)[name]);
  }
  return count;
}
