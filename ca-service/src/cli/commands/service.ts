import {
  DATA_RESIDENCIES,
  UsageError,
  clockFromEnv,
  optionalString,
  requireString,
  systemClock,
} from '@lantern/shared';
import type { Command, DataResidency } from '@lantern/shared';
import { isIP } from 'node:net';
import { postgresLocation, recordableDatabaseUrl } from '../../data-dir/database-location.js';
import { initDataDir, refuseInitialisedDataDir } from '../../data-dir/init-data-dir.js';
import { dataDirPaths } from '../../data-dir/paths.js';
import { requireInitialisedDataDir } from '../../data-dir/require-data-dir.js';
import type { WebAuthnConfig } from '../../mfa/webauthn-config.js';
import type { CommandValues } from '../command-kit.js';
import { ROOT_OPTIONS, passphraseOf, rootLocationOf } from '../command-kit.js';
import {
  PKCS11_OPTIONS,
  PKCS11_USAGE,
  pkcs11InitConfig,
  pkcs11OpenOptions,
} from '../pkcs11-options.js';

/** `--webauthn-origins` takes full origins, comma-separated: a path or a typo is a usage error. */
function webauthnFlags(values: CommandValues): Partial<WebAuthnConfig> {
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

/** `--public-url` must be where clients reach the CA: an http(s) origin, maybe with a path. */
function publicUrlFlag(values: CommandValues): string | undefined {
  const text = optionalString(values, 'public-url');
  if (text === undefined) return undefined;
  if (!URL.canParse(text) || !['http:', 'https:'].includes(new URL(text).protocol)) {
    throw new UsageError(`--public-url must be an http(s) URL, not "${text}"`);
  }
  return text.replace(/\/+$/, '');
}

/**
 * `--trust-proxy 10.0.0.5,10.1.0.0/24`: named balancers only. A hop count, a wildcard, a block
 * wider than /8 (IPv4) or /32 (IPv6), or IPv4 written as IPv6 (`::ffff:0.0.0.0/96` is every IPv4
 * client) would let clients choose their own address for rate limits and risk scoring.
 */
function trustedProxies(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return value.split(',').map((entry) => {
    const text = entry.trim();
    const [address = '', prefix, extra] = text.split('/');
    const family = isIP(address);
    const bits = Number(prefix ?? (family === 4 ? 32 : 128));
    const widest = family === 4 ? 8 : 32;
    const acceptable =
      family !== 0 &&
      extra === undefined &&
      (prefix === undefined || /^\d{1,3}$/.test(prefix)) &&
      bits >= widest &&
      bits <= (family === 4 ? 32 : 128) &&
      !/^::ffff:/i.test(address) &&
      !['0.0.0.0', '::'].includes(address);
    if (!acceptable)
      throw new UsageError(
        `--trust-proxy takes IP addresses or CIDR blocks (at most /8 for IPv4, /32 for IPv6) of your load balancers, not "${text}"`,
      );
    return text;
  });
}

/** `--metrics-listen 127.0.0.1:9464`; a bare `:9464` listens on loopback. */
function hostPort(value: string | undefined): { host: string; port: number } | undefined {
  if (value === undefined) return undefined;
  const match = /^(.*):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw new UsageError('--metrics-listen must be HOST:PORT');
  return { host: (match[1] ?? '').replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port };
}

export const initCommand: Command = {
  path: ['init'],
  summary: 'Create the root and issuing CA, the store and a local admin API key',
  usage:
    'init --data-dir D (--root-dir R [--root-passphrase-file F] | --dev-root-in-data-dir) [--public-url http://127.0.0.1:8080] [--passphrase-file F] [--data-residency us|eu|me|ap] [--database postgres://USER@HOST:5432/DB] [--pkcs11-module LIB --pkcs11-token-label L [--pkcs11-pin-file F]]\n\n' +
    '--root-dir: the offline root (removable media): its key is made or read there, under its own ' +
    'passphrase (LANTERN_CA_ROOT_PASSPHRASE or --root-passphrase-file), signs the issuing CA and ' +
    'never enters the data dir. --dev-root-in-data-dir: DEV ONLY, the root key stays in the data ' +
    'dir under the CA passphrase.\n' +
    '--public-url: where devices reach the CA; it also becomes the name the CA calls itself ' +
    '(the issuer of its tokens), which agents learn at enrollment. --url is the old name.\n' +
    '--data-residency: the region this CA keeps its data in, stamped on every event it stores.\n' +
    '--database: keep the store in this PostgreSQL database (several CA instances can share it;\n' +
    'docs/scaling.md) instead of SQLite in the data dir. Recorded in config.json, so without a\n' +
    'password: PostgreSQL reads it from PGPASSWORD or ~/.pgpass. LANTERN_DATABASE_URL also works.\n' +
    PKCS11_USAGE,
  options: {
    'data-dir': { type: 'string' },
    'public-url': { type: 'string' },
    url: { type: 'string' },
    'passphrase-file': { type: 'string' },
    ...ROOT_OPTIONS,
    'dev-root-in-data-dir': { type: 'boolean', default: false },
    ...PKCS11_OPTIONS,
    'data-residency': { type: 'string' },
    database: { type: 'string' },
  },
  async run(values, _positionals, io) {
    const dataDir = requireString(values, 'data-dir');
    const database = optionalString(values, 'database') ?? io.env['LANTERN_DATABASE_URL'];
    if (database !== undefined) recordableDatabaseUrl(database);
    const dataResidency = optionalString(values, 'data-residency');
    if (
      dataResidency !== undefined &&
      !(DATA_RESIDENCIES as readonly string[]).includes(dataResidency)
    )
      throw new UsageError(`--data-residency must be one of ${DATA_RESIDENCIES.join(', ')}`);
    refuseInitialisedDataDir(dataDir);
    const devRoot = values['dev-root-in-data-dir'] === true;
    if (devRoot === (values['root-dir'] !== undefined)) {
      throw new UsageError(
        'say where the root key goes: --root-dir R (offline media; the data dir never holds it) or --dev-root-in-data-dir (a dev setup on one machine)',
      );
    }
    const root = devRoot ? ('dev-in-data-dir' as const) : rootLocationOf(values, io);
    if (values['url'] !== undefined && values['public-url'] !== undefined) {
      throw new UsageError('give --public-url only (--url is its old name)');
    }
    const publicUrl =
      publicUrlFlag(values) ??
      publicUrlFlag({ 'public-url': optionalString(values, 'url') }) ??
      'http://127.0.0.1:8080';
    // Without either, init generates a passphrase and keeps it in the data dir.
    const passphrase =
      io.env['LANTERN_CA_PASSPHRASE'] !== undefined ||
      optionalString(values, 'passphrase-file') !== undefined
        ? passphraseOf(values, io, dataDir)
        : undefined;
    const pkcs11 = pkcs11InitConfig(values, io);
    const result = await initDataDir({
      dataDir,
      clock: systemClock,
      publicUrl,
      root,
      ...(passphrase === undefined ? {} : { passphrase }),
      ...(pkcs11 === undefined ? {} : { pkcs11 }),
      ...(dataResidency === undefined ? {} : { dataResidency: dataResidency as DataResidency }),
      ...(database === undefined ? {} : { database }),
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
        rootKeyInDataDir: result.rootKeyInDataDir,
        ...(pkcs11 === undefined ? {} : { pkcs11TokenLabel: pkcs11.tokenLabel }),
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
              `For production set LANTERN_CA_PASSPHRASE instead.`,
            ]
          : []),
        ...(pkcs11 === undefined
          ? []
          : [
              ``,
              `The issuing CA key and the token keys are on PKCS#11 token "${pkcs11.tokenLabel}"; serve needs its PIN.`,
            ]),
        ``,
        result.rootKeyInDataDir
          ? `DEV SETUP: the root key is in ${paths.rootKey}; anyone with the data dir can mint issuing CAs.`
          : `The root key stays in ${root === 'dev-in-data-dir' ? '' : root.dir} only: unmount that media and keep it offline.`,
        ``,
        `Next: lantern-ca serve --data-dir ${dataDir}`,
      ].join('\n'),
    };
  },
};

export const serveCommand: Command = {
  path: ['serve'],
  summary: 'Run the CA service (HTTP)',
  usage:
    'serve --data-dir D [--database postgres://…] [--port 8080] [--host 127.0.0.1] [--public-url URL] [--nats URL[,URL…]] [--nats-replicas 1] [--passphrase-file F] [--webauthn-rp-id localhost] [--webauthn-origins URL,URL] [--metrics-listen HOST:PORT] [--smtp-url URL] [--smtp-from ADDRESS] [--webhooks-allow-loopback-http] [--trust-proxy ADDR[,CIDR…]]\n\n' +
    'Stdout carries JSON log lines only; what is meant for a person goes to stderr.\n' +
    'LANTERN_METRICS_TOKEN: a bearer token /metrics then requires.\n' +
    'LANTERN_SMTP_URL (or --smtp-url smtp[s]://user:pass@host:port): mail for email verification and\n' +
    'password reset; without it those routes are off. --webhooks-allow-loopback-http: dev/test only.\n' +
    'OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_TRACES_EXPORTER=otlp): export traces over OTLP/HTTP\n' +
    '(OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER_ARG, …: docs/observability.md).\n' +
    '--nats takes every node of a JetStream cluster, comma-separated; --nats-replicas 3 makes the\n' +
    'relay create its streams replicated on three of them.\n' +
    'A CA initialised on a PKCS#11 token needs its PIN: LANTERN_PKCS11_PIN, LANTERN_PKCS11_PIN_FILE\n' +
    'or --pkcs11-pin-file; --pkcs11-module when the module is no longer where init found it.\n' +
    '--trust-proxy (or LANTERN_TRUST_PROXY): the addresses or CIDR blocks of the load balancers in\n' +
    'front; the client address (rate limits, adaptive MFA, audit) is then read from their\n' +
    'X-Forwarded-For. Without it the TCP peer is the client.\n' +
    '--database (or LANTERN_DATABASE_URL): the PostgreSQL database this instance shares with the\n' +
    'others (a password may be in it here: it is not recorded); else the one init recorded, or SQLite.',
  options: {
    'data-dir': { type: 'string' },
    database: { type: 'string' },
    'public-url': { type: 'string' },
    'trust-proxy': { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'passphrase-file': { type: 'string' },
    nats: { type: 'string' },
    'nats-replicas': { type: 'string' },
    'webauthn-rp-id': { type: 'string' },
    'webauthn-origins': { type: 'string' },
    'metrics-listen': { type: 'string' },
    'pkcs11-module': PKCS11_OPTIONS['pkcs11-module'],
    'pkcs11-pin-file': PKCS11_OPTIONS['pkcs11-pin-file'],
    'smtp-url': { type: 'string' },
    'smtp-from': { type: 'string' },
    'webhooks-allow-loopback-http': { type: 'boolean' },
  },
  async run(values, _positionals, io) {
    const dataDir = requireString(values, 'data-dir');
    const metricsListen = hostPort(
      optionalString(values, 'metrics-listen') ?? io.env['LANTERN_METRICS_LISTEN'],
    );
    const metricsToken = io.env['LANTERN_METRICS_TOKEN'] || undefined;
    const nats = optionalString(values, 'nats') ?? io.env['LANTERN_NATS_URL'];
    const natsReplicas = optionalString(values, 'nats-replicas');
    const replicas = natsReplicas === undefined ? undefined : Number(natsReplicas);
    // JetStream takes 1 to 5 replicas; an even count buys no extra fault tolerance but is legal.
    if (replicas !== undefined && !(Number.isInteger(replicas) && replicas >= 1 && replicas <= 5))
      throw new UsageError('--nats-replicas must be 1-5');
    if (replicas !== undefined && nats === undefined)
      throw new UsageError('--nats-replicas needs --nats (or LANTERN_NATS_URL)');
    const port = Number(optionalString(values, 'port') ?? '8080');
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError('--port must be 0-65535');
    const publicUrl = publicUrlFlag(values);
    const proxies = trustedProxies(
      optionalString(values, 'trust-proxy') ?? io.env['LANTERN_TRUST_PROXY'],
    );
    const database = optionalString(values, 'database') ?? io.env['LANTERN_DATABASE_URL'];
    if (database !== undefined) postgresLocation(database);
    requireInitialisedDataDir(dataDir);
    // Loaded only for `serve`: the service and the OpenTelemetry SDK are most of a CLI start.
    const [{ tracingConfigFromEnv }, { serve }] = await Promise.all([
      import('../../observability/otel-sdk.js'),
      import('../../serve.js'),
    ]);
    const tracing = tracingConfigFromEnv(io.env);
    const passphrase = passphraseOf(values, io, dataDir);
    const pkcs11 = pkcs11OpenOptions(values, io, dataDir);
    const smtpUrl = optionalString(values, 'smtp-url') ?? (io.env['LANTERN_SMTP_URL'] || undefined);
    const running = await serve({
      ...(smtpUrl === undefined
        ? {}
        : {
            smtp: {
              url: smtpUrl,
              from: optionalString(values, 'smtp-from') ?? 'Lantern <no-reply@localhost>',
            },
          }),
      webhooksAllowLoopbackHttp: values['webhooks-allow-loopback-http'] === true,
      ...(proxies === undefined ? {} : { trustedProxies: proxies }),
      dataDir,
      ...(database === undefined ? {} : { database }),
      passphrase,
      ...(pkcs11 === undefined ? {} : { pkcs11 }),
      port,
      host: optionalString(values, 'host') ?? '127.0.0.1',
      clock: clockFromEnv(io.env),
      ...(nats === undefined ? {} : { nats }),
      ...(replicas === undefined ? {} : { natsReplicas: replicas }),
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
};
