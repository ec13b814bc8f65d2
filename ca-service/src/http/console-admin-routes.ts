import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import { X509Certificate } from 'node:crypto';
import { AuditCheckpoints } from '../audit/audit-checkpoints.js';
import { verifyChain } from '../audit/verify-chain.js';
import type { ChainVerdict } from '../audit/verify-chain.js';
import type { CaContext } from '../context/ca-context.js';
import { getDevice } from '../devices/devices.js';
import { EXPIRING_SOON_DAYS } from '../observability/metrics.js';
import { deadLetterCount } from '../outbox/dead-letter-queue.js';
import { lastReceivedAt } from '../sync/device-receipts.js';
import { endUserSessions, getUser, resetPassword, toUserView } from '../users/users.js';
import { idParam, tenantQuery } from './schemas.js';

const DAY_MS = 86_400_000;

/** When each device of a scope last talked to the CA, and who signed in on it. */
function deviceActivity(ctx: CaContext, tenantId: string | null) {
  const where = tenantId === null ? '' : 'WHERE d.tenant_id = ?';
  const rows = ctx.store.db
    .prepare(
      `SELECT d.device_id AS deviceId,
              MAX(d.enrolled_at,
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
  const received = lastReceivedAt(
    ctx.store.db,
    rows.map((row) => row.deviceId),
  );
  return rows.map((row) => {
    const receivedAt = received.get(row.deviceId) ?? '';
    return {
      ...row,
      lastSeenAt: receivedAt > row.lastSeenAt ? receivedAt : row.lastSeenAt,
      users: JSON.parse(row.users) as string[],
    };
  });
}

/**
 * Read models the admin console needs beyond the plain lists (docs/architecture.md §8 `/v1/admin/...`): the
 * overview figures, device activity and certificates, password resets, ending a user's sessions
 * and the audit chain's state.
 */
export function consoleAdminRoutes(ctx: CaContext): FastifyPluginAsync {
  const checkpoints = new AuditCheckpoints(ctx.store, ctx.clock, { issuingPem: ctx.ca.issuingPem });
  // The chain is walked again only when it grew: a console refreshing the page costs nothing.
  let chain: ChainVerdict | undefined;
  const chainVerdict = (): ChainVerdict => {
    if (!chain || chain.head.position !== ctx.store.headPosition()) chain = verifyChain(ctx.store);
    return chain;
  };

  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    app.get(
      '/v1/admin/overview',
      {
        config: { scope: 'devices:read', tenant: 'query', allTenants: true },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              ...tenantQuery.properties,
              staleDays: { type: 'integer', minimum: 1, maximum: 365 },
            },
          },
        },
      },
      async (request) => {
        const { tenantId } = request.admin;
        const staleDays = request.query.staleDays ?? 7;
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
        const failed = ctx.store.count({
          eventType: 'identity.user.login_failed',
          from: new Date(now - 3_600_000).toISOString(),
          ...(tenantId === null ? {} : { tenantId }),
        });
        const relay = ctx.metrics.relayStatus?.();
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
            deadLetters: deadLetterCount(ctx.store.db),
          },
          failedSignInsLastHour: failed,
        };
      },
    );

    app.get(
      '/v1/admin/device-activity',
      {
        config: { scope: 'devices:read', tenant: 'query', allTenants: true },
        schema: { querystring: tenantQuery },
      },
      async (request) => ({ devices: deviceActivity(ctx, request.admin.tenantId) }),
    );

    app.get(
      '/v1/admin/devices/:id/certificates',
      { config: { scope: 'devices:read' }, schema: { params: idParam('dev') } },
      async (request) => {
        const device = getDevice(ctx, request.params.id, request.admin.tenantId);
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
        config: { scope: 'users:write' },
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
        return resetPassword(
          ctx,
          {
            userId: request.params.id,
            tenantId: request.admin.tenantId,
            password: request.body.password,
          },
          request.admin.meta,
        );
      },
    );

    app.post(
      '/v1/admin/users/:id/sessions/revoke',
      { config: { scope: 'users:write' }, schema: { params: idParam('usr') } },
      async (request) => {
        const { admin } = request;
        return ctx.store.transaction(() => {
          const user = getUser(ctx, request.params.id, admin.tenantId);
          endUserSessions(ctx, user.user_id, user.tenant_id, 'user_revoked', admin.meta);
          return toUserView(user);
        });
      },
    );

    app.get(
      '/v1/admin/audit',
      { config: { scope: 'events:read', tenant: 'query' }, schema: { querystring: tenantQuery } },
      async () => {
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
