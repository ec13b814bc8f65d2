import type { Projection } from '../store/event-store.js';
import { statement } from '../store/statements.js';
import { openPersonalData } from '../users/personal-data.js';

/**
 * Organisations, invitations, memberships and role/permission assignments, all from events, so
 * `projections rebuild` yields the same access. The accept token is kept only as its hash; the
 * invited email is sealed in the event under the invitation's key, forgotten when the invitee is
 * erased.
 */
export const membersProjection: Projection = {
  name: 'members',
  tables: ['organizations', 'invitations', 'memberships', 'member_assignments'],
  events: new Set([
    'identity.invitation.accepted',
    'identity.invitation.created',
    'identity.invitation.revoked',
    'identity.membership.activated',
    'identity.membership.suspended',
    'identity.organization.created',
    'identity.permission.assigned',
    'identity.role.assigned',
    'identity.user.erased',
  ]),
  async apply(db, event) {
    const at = event.occurredAt;
    switch (event.eventType) {
      case 'identity.organization.created': {
        const { organizationId, parentId, name } = event.payload;
        statement(
          db,
          'INSERT INTO organizations (organization_id, tenant_id, name, created_at) VALUES (?, ?, ?, ?)',
        ).run(organizationId, parentId, name, at);
        break;
      }
      case 'identity.invitation.created': {
        const p = event.payload;
        statement(
          db,
          `INSERT INTO invitations (invitation_id, tenant_id, organization_id, email, roles, account_role,
             token_hash, expires_at, status, invited_by, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
        ).run(
          p.invitationId,
          event.tenantId,
          p.organizationId,
          (await openPersonalData(db, p.invitationId, p.personalData))?.email ?? 'erased',
          JSON.stringify(p.roles),
          p.accountRole ?? 'teacher',
          p.tokenHash,
          p.expiresAt,
          event.actor.id,
          at,
        );
        break;
      }
      case 'identity.invitation.accepted': {
        const { invitationId, userId, membershipId } = event.payload;
        statement(
          db,
          `UPDATE invitations SET status = 'accepted', user_id = ?, membership_id = ?, accepted_at = ?
           WHERE invitation_id = ?`,
        ).run(userId, membershipId, at, invitationId);
        break;
      }
      case 'identity.invitation.revoked':
        statement(
          db,
          `UPDATE invitations SET status = 'revoked', revoked_at = ?
           WHERE invitation_id = ? AND tenant_id = ? AND status = 'pending'`,
        ).run(at, event.payload.invitationId, event.tenantId);
        break;
      case 'identity.membership.activated': {
        const { membershipId, userId, organizationId } = event.payload;
        statement(
          db,
          `INSERT INTO memberships (membership_id, tenant_id, user_id, organization_id, status, updated_at)
           VALUES (?, ?, ?, ?, 'active', ?)
           ON CONFLICT (membership_id) DO UPDATE SET status = 'active', reason = NULL, updated_at = excluded.updated_at`,
        ).run(membershipId, event.tenantId, userId, organizationId, at);
        break;
      }
      case 'identity.membership.suspended':
        statement(
          db,
          "UPDATE memberships SET status = 'suspended', reason = ?, updated_at = ? WHERE membership_id = ?",
        ).run(event.payload.reason ?? null, at, event.payload.membershipId);
        break;
      case 'identity.user.erased':
        // The invitation's key is destroyed with the user's (users.ts): a replay reads 'erased' too.
        statement(db, "UPDATE invitations SET email = 'erased' WHERE user_id = ?").run(
          event.payload.userId,
        );
        break;
      case 'identity.role.assigned':
      case 'identity.permission.assigned': {
        const p = event.payload;
        const [kind, name] = 'role' in p ? ['role', p.role] : ['permission', p.permission];
        statement(
          db,
          `INSERT INTO member_assignments (assignment_id, tenant_id, subject, scope, kind, grant_name, assigned_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        ).run(p.assignmentId, event.tenantId, p.subject, p.scope, kind, name, at);
        break;
      }
    }
  },
};
