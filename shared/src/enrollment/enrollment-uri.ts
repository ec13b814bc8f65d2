/**
 * What an admin hands a device to enroll it, in one string a QR code can carry (issue 25):
 * `lantern-enroll:?ca=<encodeURIComponent(caUrl)>&token=<encodeURIComponent(token)>&fp=<hex>`.
 * The admin console renders the same string client-side, so its shape is fixed here.
 */
export interface EnrollmentUriFields {
  /** The CA's http(s) URL as the device should reach it. */
  caUrl: string;
  token: string;
  /** SHA-256 of the root certificate's DER, 64 lower-case hex digits (`--root-fingerprint`). */
  rootFingerprint: string;
}

export type EnrollmentUriVerdict =
  { ok: true; fields: EnrollmentUriFields } | { ok: false; reason: string };

export const ENROLLMENT_URI_PREFIX = 'lantern-enroll:?';

const FINGERPRINT = /^[0-9a-f]{64}$/;
const MAX_URI = 4096;

export function encodeEnrollmentUri(fields: EnrollmentUriFields): string {
  return (
    `${ENROLLMENT_URI_PREFIX}ca=${encodeURIComponent(fields.caUrl)}` +
    `&token=${encodeURIComponent(fields.token)}&fp=${fields.rootFingerprint.toLowerCase()}`
  );
}

/** Every field present once and well-formed, or what is wrong; unknown fields are ignored. */
export function parseEnrollmentUri(text: string): EnrollmentUriVerdict {
  const uri = text.trim();
  if (uri.length > MAX_URI) return { ok: false, reason: 'the URI is too long' };
  if (!uri.startsWith(ENROLLMENT_URI_PREFIX)) {
    return { ok: false, reason: `an enrollment URI starts with "${ENROLLMENT_URI_PREFIX}"` };
  }
  const fields = new Map<string, string>();
  for (const pair of uri.slice(ENROLLMENT_URI_PREFIX.length).split('&')) {
    const at = pair.indexOf('=');
    const key = at < 0 ? pair : pair.slice(0, at);
    if (fields.has(key)) return { ok: false, reason: `"${key}" appears twice` };
    let value: string;
    try {
      // decodeURIComponent, not URLSearchParams: a "+" stays a "+", as encodeURIComponent meant.
      value = decodeURIComponent(at < 0 ? '' : pair.slice(at + 1));
    } catch {
      return { ok: false, reason: `"${key}" is not percent-encoded correctly` };
    }
    fields.set(key, value);
  }
  const caUrl = fields.get('ca') ?? '';
  const token = fields.get('token') ?? '';
  const rootFingerprint = (fields.get('fp') ?? '').toLowerCase();
  if (!URL.canParse(caUrl) || !['http:', 'https:'].includes(new URL(caUrl).protocol)) {
    return { ok: false, reason: 'ca is not an http(s) URL' };
  }
  if (token.length === 0) return { ok: false, reason: 'token is missing' };
  if (!FINGERPRINT.test(rootFingerprint)) {
    return { ok: false, reason: 'fp is not a SHA-256 fingerprint (64 hex digits)' };
  }
  return { ok: true, fields: { caUrl, token, rootFingerprint } };
}
