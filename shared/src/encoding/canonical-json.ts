/**
 * JSON with object keys sorted at every depth and no insignificant whitespace, so the same
 * value always hashes the same (event hash chain, signed pages).
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'string') return quoted(value);
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  const record = value as Record<string, unknown>;
  const keys = sortedKeys(record);
  let out = '';
  for (const key of keys) {
    const item = record[key];
    if (item === undefined) continue;
    out += `${out === '' ? '{' : ','}${quoted(key)}:${canonicalJson(item)}`;
  }
  return out === '' ? '{}' : `${out}}`;
}

// What JSON.stringify would escape (and surrogates, which it escapes when unpaired).
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

/**
 * `JSON.stringify` of a string. Most strings an event holds (ids, times, URLs) need no escape,
 * and quoting them directly is about a third of the cost: the event hash chain quotes ~30
 * strings per appended event.
 */
function quoted(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/**
 * Own keys in UTF-16 code unit order, the order every stored event hash was made with. The
 * event store hashes each appended event through `canonicalJson`, and its objects have a
 * handful of keys: an insertion sort without a comparator callback is the cheaper way there.
 */
function sortedKeys(record: Record<string, unknown>): string[] {
  const keys = Object.keys(record);
  if (keys.length > 24) return keys.sort();
  for (let i = 1; i < keys.length; i += 1) {
    const key = keys[i] as string;
    let j = i - 1;
    for (; j >= 0 && (keys[j] as string) > key; j -= 1) keys[j + 1] = keys[j] as string;
    keys[j + 1] = key;
  }
  return keys;
}
