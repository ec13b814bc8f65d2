import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import { X509Certificate } from 'node:crypto';
import { AuditCheckpoints } from '../audit/audit-checkpoints.js';
import { verifyChain } from '../audit/verify-chain.js';
import type { ChainVerdict } from '../audit/verify-chain.js';
import type { CaContext } from '../context/ca-context.js';
import { sessionUsersOnDevices } from '../auth/session-queries.js';
import { deviceCertificates } from '../devices/certificate-queries.js';
import { activeDeviceIds, deviceCounts, deviceEnrolments } from '../devices/device-queries.js';
import { getDevice } from '../devices/devices.js';
import { EXPIRING_SOON_DAYS } from '../observability/metrics.js';
import { deadLetterCount } from '../outbox/dead-letter-queue.js';
import { lastReceivedAt } from '../sync/device-receipts.js';
import { endUserSessions, getUser, resetPassword, toUserView, userNames } from '../users/users.js';
import { idParam, tenantQuery } from './schemas.js';

const DAY_MS = 86_400_000;
/** Read here, never appended: the overview counts the last hour's failed sign-ins. */
const LOGIN_FAILED = 'identity.user.login_failed';

/** When each device of a scope last talked to the CA, and who signed in on it. */
async function deviceActivity(ctx: CaContext, tenantId: string | null) {
  const db = ctx.store.db;
  const devices = await deviceEnrolments(db, tenantId);
  const deviceIds = devices.map((device) => device.deviceId);
  const received = await lastReceivedAt(db, deviceIds);
  const sessions = await sessionUsersOnDevices(db, deviceIds);
  // Erased users keep their sessions' rows but lose their name here.
  const usernames = new Map(
    (await userNames(db, [...new Set(sessions.map((session) => session.user_id))]))
      .filter((user) => user.status !== 'erased')
      .map((user) => [user.user_id, user.username]),
  );
  const users = new Map<string, Set<string>>();
  for (const session of sessions) {
    const username = usernames.get(session.user_id);
    if (username === undefined) continue;
    const names = users.get(session.device_id) ?? new Set<string>();
    users.set(session.device_id, names.add(username));
  }
  return devices.map((device) => {
    const receivedAt = received.get(device.deviceId) ?? '';
    return {
      deviceId: device.deviceId,
      lastSeenAt: receivedAt > device.lastSeenAt ? receivedAt : device.lastSeenAt,
      users: [...(users.get(device.deviceId) ?? [])],
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
  const chainVerdict = async (): Promise<ChainVerdict> => {
    if (!chain || chain.head.position !== (await ctx.store.headPosition()))
      chain = await verifyChain(ctx.store);
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
        const counts = await deviceCounts(
          ctx.store.db,
          tenantId,
          new Date(now + EXPIRING_SOON_DAYS * DAY_MS).toISOString(),
        );
        const staleBefore = new Date(now - staleDays * DAY_MS).toISOString();
        const active = new Set(await activeDeviceIds(ctx.store.db, tenantId));
        const notSeen = (await deviceActivity(ctx, tenantId)).filter(
          (device) => active.has(device.deviceId) && device.lastSeenAt < staleBefore,
        ).length;
        const failed = await ctx.store.count({
          eventType: LOGIN_FAILED,
          from: new Date(now - 3_600_000).toISOString(),
          ...(tenantId === null ? {} : { tenantId }),
        });
        const relay = await ctx.metrics.relayStatus?.();
        return {
          tenantId,
          devices: { enrolled: counts.enrolled, active: counts.active, revoked: counts.revoked },
          certificatesExpiringSoon: counts.expiringSoon,
          expiringWithinDays: EXPIRING_SOON_DAYS,
          notSeen,
          staleDays,
          outbox: {
            relayRunning: relay !== undefined,
            depth: relay?.depth ?? null,
            lagSeconds: relay?.lagSeconds ?? null,
            deadLetters: await deadLetterCount(ctx.store.db),
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
      async (request) => ({ devices: await deviceActivity(ctx, request.admin.tenantId) }),
    );

    app.get(
      '/v1/admin/devices/:id/certificates',
      { config: { scope: 'devices:read' }, schema: { params: idParam('dev') } },
      async (request) => {
        const device = await getDevice(ctx, request.params.id, request.admin.tenantId);
        const rows = await deviceCertificates(ctx.store.db, device.deviceId);
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
        return ctx.store.transaction(async () => {
          const user = await getUser(ctx, request.params.id, admin.tenantId);
          await endUserSessions(ctx, user.user_id, user.tenant_id, 'user_revoked', admin.meta);
          return toUserView(user);
        });
      },
    );

    app.get(
      '/v1/admin/audit',
      { config: { scope: 'events:read', tenant: 'query' }, schema: { querystring: tenantQuery } },
      async () => {
        const verdict = await chainVerdict();
        const last = (await checkpoints.list(1))[0];
        const lastVerdict = last ? await checkpoints.verify(last.jws) : undefined;
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
