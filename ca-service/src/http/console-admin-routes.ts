import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { X509Certificate } from 'node:crypto';
import { authorize } from '../api-keys/api-keys.js';
import type { ApiKeyPrincipal, ApiScope } from '../api-keys/api-keys.js';
import { AuditCheckpoints } from '../audit/audit-checkpoints.js';
import { verifyChain } from '../audit/verify-chain.js';
import type { ChainVerdict } from '../audit/verify-chain.js';
import type { CaContext } from '../context/ca-context.js';
import { getDevice } from '../devices/devices.js';
import { EXPIRING_SOON_DAYS } from '../observability/metrics.js';
import { getTenant } from '../tenants/tenant-commands.js';
import { endUserSessions, getUser, resetPassword, toUserView } from '../users/users.js';
import { adminMeta, adminPrincipal } from './principal.js';
import { idParam } from './schemas.js';
import { tenantFor } from './tenant-for.js';

const DAY_MS = 86_400_000;
const tenantProperty = { type: 'string', minLength: 1, maxLength: 100 } as const;

/** `?tenant=` when named, else the caller's own; an installation key naming none sees all. */
function scopeOf(
  ctx: CaContext,
  principal: ApiKeyPrincipal,
  scope: ApiScope,
  named: string | undefined,
): string | null {
  const tenantId =
    named === undefined ? principal.tenantId : getTenant(ctx.store.db, named).tenantId;
  authorize(principal, scope, tenantId ?? undefined);
  return tenantId;
}

/** When each device of a scope last talked to the CA, and who signed in on it. */
function deviceActivity(ctx: CaContext, tenantId: string | null) {
  const where = tenantId === null ? '' : 'WHERE d.tenant_id = ?';
  const rows = ctx.store.db
    .prepare(
      `SELECT d.device_id AS deviceId,
              MAX(d.enrolled_at,
                  COALESCE((SELECT MAX(received_at) FROM device_event_receipts r WHERE r.device_id = d.device_id), ''),
                  COALESCE((SELECT MAX(not_before) FROM certificates c WHERE c.device_id = d.device_id), '')
              ) AS lastSeenAt,
              (SELECT json_group_array(DISTINCT u.username) FROM sessions s JOIN users u ON u.user_id = s.user_id
                WHERE s.device_id = d.device_id AND u.status != 'erased') AS users
       FROM devices d ${where} ORDER BY d.enrolled_at LIMIT 5000`,
    )
    .all(...(tenantId === null ? [] : [tenantId])) as {
    deviceId: string;
    lastSeenAt: string;
    users: string;
  }[];
  return rows.map((row) => ({ ...row, users: JSON.parse(row.users) as string[] }));
}

/**
 * Read models the admin console needs beyond the plain lists (DESIGN §8 `/v1/admin/...`): the
 * overview figures, device activity and certificates, password resets, ending a user's sessions
 * and the audit chain's state. Same scopes and tenant checks as every admin route.
 */
export function consoleAdminRoutes(ctx: CaContext): FastifyPluginAsync {
  const checkpoints = new AuditCheckpoints(ctx.store, ctx.clock, { issuingPem: ctx.ca.issuingPem });
  // The chain is walked again only when it grew: a console refreshing the page costs nothing.
  let chain: ChainVerdict | undefined;
  const chainVerdict = (): ChainVerdict => {
    if (!chain || chain.head.position !== ctx.store.headPosition()) chain = verifyChain(ctx.store);
    return chain;
  };
  const principalOf = (request: FastifyRequest) => adminPrincipal(ctx, request);

  return async (app) => {
    app.get(
      '/v1/admin/overview',
      {
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              tenant: tenantProperty,
              staleDays: { type: 'integer', minimum: 1, maximum: 365 },
            },
          },
        },
      },
      async (request) => {
        const query = request.query as { tenant?: string; staleDays?: number };
        const tenantId = scopeOf(ctx, principalOf(request), 'devices:read', query.tenant);
        const staleDays = query.staleDays ?? 7;
        const now = ctx.clock.now();
        const where = tenantId === null ? '' : 'WHERE tenant_id = ?';
        const args = tenantId === null ? [] : [tenantId];
        const counts = ctx.store.db
          .prepare(
            `SELECT COUNT(*) AS enrolled,
                    COALESCE(SUM(status = 'active'), 0) AS active,
                    COALESCE(SUM(status = 'revoked'), 0) AS revoked,
                    COALESCE(SUM(status = 'active' AND cert_expires_at < ?), 0) AS expiringSoon
             FROM devices ${where}`,
          )
          .get(new Date(now + EXPIRING_SOON_DAYS * DAY_MS).toISOString(), ...args) as Record<
          string,
          number
        >;
        const staleBefore = new Date(now - staleDays * DAY_MS).toISOString();
        const active = new Set(
          (
            ctx.store.db
              .prepare(
                `SELECT device_id FROM devices ${where}${where ? ' AND' : 'WHERE'} status = 'active'`,
              )
              .all(...args) as { device_id: string }[]
          ).map((row) => row.device_id),
        );
        const notSeen = deviceActivity(ctx, tenantId).filter(
          (device) => active.has(device.deviceId) && device.lastSeenAt < staleBefore,
        ).length;
        const failed = ctx.store.db
          .prepare(
            `SELECT COUNT(*) AS n FROM events WHERE event_type = 'identity.user.login_failed'
             AND occurred_at >= ? ${tenantId === null ? '' : 'AND tenant_id = ?'}`,
          )
          .get(new Date(now - 3_600_000).toISOString(), ...args) as { n: number };
        const relay = ctx.metrics.relayStatus?.();
        const deadLetters = ctx.store.db
          .prepare('SELECT COUNT(*) AS n FROM dead_letters')
          .get() as {
          n: number;
        };
        return {
          tenantId,
          devices: {
            enrolled: counts['enrolled'] ?? 0,
            active: counts['active'] ?? 0,
            revoked: counts['revoked'] ?? 0,
          },
          certificatesExpiringSoon: counts['expiringSoon'] ?? 0,
          expiringWithinDays: EXPIRING_SOON_DAYS,
          notSeen,
          staleDays,
          outbox: {
            relayRunning: relay !== undefined,
            depth: relay?.depth ?? null,
            lagSeconds: relay?.lagSeconds ?? null,
            deadLetters: deadLetters.n,
          },
          failedSignInsLastHour: failed.n,
        };
      },
    );

    app.get(
      '/v1/admin/device-activity',
      {
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { tenant: tenantProperty },
          },
        },
      },
      async (request) => {
        const { tenant } = request.query as { tenant?: string };
        return {
          devices: deviceActivity(ctx, scopeOf(ctx, principalOf(request), 'devices:read', tenant)),
        };
      },
    );

    app.get(
      '/v1/admin/devices/:id/certificates',
      { schema: { params: idParam('dev') } },
      async (request) => {
        const principal = principalOf(request);
        authorize(principal, 'devices:read');
        const device = getDevice(ctx, (request.params as { id: string }).id, principal.tenantId);
        const rows = ctx.store.db
          .prepare(
            'SELECT serial, pem, revoked_at, revoke_reason FROM certificates WHERE device_id = ? ORDER BY not_before DESC',
          )
          .all(device.deviceId) as {
          serial: string;
          pem: string;
          revoked_at: string | null;
          revoke_reason: string | null;
        }[];
        return {
          deviceId: device.deviceId,
          certificates: rows.map((row) => {
            const cert = new X509Certificate(row.pem);
            return {
              serial: row.serial,
              issuer: cert.issuer.replaceAll('\n', ', '),
              subject: cert.subject.replaceAll('\n', ', '),
              notBefore: new Date(cert.validFrom).toISOString(),
              notAfter: new Date(cert.validTo).toISOString(),
              fingerprint: cert.fingerprint256,
              current: row.serial === device.currentSerial,
              revokedAt: row.revoked_at,
              revokeReason: row.revoke_reason,
            };
          }),
        };
      },
    );

    app.post(
      '/v1/admin/users/:id/password',
      {
        bodyLimit: 8 * 1024,
        schema: {
          params: idParam('usr'),
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['password'],
            properties: { password: { type: 'string', minLength: 1, maxLength: 1024 } },
          },
        },
      },
      async (request) => {
        const principal = principalOf(request);
        authorize(principal, 'users:write');
        return resetPassword(
          ctx,
          {
            userId: (request.params as { id: string }).id,
            tenantId: principal.tenantId,
            password: (request.body as { password: string }).password,
          },
          adminMeta(principal, request),
        );
      },
    );

    app.post(
      '/v1/admin/users/:id/sessions/revoke',
      { schema: { params: idParam('usr') } },
      async (request) => {
        const principal = principalOf(request);
        authorize(principal, 'users:write');
        return ctx.store.transaction(() => {
          const user = getUser(ctx, (request.params as { id: string }).id, principal.tenantId);
          endUserSessions(
            ctx,
            user.user_id,
            user.tenant_id,
            'user_revoked',
            adminMeta(principal, request),
          );
          return toUserView(user);
        });
      },
    );

    app.get(
      '/v1/admin/audit',
      {
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { tenant: tenantProperty },
          },
        },
      },
      async (request) => {
        const principal = principalOf(request);
        const tenantId = tenantFor(ctx, principal, (request.query as { tenant?: string }).tenant);
        authorize(principal, 'events:read', tenantId);
        const verdict = chainVerdict();
        const last = checkpoints.list(1)[0];
        const lastVerdict = last ? checkpoints.verify(last.jws) : undefined;
        return {
          chain: {
            ok: verdict.ok,
            checked: verdict.checked,
            headPosition: verdict.head.position,
            ...(verdict.ok ? {} : { brokenAt: verdict.brokenAt, reason: verdict.reason }),
          },
          lastCheckpoint: last
            ? {
                position: last.position,
                time: last.time,
                headHash: last.headHash,
                verified: lastVerdict?.ok ?? false,
                ...(lastVerdict && !lastVerdict.ok ? { reason: lastVerdict.reason } : {}),
              }
            : null,
        };
      },
    );
  };
}
