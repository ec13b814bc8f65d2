import type { IdPrefix } from '../ids/ids.js';
import { idPattern } from '../ids/ids.js';

export type JsonSchema = Record<string, unknown>;

export const id = (prefix: IdPrefix): JsonSchema => ({
  type: 'string',
  pattern: idPattern(prefix),
});
export const dateTime: JsonSchema = { type: 'string', format: 'date-time' };
export const shortText = (maxLength = 200): JsonSchema => ({
  type: 'string',
  minLength: 1,
  maxLength,
});
export const enumOf = (...values: string[]): JsonSchema => ({ type: 'string', enum: values });
export const hex = (bytes: number): JsonSchema => ({
  type: 'string',
  pattern: `^[0-9a-f]{${bytes * 2}}$`,
});
export const serialHex: JsonSchema = { type: 'string', pattern: '^[0-9a-f]{2,40}$' };
export const thumbprint: JsonSchema = { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' };
export const boolean: JsonSchema = { type: 'boolean' };
export const nonNegativeInteger: JsonSchema = { type: 'integer', minimum: 0 };

/** RFC 8176 values, and `sso` (the identity schemas' value for a sign-in by an external IdP). */
export const AUTH_METHODS = ['pwd', 'pin', 'otp', 'hwk', 'swk', 'user', 'mfa', 'sso'] as const;
/** Labels of a tenant's OpenID Connect provider (metrics, events); `oidc` for any other. */
export const SSO_PROVIDERS = ['google', 'microsoft', 'oidc'] as const;
export const ROLES = ['learner', 'teacher', 'admin'] as const;
/** Roles a membership carries in an organisation (each a set of permissions, members/member-roles.ts). */
export const MEMBER_ROLES = ['org_admin', 'user_manager', 'device_manager', 'auditor'] as const;
/** What a direct permission may grant: an admin API scope short of `admin` and `tenants:write`. */
export const MEMBER_PERMISSIONS = [
  'devices:read',
  'devices:write',
  'enrollment:write',
  'users:read',
  'users:write',
  'events:read',
  'members:read',
  'members:write',
] as const;

/** Strict object: every listed property typed, the `required` ones present, nothing else. */
export function object(
  properties: Record<string, JsonSchema>,
  required: readonly string[] = Object.keys(properties),
): JsonSchema {
  return { type: 'object', additionalProperties: false, properties, required: [...required] };
}
