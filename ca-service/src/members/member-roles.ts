import type { MEMBER_PERMISSIONS, MEMBER_ROLES } from '@lantern/shared';

export type MemberRole = (typeof MEMBER_ROLES)[number];
export type MemberPermission = (typeof MEMBER_PERMISSIONS)[number];

/**
 * What each membership role lets its holder do through the admin API, as API key scopes. Only
 * `org_admin` carries `admin`; none carries `tenants:write`, which stays with installation keys.
 */
export const ROLE_PERMISSIONS: Readonly<Record<MemberRole, readonly string[]>> = {
  org_admin: ['admin'],
  user_manager: ['users:read', 'users:write', 'members:read', 'members:write'],
  device_manager: ['devices:read', 'devices:write', 'enrollment:write'],
  auditor: ['devices:read', 'users:read', 'events:read', 'members:read'],
};

/** The scopes a set of roles and direct permissions amounts to, `admin` standing for them all. */
export function scopesOf(roles: readonly string[], permissions: readonly string[]): string[] {
  const scopes = new Set<string>(permissions);
  for (const role of roles) {
    for (const scope of ROLE_PERMISSIONS[role as MemberRole] ?? []) scopes.add(scope);
  }
  return [...scopes].sort();
}

/** Whether `held` covers every scope of `wanted`: a granter gives away no more than it has. */
export function covers(held: readonly string[], wanted: readonly string[]): boolean {
  return (
    held.includes('admin') || wanted.every((scope) => scope !== 'admin' && held.includes(scope))
  );
}
