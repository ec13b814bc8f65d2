import { EVENT_CATALOGUE, ID_NOUNS, clockFromEnv, isId, systemClock } from '@lantern/shared';
import type { IdPrefix } from '@lantern/shared';
import { DEVICE_REVOCATION_REASONS } from '../devices/devices.js';
import { MAX_TOKEN_TTL_SECONDS } from '../enrollment/enrollment-tokens.js';
import { acquireServeLock } from '../data-dir/serve-lock.js';
import { requireInitialisedDataDir } from '../data-dir/require-data-dir.js';
import type { DeviceView } from '../devices/devices.js';
import type { EnrollmentTokenView } from '../enrollment/enrollment-tokens.js';
import { initDataDir } from '../data-dir/init-data-dir.js';
import { openCa } from '../data-dir/open-ca.js';
import { rotateIssuingCa } from '../data-dir/rotate-issuing.js';
import { dataDirPaths } from '../data-dir/paths.js';
import { resolvePassphrase } from '../data-dir/secret-files.js';
import type { WebAuthnConfig } from '../mfa/webauthn-config.js';
import { serve } from '../serve.js';
import { tracingConfigFromEnv } from '../observability/otel-sdk.js';
import type { RecordedEvent } from '../store/event-store.js';
import type { Tenant } from '../tenants/tenant-commands.js';
import type { UserView } from '../users/users.js';
import { adminRequest, adminTarget, openAdmin } from './admin-client.js';
import type { Command, CommandIo } from '@lantern/shared';
import {
  UsageError,
  optionalString,
  parseDurationWithin,
  requireOneOf,
  requireString,
} from '@lantern/shared';

const target = { url: { type: 'string' }, 'data-dir': { type: 'string' } } as const;

function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = (rows[0] ?? []).map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? '').length)),
  );
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `--webauthn-origins` takes full origins, comma-separated: a path or a typo is a usage error. */
function webauthnFlags(values: Parameters<typeof optionalString>[0]): Partial<WebAuthnConfig> {
  const rpId = optionalString(values, 'webauthn-rp-id');
  const origins = optionalString(values, 'webauthn-origins')
    ?.split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '');
  for (const origin of origins ?? []) {
    if (!URL.canParse(origin) || new URL(origin).origin !== origin) {
      throw new UsageError(`--webauthn-origins: ${origin} is not an origin (scheme://host[:port])`);
    }
  }
  return { ...(rpId === undefined ? {} : { rpId }), ...(origins === undefined ? {} : { origins }) };
}

/** The ID positional, refused in words (not the API's regex) when it is not one. */
function idArgument(positionals: string[], prefix: IdPrefix): string {
  const [id] = positionals;
  const noun = ID_NOUNS[prefix];
  if (!id) throw new UsageError(`give the ${noun} ID (${prefix}_…)`);
  if (!isId(id, prefix)) {
    throw new UsageError(
      `"${id}" is not a ${noun} ID: those are ${prefix}_ followed by 26 letters and digits, as the list commands print them`,
    );
  }
  return id;
}

/** `--public-url` must be where clients reach the CA: an http(s) origin, maybe with a path. */
function publicUrlFlag(values: Parameters<typeof optionalString>[0]): string | undefined {
  const text = optionalString(values, 'public-url');
  if (text === undefined) return undefined;
  if (!URL.canParse(text) || !['http:', 'https:'].includes(new URL(text).protocol)) {
    throw new UsageError(`--public-url must be an http(s) URL, not "${text}"`);
  }
  return text.replace(/\/+$/, '');
}

const EVENT_TYPES = [...new Set(EVENT_CATALOGUE.map((definition) => definition.type))].sort();

/** `--type`: a full event type, or the unique one it ends (`device.revoked`). */
function eventTypeFlag(text: string): string {
  if (EVENT_TYPES.includes(text)) return text;
  const matches = EVENT_TYPES.filter((type) => type.endsWith(`.${text}`));
  if (matches.length === 1) return matches[0] as string;
  throw new UsageError(
    `--type "${text}" ${matches.length === 0 ? 'is no event type' : `could be ${matches.join(' or ')}`}; the types are:\n  ${EVENT_TYPES.join('\n  ')}`,
  );
}

interface PagedEvents {
  events: (RecordedEvent & { quarantined?: boolean })[];
  next: number;
}

/** As `POST /v1/admin/api-keys` accepts them. */
const API_KEY_TTL = { min: 60, max: 366 * 86_400 };
const EVENT_PAGE = 1000;
const PROGRESS_AFTER_MS = 1000;

/** `events --all`: every page, one event per line on stdout as it arrives; progress on stderr. */
async function exportAllEvents(
  values: Parameters<typeof optionalString>[0],
  query: URLSearchParams,
  io: CommandIo,
): Promise<{ exported: number; next: number }> {
  const session = await openAdmin(adminTarget(values, io.env), 'GET');
  let lastProgress = Date.now();
  let exported = 0;
  let after = Number(query.get('after') ?? '0');
  const limit = query.get('limit');
  let left = limit === null ? Number.POSITIVE_INFINITY : Number(limit);
  try {
    while (left > 0) {
      query.set('after', String(after));
      query.set('limit', String(Math.min(EVENT_PAGE, left)));
      const page = await session.request<PagedEvents>('GET', `/v1/events?${query.toString()}`);
      if (page.events.length > 0) {
        io.stdout(page.events.map((event) => JSON.stringify(event)).join('\n'));
      }
      exported += page.events.length;
      left -= page.events.length;
      after = page.next;
      const now = Date.now();
      if (now - lastProgress >= PROGRESS_AFTER_MS) {
        lastProgress = now;
        io.stderr(`  exported ${exported} events (up to position ${after})`);
      }
      if (page.events.length < EVENT_PAGE) break;
    }
  } finally {
    await session.close();
  }
  // Stderr, so stdout stays pure NDJSON: where to continue an export that will be run again.
  io.stderr(`exported ${exported} events; continue later with --after ${after}`);
  return { exported, next: after };
}

export const commands: Command[] = [
  {
    path: ['init'],
    summary: 'Create the root and issuing CA, the store and a local admin API key',
    usage:
      'init --data-dir D [--public-url http://127.0.0.1:8080] [--passphrase-file F]\n\n' +
      '--public-url: where devices reach the CA; it also becomes the name the CA calls itself ' +
      '(the issuer of its tokens), which agents learn at enrollment. --url is the old name.',
    options: {
      'data-dir': { type: 'string' },
      'public-url': { type: 'string' },
      url: { type: 'string' },
      'passphrase-file': { type: 'string' },
    },
    async run(values, _positionals, io) {
      const dataDir = requireString(values, 'data-dir');
      if (values['url'] !== undefined && values['public-url'] !== undefined) {
        throw new UsageError('give --public-url only (--url is its old name)');
      }
      const publicUrl =
        publicUrlFlag(values) ??
        publicUrlFlag({ 'public-url': optionalString(values, 'url') }) ??
        'http://127.0.0.1:8080';
      const passphraseFile = optionalString(values, 'passphrase-file');
      const fromEnv = io.env['LANTERN_CA_PASSPHRASE'];
      const passphrase =
        fromEnv !== undefined || passphraseFile !== undefined
          ? resolvePassphrase(io.env, passphraseFile, dataDirPaths(dataDir).passphraseFile)
          : undefined;
      const result = await initDataDir({
        dataDir,
        clock: systemClock,
        publicUrl,
        ...(passphrase === undefined ? {} : { passphrase }),
      });
      const paths = dataDirPaths(dataDir);
      return {
        json: {
          dataDir,
          rootFingerprint: result.rootFingerprint,
          adminApiKey: result.adminApiKey,
          adminKeyId: result.adminKeyId,
          issuer: publicUrl,
          rootCertificate: paths.rootCertificate,
          passphraseFile: result.passphraseFile,
        },
        human: [
          `Initialised a Lantern CA in ${dataDir}`,
          `It calls itself ${publicUrl} (the issuer of its tokens; devices learn it at enrollment).`,
          ``,
          `Root certificate SHA-256 fingerprint (give it to whoever enrolls devices):`,
          `  ${result.rootFingerprint}`,
          ``,
          `Local admin API key (shown once, also saved in ${paths.adminApiKey}):`,
          `  ${result.adminApiKey}`,
          ...(result.passphraseFile
            ? [
                ``,
                `The CA keys are encrypted with a generated passphrase in ${result.passphraseFile}.`,
                `For production set LANTERN_CA_PASSPHRASE instead and move ${paths.rootKey} offline.`,
              ]
            : []),
          ``,
          `Next: lantern-ca serve --data-dir ${dataDir}`,
        ].join('\n'),
      };
    },
  },
  {
    path: ['serve'],
    summary: 'Run the CA service (HTTP)',
    usage:
      'serve --data-dir D [--port 8080] [--host 127.0.0.1] [--public-url URL] [--nats URL] [--passphrase-file F] [--webauthn-rp-id localhost] [--webauthn-origins URL,URL] [--metrics-listen HOST:PORT]\n\n' +
      'Stdout carries JSON log lines only; what is meant for a person goes to stderr.\n' +
      'LANTERN_METRICS_TOKEN: a bearer token /metrics then requires.\n' +
      'OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_TRACES_EXPORTER=otlp): export traces over OTLP/HTTP\n' +
      '(OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER_ARG, …: docs/observability.md).',
    options: {
      'data-dir': { type: 'string' },
      'public-url': { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'passphrase-file': { type: 'string' },
      nats: { type: 'string' },
      'webauthn-rp-id': { type: 'string' },
      'webauthn-origins': { type: 'string' },
      'metrics-listen': { type: 'string' },
    },
    async run(values, _positionals, io) {
      const dataDir = requireString(values, 'data-dir');
      const metricsListen = hostPort(
        optionalString(values, 'metrics-listen') ?? io.env['LANTERN_METRICS_LISTEN'],
      );
      const metricsToken = io.env['LANTERN_METRICS_TOKEN'] || undefined;
      const nats = optionalString(values, 'nats') ?? io.env['LANTERN_NATS_URL'];
      const port = Number(optionalString(values, 'port') ?? '8080');
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new UsageError('--port must be 0-65535');
      const publicUrl = publicUrlFlag(values);
      requireInitialisedDataDir(dataDir);
      const tracing = tracingConfigFromEnv(io.env);
      const passphrase = resolvePassphrase(
        io.env,
        optionalString(values, 'passphrase-file'),
        dataDirPaths(dataDir).passphraseFile,
      );
      const running = await serve({
        dataDir,
        passphrase,
        port,
        host: optionalString(values, 'host') ?? '127.0.0.1',
        clock: clockFromEnv(io.env),
        ...(nats === undefined ? {} : { nats }),
        ...(publicUrl === undefined ? {} : { publicUrl }),
        webauthn: webauthnFlags(values),
        ...(metricsListen ? { metricsListen } : {}),
        ...(metricsToken ? { metricsToken } : {}),
        ...(tracing ? { tracing } : {}),
      });
      io.stderr(
        [
          `lantern-ca listening on ${running.url} (data dir ${dataDir}); Ctrl-C stops it`,
          `  issuer (the name the CA calls itself): ${running.issuer}`,
          `  public URL (devices and enrollment commands): ${running.publicUrls.join(', ')}`,
          ...(running.publicUrlWarning === null ? [] : [`warning: ${running.publicUrlWarning}`]),
        ].join('\n'),
      );
      if (running.metricsUrl) io.stderr(`metrics on ${running.metricsUrl}/metrics`);
      if (tracing) {
        io.stderr(
          `traces to ${tracing.endpoint} (OTLP ${tracing.protocol}, head sampling ${tracing.ratio * 100} %, errors and token reuse always)`,
        );
      }
      await running.closed;
      io.stderr('lantern-ca stopped');
      return { json: { url: running.url, stopped: true }, human: '', quiet: true };
    },
  },
  {
    path: ['ca', 'rotate-issuing'],
    summary: 'Create a new issuing CA under the root (the service uses it from its next start)',
    usage: 'ca rotate-issuing --data-dir D [--passphrase-file F]',
    options: { 'data-dir': { type: 'string' }, 'passphrase-file': { type: 'string' } },
    async run(values, _positionals, io) {
      const dataDir = requireString(values, 'data-dir');
      const passphrase = resolvePassphrase(
        io.env,
        optionalString(values, 'passphrase-file'),
        dataDirPaths(dataDir).passphraseFile,
      );
      const result = await rotateIssuingCa({ dataDir, clock: clockFromEnv(io.env), passphrase });
      return {
        json: { dataDir, ...result },
        human: [
          `New issuing CA "${result.commonName}" (key id ${result.issuingKeyId}), valid until ${result.notAfter}.`,
          `The previous one (key id ${result.retiredKeyId}) is retired: it issues nothing more but keeps`,
          `signing the CRL of its certificates (GET /v1/crl?issuer=${result.retiredKeyId}).`,
          `Restart \`lantern-ca serve --data-dir ${dataDir}\` to issue with the new one; devices move`,
          'to it as they renew. If the root key lives offline, move ca/root.key.pem away again now.',
        ].join('\n'),
      };
    },
  },
  {
    path: ['tenant', 'create'],
    summary: 'Create a tenant (a school or organisation)',
    usage: 'tenant create NAME [--slug S] [--url U] [--data-dir D]',
    options: { ...target, slug: { type: 'string' } },
    async run(values, positionals, io) {
      const name = positionals.join(' ').trim();
      if (!name) throw new UsageError('give the tenant NAME');
      const slug = optionalString(values, 'slug');
      const tenant = await adminRequest<Tenant>(
        adminTarget(values, io.env),
        'POST',
        '/v1/admin/tenants',
        {
          name,
          ...(slug ? { slug } : {}),
        },
      );
      return {
        json: { id: tenant.tenantId, ...tenant },
        human: `Created tenant ${tenant.name} (${tenant.slug}): ${tenant.tenantId}`,
      };
    },
  },
  {
    path: ['tenant', 'list'],
    summary: 'List tenants',
    usage: 'tenant list [--url U] [--data-dir D]',
    options: target,
    async run(values, _positionals, io) {
      const { tenants } = await adminRequest<{ tenants: Tenant[] }>(
        adminTarget(values, io.env),
        'GET',
        '/v1/admin/tenants',
      );
      return {
        json: { tenants },
        human: table([['ID', 'SLUG', 'NAME'], ...tenants.map((t) => [t.tenantId, t.slug, t.name])]),
      };
    },
  },
  {
    path: ['enroll-token', 'create'],
    summary: 'Create a one-time device enrollment token',
    usage:
      'enroll-token create --tenant T [--ttl 1h] [--name DEVICE_NAME] [--url U] [--data-dir D]',
    options: {
      ...target,
      tenant: { type: 'string' },
      ttl: { type: 'string' },
      name: { type: 'string' },
    },
    async run(values, _positionals, io) {
      const name = optionalString(values, 'name');
      const tenant = optionalString(values, 'tenant');
      const ttlSeconds = parseDurationWithin('ttl', optionalString(values, 'ttl') ?? '1h', {
        min: 60,
        max: MAX_TOKEN_TTL_SECONDS,
      });
      const created = await adminRequest<{
        token: string;
        tokenId: string;
        tenantId: string;
        expiresAt: string;
        enrollmentUri: string;
        enrollCommand: string;
      }>(adminTarget(values, io.env), 'POST', '/v1/admin/enrollment-tokens', {
        ...(tenant ? { tenant } : {}),
        ttlSeconds,
        ...(name ? { deviceName: name } : {}),
      });
      if (values['json']) return { json: created, human: '' };
      // Loaded only here: the other commands need no QR encoder at start-up.
      const QRCode = await import('qrcode');
      const qr = await QRCode.toString(created.enrollmentUri, { type: 'terminal', small: true });
      return {
        json: created,
        human: [
          `Enrollment token for tenant ${created.tenantId}, valid until ${created.expiresAt} (one use):`,
          `  ${created.token}`,
          ``,
          `On the device (the fingerprint pins the CA's root, so no other CA can answer):`,
          `  ${created.enrollCommand}`,
          ``,
          `Or scan this code with the device (lantern-agent enroll --qr FILE, or --uri):`,
          qr.trimEnd(),
          `  ${created.enrollmentUri}`,
        ].join('\n'),
      };
    },
  },
  {
    path: ['enroll-token', 'list'],
    summary: 'List enrollment tokens of a tenant',
    usage: 'enroll-token list [--tenant T] [--url U] [--data-dir D]',
    options: { ...target, tenant: { type: 'string' } },
    async run(values, _positionals, io) {
      const tenant = optionalString(values, 'tenant');
      const { tokens } = await adminRequest<{ tokens: EnrollmentTokenView[] }>(
        adminTarget(values, io.env),
        'GET',
        `/v1/admin/enrollment-tokens${tenant ? `?tenant=${encodeURIComponent(tenant)}` : ''}`,
      );
      return {
        json: { tokens },
        human: table([
          ['ID', 'STATUS', 'EXPIRES', 'DEVICE'],
          ...tokens.map((t) => [
            t.tokenId,
            t.status,
            t.expiresAt,
            t.deviceId ?? t.deviceName ?? '',
          ]),
        ]),
      };
    },
  },
  {
    path: ['enroll-token', 'revoke'],
    summary: 'Revoke an unused enrollment token',
    usage: 'enroll-token revoke ID [--url U] [--data-dir D]',
    options: target,
    async run(values, positionals, io) {
      const id = idArgument(positionals, 'tok');
      const token = await adminRequest<EnrollmentTokenView>(
        adminTarget(values, io.env),
        'POST',
        `/v1/admin/enrollment-tokens/${encodeURIComponent(id)}/revoke`,
        {},
      );
      return { json: { ...token }, human: `Token ${token.tokenId} is ${token.status}` };
    },
  },
  {
    path: ['device', 'list'],
    summary: 'List enrolled devices',
    usage: 'device list [--tenant T] [--url U] [--data-dir D]',
    options: { ...target, tenant: { type: 'string' } },
    async run(values, _positionals, io) {
      const tenant = optionalString(values, 'tenant');
      const { devices } = await adminRequest<{ devices: DeviceView[] }>(
        adminTarget(values, io.env),
        'GET',
        `/v1/admin/devices${tenant ? `?tenant=${encodeURIComponent(tenant)}` : ''}`,
      );
      return {
        json: { devices },
        human:
          devices.length === 0
            ? 'No devices enrolled yet.'
            : table([
                ['ID', 'STATUS', 'NAME', 'CERT EXPIRES', 'TENANT'],
                ...devices.map((d) => [
                  d.deviceId,
                  d.status,
                  d.name ?? '',
                  d.certExpiresAt ?? '',
                  d.tenantId,
                ]),
              ]),
      };
    },
  },
  {
    path: ['device', 'revoke'],
    summary: 'Revoke a device: its certificates go on the CRL and the feed tells its agent',
    usage:
      'device revoke ID --reason lost|stolen|compromised|decommissioned|admin [--url U] [--data-dir D]',
    options: { ...target, reason: { type: 'string' } },
    async run(values, positionals, io) {
      const id = idArgument(positionals, 'dev');
      const reason = requireOneOf(values, 'reason', DEVICE_REVOCATION_REASONS);
      const device = await adminRequest<DeviceView>(
        adminTarget(values, io.env),
        'POST',
        `/v1/admin/devices/${encodeURIComponent(id)}/revoke`,
        { reason },
      );
      return {
        json: { ...device },
        human: `Revoked device ${device.deviceId} (${device.revokeReason}). Its agent stops signing anyone in at its next sync.`,
      };
    },
  },
  {
    path: ['projections', 'rebuild'],
    summary: 'Rebuild every read model from the event store (run with the service stopped)',
    usage: 'projections rebuild --data-dir D [--passphrase-file F]',
    options: { 'data-dir': { type: 'string' }, 'passphrase-file': { type: 'string' } },
    async run(values, _positionals, io) {
      const dataDir = requireString(values, 'data-dir');
      requireInitialisedDataDir(dataDir);
      const passphrase = resolvePassphrase(
        io.env,
        optionalString(values, 'passphrase-file'),
        dataDirPaths(dataDir).passphraseFile,
      );
      // A running service would keep serving from read models rebuilt under its feet.
      const lock = acquireServeLock(dataDir);
      const ca = await openCa({ dataDir, clock: systemClock, passphrase }).catch(
        (error: unknown) => {
          lock.release();
          throw error;
        },
      );
      try {
        const started = Date.now();
        const replayed = ca.context.store.rebuildProjections((done, total) => {
          if (!values['json']) io.stderr(`  replayed ${done}/${total} events`);
        });
        const seconds = (Date.now() - started) / 1000;
        return {
          json: { replayed, seconds },
          human: `Rebuilt every projection from ${replayed} events in ${seconds.toFixed(2)} s`,
        };
      } finally {
        ca.close();
        lock.release();
      }
    },
  },
  {
    path: ['user', 'create'],
    summary: 'Create a user; the password (or a learner PIN) is read from stdin',
    usage:
      'user create --tenant T --username U --role learner|teacher|admin [--email E] [--url U] [--data-dir D] < password',
    options: {
      ...target,
      tenant: { type: 'string' },
      username: { type: 'string' },
      role: { type: 'string' },
      email: { type: 'string' },
    },
    async run(values, _positionals, io) {
      const password = (await io.readStdin()).replace(/\r?\n$/, '');
      if (!password)
        throw new UsageError(
          'give the password on stdin (e.g. `printf %s "$PW" | lantern-ca user create ...`)',
        );
      const email = optionalString(values, 'email');
      const user = await adminRequest<UserView>(
        adminTarget(values, io.env),
        'POST',
        '/v1/admin/users',
        {
          tenant: requireString(values, 'tenant'),
          username: requireString(values, 'username'),
          role: requireString(values, 'role'),
          password,
          ...(email ? { email } : {}),
        },
      );
      return {
        json: { id: user.userId, ...user },
        human: `Created ${user.role} ${user.username}: ${user.userId}`,
      };
    },
  },
  {
    path: ['user', 'list'],
    summary: 'List the users of a tenant',
    usage: 'user list [--tenant T] [--url U] [--data-dir D]',
    options: { ...target, tenant: { type: 'string' } },
    async run(values, _positionals, io) {
      const tenant = optionalString(values, 'tenant');
      const { users } = await adminRequest<{ users: UserView[] }>(
        adminTarget(values, io.env),
        'GET',
        `/v1/admin/users${tenant ? `?tenant=${encodeURIComponent(tenant)}` : ''}`,
      );
      return {
        json: { users },
        human: table([
          ['ID', 'USERNAME', 'ROLE', 'STATUS', 'LOCKED UNTIL'],
          ...users.map((u) => [u.userId, u.username, u.role, u.status, u.lockedUntil ?? '']),
        ]),
      };
    },
  },
  ...(['lock', 'unlock', 'suspend', 'reactivate', 'erase'] as const).map((action): Command => ({
    path: ['user', action],
    summary: {
      lock: 'Lock a user (ends their sessions; devices learn it at their next sync)',
      unlock: 'Unlock a user and reset their failure counter',
      suspend: 'Suspend a user (ends their sessions and offline grants)',
      reactivate: 'Reactivate a suspended user',
      erase: 'Erase a user (GDPR): personal fields anonymised, sessions and grants ended',
    }[action],
    usage: `user ${action} ID [--reason R] [--url U] [--data-dir D]`,
    options: { ...target, reason: { type: 'string' } },
    async run(values, positionals, io) {
      const id = idArgument(positionals, 'usr');
      const reason = optionalString(values, 'reason');
      const user = await adminRequest<UserView>(
        adminTarget(values, io.env),
        'POST',
        `/v1/admin/users/${encodeURIComponent(id)}/${action}`,
        reason ? { reason } : {},
      );
      return {
        json: { ...user },
        human: `User ${user.userId} is now ${user.status}${user.lockedUntil ? `, locked until ${user.lockedUntil}` : ''}`,
      };
    },
  })),
  ...(['session', 'grant'] as const).map((kind): Command => ({
    path: [kind, 'revoke'],
    summary:
      kind === 'session'
        ? 'Revoke a session (online at once, on devices at their next sync)'
        : 'Revoke an offline grant',
    usage: `${kind} revoke ID [--url U] [--data-dir D]`,
    options: target,
    async run(values, positionals, io) {
      const id = idArgument(positionals, kind === 'session' ? 'ses' : 'grt');
      const result = await adminRequest<Record<string, unknown>>(
        adminTarget(values, io.env),
        'POST',
        `/v1/admin/${kind}s/${encodeURIComponent(id)}/revoke`,
        {},
      );
      return { json: result, human: `${kind} ${id} revoked` };
    },
  })),
  {
    path: ['api-key', 'create'],
    summary: 'Create an admin API key (shown once)',
    usage:
      'api-key create --scopes admin|devices:read,... [--tenant T] [--name N] [--ttl 90d] [--url U] [--data-dir D]',
    options: {
      ...target,
      scopes: { type: 'string' },
      tenant: { type: 'string' },
      name: { type: 'string' },
      ttl: { type: 'string' },
    },
    async run(values, _positionals, io) {
      const tenant = optionalString(values, 'tenant');
      const name = optionalString(values, 'name');
      const ttl = optionalString(values, 'ttl');
      const created = await adminRequest<{
        keyId: string;
        apiKey: string;
        prefix: string;
        tenantId: string | null;
      }>(adminTarget(values, io.env), 'POST', '/v1/admin/api-keys', {
        scopes: requireString(values, 'scopes')
          .split(',')
          .map((scope) => scope.trim()),
        ...(tenant ? { tenant } : {}),
        ...(name ? { name } : {}),
        ...(ttl ? { ttlSeconds: parseDurationWithin('ttl', ttl, API_KEY_TTL) } : {}),
      });
      return {
        json: created,
        human: `API key ${created.keyId} (shown once, store it now):\n  ${created.apiKey}`,
      };
    },
  },
  {
    path: ['api-key', 'revoke'],
    summary: 'Revoke an admin API key',
    usage: 'api-key revoke KEY_ID [--url U] [--data-dir D]',
    options: target,
    async run(values, positionals, io) {
      const id = idArgument(positionals, 'key');
      const result = await adminRequest<Record<string, unknown>>(
        adminTarget(values, io.env),
        'POST',
        `/v1/admin/api-keys/${encodeURIComponent(id)}/revoke`,
        {},
      );
      return { json: result, human: `API key ${id} revoked` };
    },
  },
  {
    path: ['keys', 'rotate'],
    summary:
      'Rotate the token signing keys now (the next key starts signing; the old one stays published)',
    usage: 'keys rotate [--url U] [--data-dir D]',
    options: target,
    async run(values, _positionals, io) {
      const result = await adminRequest<{ activeKid: string }>(
        adminTarget(values, io.env),
        'POST',
        '/v1/admin/keys/rotate',
        {},
      );
      return { json: result, human: `Token keys rotated; now signing with ${result.activeKid}` };
    },
  },
  {
    path: ['events'],
    summary:
      'List events (filters: --device, --type, --aggregate-id, --actor, --after, --limit); --all pages through every one',
    usage:
      'events [--tenant T] [--device ID] [--type T] [--aggregate-id ID] [--actor A] [--after N] [--limit N] [--all] [--url U] [--data-dir D]\n\n' +
      '--type takes the full type (identity.device.revoked) or its unique end (device.revoked).\n' +
      '--all writes every matching event as NDJSON on stdout (one per line, with or without --json),\n' +
      'paging for you; progress and the position to continue from go to stderr.',
    options: {
      all: { type: 'boolean', default: false },
      ...target,
      tenant: { type: 'string' },
      device: { type: 'string' },
      type: { type: 'string' },
      'aggregate-id': { type: 'string' },
      actor: { type: 'string' },
      after: { type: 'string' },
      limit: { type: 'string' },
    },
    async run(values, _positionals, io) {
      const query = new URLSearchParams();
      const map: [string, string][] = [
        ['tenant', 'tenant'],
        ['device', 'device'],
        ['type', 'type'],
        ['aggregate-id', 'aggregateId'],
        ['actor', 'actor'],
        ['after', 'after'],
        ['limit', 'limit'],
      ];
      for (const [flag, param] of map) {
        const value = optionalString(values, flag);
        if (value !== undefined) query.set(param, flag === 'type' ? eventTypeFlag(value) : value);
      }
      for (const flag of ['after', 'limit']) {
        const value = optionalString(values, flag);
        if (value !== undefined && !/^\d+$/.test(value)) {
          throw new UsageError(`--${flag} must be a whole number, not "${value}"`);
        }
      }
      if (values['all']) {
        const { exported, next } = await exportAllEvents(values, query, io);
        return { json: { exported, next }, human: '', quiet: true };
      }
      const limit = optionalString(values, 'limit');
      if (limit !== undefined && Number(limit) > EVENT_PAGE) {
        throw new UsageError(
          `--limit ${limit} is more than one page (${EVENT_PAGE}); add --all to page through every event`,
        );
      }
      const { events, next } = await adminRequest<PagedEvents>(
        adminTarget(values, io.env),
        'GET',
        `/v1/events?${query.toString()}`,
      );
      return {
        json: { events, next },
        human:
          events.length === 0
            ? 'No events match.'
            : table([
                ['POSITION', 'OCCURRED', 'TYPE', 'AGGREGATE', 'ACTOR', 'FLAGS'],
                ...events.map((e) => [
                  String(e.position),
                  e.occurredAt,
                  e.eventType,
                  e.aggregateId,
                  `${e.actor.type}:${e.actor.id}`,
                  e.quarantined ? 'quarantined' : '',
                ]),
              ]),
      };
    },
  },
];

/** `--metrics-listen 127.0.0.1:9464`; a bare `:9464` listens on loopback. */
function hostPort(value: string | undefined): { host: string; port: number } | undefined {
  if (value === undefined) return undefined;
  const match = /^(.*):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw new UsageError('--metrics-listen must be HOST:PORT');
  return { host: (match[1] ?? '').replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port };
}
