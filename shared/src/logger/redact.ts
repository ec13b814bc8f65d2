import { createHmac } from 'node:crypto';
import { isIPv6 } from 'node:net';

const SECRET_KEY =
  /(pass(word|phrase)?|secret|^pin$|otp|token$|^authorization$|cookie|private|apikey|api_key|^csr$|^dk$|^d$|^key$|credential)/i;
const NOT_SECRET_KEY = /(id|ids|count|prefix|hash|type|expiresat|kind|method|reason)$/i;
export const EMAIL_KEY = /^(email|emailAddress|email_address|primaryEmail|primary_email|mail)$/i;
export const PERSON_ID_KEY = /^(userId|user_id|subjectUserId|sub|actorId|actor_id|username)$/i;
export const IP_KEY = /^(ip|ips|remoteAddress|clientIp|client_ip|remote_addr|x-forwarded-for)$/i;

const EMAIL_IN_TEXT = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const IPV4_IN_TEXT = /\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b/g;
/** Candidates only (hex groups and colons, `::` included); `isIPv6` decides. */
const IPV6_IN_TEXT = /(?<![0-9a-z:.])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?![0-9a-z:])/gi;
/** An address right after `scheme://` (or `scheme://[`) is a server's, not a person's. */
const URL_HOST_BEFORE = /[a-z][a-z0-9+.-]*:\/\/\[?$/i;
const JWT_IN_TEXT = /\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;
const LANTERN_SECRET_IN_TEXT = /\b(lrt|lk|let)_[A-Za-z0-9]+[._][A-Za-z0-9_-]{8,}/g;
const PEM_PRIVATE_KEY =
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g;

export const REDACTED = '[REDACTED]';

export interface Redactor {
  value(value: unknown, tenantId?: string): unknown;
  text(text: string, tenantId?: string): string;
  pseudonym(value: string, tenantId?: string): string;
}

export function maskIp(ip: string): string {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.\d{1,3}$/.exec(ip);
  if (v4) return `${v4[1]}.${v4[2]}.${v4[3]}.0/24`;
  if (isIPv6(ip)) return `${expandIpv6(ip).slice(0, 3).join(':')}::/48`;
  return REDACTED;
}

/** The eight groups of an IPv6 address, `::` filled with zeros (an embedded IPv4 tail counts as two). */
function expandIpv6(ip: string): string[] {
  const [head = '', tail] = ip.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const filled = 8 - left.length - right.length;
  return [...left, ...Array<string>(Math.max(0, filled)).fill('0'), ...right].map((group) =>
    group.includes('.') ? group : group.replace(/^0+(?=.)/, '').toLowerCase(),
  );
}

function isUrlHost(input: string, offset: number): boolean {
  return URL_HOST_BEFORE.test(input.slice(Math.max(0, offset - 16), offset));
}

/**
 * Enforces docs/architecture.md §7 inside the logger, so a careless call site cannot leak: secrets by key
 * name and by shape, emails and user ids pseudonymised with a per-tenant keyed hash (stable
 * for correlation, useless for lookup without the salt), IPs cut to their /24 or /48.
 */
export function createRedactor(salt: string): Redactor {
  const pseudonym = (value: string, tenantId = '-'): string =>
    createHmac('sha256', salt).update(`${tenantId}\u0000${value}`).digest('hex').slice(0, 16);

  const text = (input: string, tenantId?: string): string =>
    input
      .replace(PEM_PRIVATE_KEY, REDACTED)
      .replace(JWT_IN_TEXT, REDACTED)
      .replace(LANTERN_SECRET_IN_TEXT, REDACTED)
      .replace(EMAIL_IN_TEXT, (email) => `email:${pseudonym(email.toLowerCase(), tenantId)}`)
      .replace(IPV4_IN_TEXT, (ip: string, ...rest: unknown[]) =>
        isUrlHost(rest[5] as string, rest[4] as number) ? ip : maskIp(ip),
      )
      .replace(IPV6_IN_TEXT, (ip: string, offset: number, whole: string) =>
        isIPv6(ip) && !isUrlHost(whole, offset) ? maskIp(ip) : ip,
      );

  const visit = (
    input: unknown,
    tenantId: string | undefined,
    depth: number,
    key?: string,
  ): unknown => {
    if (depth > 8) return '[Truncated]';
    if (key !== undefined) {
      if (SECRET_KEY.test(key) && !NOT_SECRET_KEY.test(key))
        return input == null ? input : REDACTED;
      // `code` is an error code in most records and a one-time code in a few: redact digits.
      if (key === 'code' && /^\s*\d{4,10}\s*$/.test(String(input))) return REDACTED;
      if (EMAIL_KEY.test(key) && typeof input === 'string')
        return `email:${pseudonym(input.toLowerCase(), tenantId)}`;
      if (PERSON_ID_KEY.test(key) && typeof input === 'string')
        return `hash:${pseudonym(input, tenantId)}`;
      if (IP_KEY.test(key) && typeof input === 'string') return maskIp(input);
    }
    if (typeof input === 'string') return text(input, tenantId);
    if (Array.isArray(input)) return input.map((item) => visit(item, tenantId, depth + 1, key));
    if (input instanceof Error) {
      return {
        type: input.name,
        message: text(input.message, tenantId),
        code: (input as { code?: unknown }).code,
        stack: input.stack === undefined ? undefined : text(input.stack, tenantId),
      };
    }
    if (input instanceof Uint8Array) return REDACTED;
    if (input !== null && typeof input === 'object') {
      const record = input as Record<string, unknown>;
      const own = record['tenantId'] ?? record['tenant_id'];
      const scope = typeof own === 'string' ? own : tenantId;
      const out: Record<string, unknown> = {};
      for (const [childKey, childValue] of Object.entries(record)) {
        out[childKey] = visit(childValue, scope, depth + 1, childKey);
      }
      return out;
    }
    return input;
  };

  return {
    value: (input, tenantId) => visit(input, tenantId, 0),
    text,
    pseudonym,
  };
}
