import { existsSync } from 'node:fs';
import type { Clock, Command, CommandIo, EnrollmentUriFields } from '@lantern/shared';
import {
  LanternError,
  UsageError,
  optionalString,
  clockFromEnv,
  parseEnrollmentUri,
  requireString,
} from '@lantern/shared';
import type { AgentStatus } from '../data-dir/agent-status.js';
import { agentPaths, resolveDataDir } from '../data-dir/agent-paths.js';
import { DEFAULT_AGENT_HOST, DEFAULT_AGENT_PORT } from '../daemon/loopback.js';
import type { EnrollOutcome } from '../enrollment/enroll.js';
import { CaUnreachableError, NotEnrolledError } from '../errors.js';
import { pageCommand } from './page-command.js';
import { renewCommand, renewedText } from './renew-command.js';
import { syncCommand } from './sync-command.js';

// Every command imports what it runs when it runs: `status` and `verify` are called by scripts
// and login hooks, and loading the daemon (fastify, WebAuthn, QR decoding) for them would cost
// them most of their time.

type Values = Record<string, string | boolean | undefined>;

const dataDirOption = { 'data-dir': { type: 'string' } } as const;

function dataDirOf(values: Values, io: CommandIo): string {
  return resolveDataDir(optionalString(values, 'data-dir'), io.env);
}

function enrolledText(outcome: EnrollOutcome): string {
  const trust =
    outcome.rootTrust === 'pinned'
      ? ['It matches the --root-fingerprint you gave: the root is pinned.']
      : [
          'TRUST ON FIRST USE: no --root-fingerprint was given, so this root was pinned only because',
          'this CA sent it. Compare it now with the fingerprint `lantern-ca init` printed. If they',
          `differ, do not use this device: delete ${outcome.dataDir} and enroll again with`,
          '--root-fingerprint.',
        ];
  return [
    outcome.reenrolled === true
      ? `Re-enrolled: device ${outcome.deviceId} of tenant ${outcome.tenantId} (CA ${outcome.caUrl}) is bound again; its queued events go out with the next sync.`
      : `Enrolled: device ${outcome.deviceId} of tenant ${outcome.tenantId} (CA ${outcome.caUrl}).`,
    ...(outcome.issuer === outcome.caUrl
      ? []
      : [`The CA calls itself ${outcome.issuer}; tokens it issues are checked against that name.`]),
    `Binding certificate valid until ${outcome.certificateNotAfter}; device key ${outcome.keyThumbprint} (${outcome.keyAssurance}).`,
    ...(outcome.attestationRefused === undefined
      ? []
      : [
          `The TPM was not attested, so the CA recorded the software tier: ${outcome.attestationRefused}`,
        ]),
    '',
    'Root CA SHA-256 fingerprint:',
    `  ${outcome.rootFingerprint}`,
    ...trust,
    '',
    `Next: lantern-agent serve --data-dir ${outcome.dataDir}`,
  ].join('\n');
}

function daysLeftText(days: number): string {
  return days >= 0 ? `${days} days left` : `EXPIRED ${-days} days ago: renew online`;
}

function statusText(dataDir: string, status: AgentStatus): string {
  if ('revoked' in status) {
    return [
      `${dataDir}: REVOKED on ${status.revokedAt} (${status.reason}). Nobody can sign in on this device any more.`,
      status.keysDestroyed
        ? 'Its keys are destroyed. To use it again: enroll it into a new, empty data directory.'
        : `It still hands ${status.outboxDepth} event(s) over to the CA at the next sync, then destroys its keys.`,
    ].join('\n');
  }
  if (!status.enrolled) {
    return `${dataDir}: not enrolled.\nRun: lantern-agent enroll --ca URL --token T --data-dir ${dataDir}`;
  }
  const rows: [string, string][] = [
    ['data dir', dataDir],
    ['device', status.deviceId],
    ['device name', status.deviceName ?? '(none given)'],
    ['tenant', status.tenantId],
    ['school', status.tenantName ?? '(not known: enrolled before the CA sent it)'],
    ['CA', status.caUrl],
    ['CA issuer', status.caIssuer],
    ['root fingerprint', status.rootFingerprint],
    [
      'certificate',
      `serial ${status.certificate.serialNumber}, valid until ${status.certificate.notAfter} (${daysLeftText(status.certificate.daysLeft)})`,
    ],
    [
      'key store',
      `${status.keyStore?.kind === 'tpm' ? `TPM (${status.keyStore.tcti})` : 'file'}, ${status.keyAssurance} tier${status.keyAssurance === 'hardware' ? ' (TPM attested at enrollment)' : ''}`,
    ],
    ['revocation cursor', String(status.revocationCursor)],
    ['outbox', `${status.outboxDepth} event(s) waiting`],
    ['last sync', status.lastSyncAt ?? 'never'],
    [
      'trusted time',
      `${status.trustedTime.now} (mark ${status.trustedTime.mark ?? 'none yet'}, from ${status.trustedTime.source})`,
    ],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}

/** Status without side effects: a data directory that has no store yet is not created. */
async function statusOf(dataDir: string, clock: Clock): Promise<AgentStatus> {
  const paths = agentPaths(dataDir);
  if (!existsSync(paths.database)) return { enrolled: false };
  const [{ openAgentStore }, { readKeyStoreConfig }, { readAgentStatus }] = await Promise.all([
    import('../store/agent-store.js'),
    import('../keys/key-store.js'),
    import('../data-dir/agent-status.js'),
  ]);
  const store = openAgentStore(paths.database, { clock });
  try {
    const config = readKeyStoreConfig(paths);
    return readAgentStatus(
      store,
      config.kind === 'tpm' ? { kind: 'tpm', tcti: config.tcti } : { kind: 'file' },
    );
  } finally {
    store.close();
  }
}

function waitForStopSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** `--uri` or `--qr`: the CA, token and root pin in one string; never mixed with the flags. */
async function enrollmentHandoutOf(values: Values): Promise<EnrollmentUriFields | undefined> {
  const uri = optionalString(values, 'uri');
  const qr = optionalString(values, 'qr');
  if (uri === undefined && qr === undefined) return undefined;
  if (uri !== undefined && qr !== undefined) throw new UsageError('give --uri or --qr, not both');
  const given = ['ca', 'token', 'root-fingerprint'].filter((flag) => values[flag] !== undefined);
  if (given.length > 0) {
    throw new UsageError(
      `--${uri !== undefined ? 'uri' : 'qr'} already carries the CA, token and fingerprint; drop --${given.join(', --')}`,
    );
  }
  const text =
    uri ?? (await (await import('../enrollment/enrollment-qr.js')).readEnrollmentQr(qr as string));
  const parsed = parseEnrollmentUri(text);
  if (!parsed.ok) {
    throw new UsageError(
      `${uri !== undefined ? '--uri' : `the QR code in ${qr}`} is not a Lantern enrollment URI: ${parsed.reason}`,
    );
  }
  return parsed.fields;
}

export const commands: Command[] = [
  {
    path: ['enroll'],
    summary:
      'Bind this device to a Lantern CA with a one-time enrollment token (again, once its binding expired)',
    usage:
      'enroll (--ca URL --token T [--root-fingerprint FP] | --uri lantern-enroll:?… | --qr FILE.png) [--data-dir D] [--name N] [--key-store file|tpm --tpm-tcti TCTI]\n\n' +
      '--uri and --qr take what `lantern-ca enroll-token create` or the admin console shows:\n' +
      'the CA URL, the token and the root fingerprint in one string (or its QR code in a PNG).',
    options: {
      ...dataDirOption,
      ca: { type: 'string' },
      token: { type: 'string' },
      'root-fingerprint': { type: 'string' },
      uri: { type: 'string' },
      qr: { type: 'string' },
      name: { type: 'string' },
      'key-store': { type: 'string' },
      'tpm-tcti': { type: 'string' },
    },
    async run(values, _positionals, io) {
      const [{ parseCaUrl }, { normalizeFingerprint }, { parseKeyStoreKind }, { enroll }] =
        await Promise.all([
          import('../enrollment/ca-client.js'),
          import('../enrollment/root-fingerprint.js'),
          import('../keys/key-store.js'),
          import('../enrollment/enroll.js'),
        ]);
      const handout = await enrollmentHandoutOf(values);
      const caText = handout?.caUrl ?? requireString(values, 'ca');
      if (parseCaUrl(caText) === null) {
        throw new UsageError(`--ca must be the CA's http(s) URL, not "${caText}"`);
      }
      const token = handout?.token ?? requireString(values, 'token');
      const fingerprint = handout?.rootFingerprint ?? optionalString(values, 'root-fingerprint');
      if (fingerprint !== undefined && normalizeFingerprint(fingerprint) === null) {
        throw new UsageError(
          '--root-fingerprint must be the 64 hex digit SHA-256 `lantern-ca init` printed',
        );
      }
      const name = optionalString(values, 'name');
      const keyStoreText = optionalString(values, 'key-store') ?? 'file';
      if (keyStoreText !== 'file' && keyStoreText !== 'tpm') {
        throw new UsageError(`--key-store must be file or tpm, not "${keyStoreText}"`);
      }
      const tpmTcti = optionalString(values, 'tpm-tcti') ?? io.env['TPM2TOOLS_TCTI'];
      if (keyStoreText === 'tpm' && tpmTcti === undefined) {
        throw new UsageError(
          '--key-store tpm needs --tpm-tcti (e.g. device:/dev/tpmrm0, or swtpm:host=127.0.0.1,port=2321)',
        );
      }
      const outcome = await enroll({
        dataDir: dataDirOf(values, io),
        caUrl: caText,
        token,
        clock: clockFromEnv(io.env),
        ...(fingerprint === undefined ? {} : { rootFingerprint: fingerprint }),
        ...(name === undefined ? {} : { name }),
        keyStore: parseKeyStoreKind(keyStoreText),
        ...(keyStoreText === 'tpm' && tpmTcti !== undefined ? { tpmTcti } : {}),
      });
      return { json: { ...outcome }, human: enrolledText(outcome) };
    },
  },
  {
    path: ['status'],
    summary: 'Show the device binding, sync and trusted-time state',
    usage: 'status [--data-dir D]',
    options: dataDirOption,
    async run(values, _positionals, io) {
      const dataDir = dataDirOf(values, io);
      const status = await statusOf(dataDir, clockFromEnv(io.env));
      return { json: { dataDir, ...status }, human: statusText(dataDir, status) };
    },
  },
  {
    path: ['serve'],
    summary: 'Run the loopback API for local apps',
    usage: `serve [--data-dir D] [--port ${DEFAULT_AGENT_PORT}] [--host ${DEFAULT_AGENT_HOST}]`,
    options: { ...dataDirOption, port: { type: 'string' }, host: { type: 'string' } },
    async run(values, _positionals, io) {
      const dataDir = dataDirOf(values, io);
      const port = Number(optionalString(values, 'port') ?? DEFAULT_AGENT_PORT);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new UsageError('--port must be 0-65535');
      }
      const [
        { serveAgent },
        { signinRoutes },
        { totpRoutes },
        { passkeyRoutes },
        { signinPage },
        { BackgroundSync },
        { dataDirSyncRunner },
        { SyncStateTracker, syncStateRoute },
        { AgentMetrics, agentObservabilityRoutes },
      ] = await Promise.all([
        import('../daemon/serve-agent.js'),
        import('../daemon/signin-routes.js'),
        import('../daemon/totp-routes.js'),
        import('../daemon/passkey-routes.js'),
        import('../daemon/ui/signin-page.js'),
        import('../daemon/background-sync.js'),
        import('../daemon/data-dir-sync-runner.js'),
        import('../daemon/sync-state.js'),
        import('../daemon/agent-metrics.js'),
      ]);
      const clock = clockFromEnv(io.env);
      const syncState = new SyncStateTracker(clock);
      const metrics = new AgentMetrics(clock);
      const sync = new BackgroundSync({
        runner: dataDirSyncRunner(dataDir, clock, {
          onRenewal: (outcome) => {
            if (outcome.renewed) io.stderr(renewedText(outcome));
          },
          onRenewalError: (error) =>
            io.stderr(`lantern-agent: renewal: ${(error as Error).message}`),
        }),
        onRun: (outcome) => syncState.record(outcome),
        onError: (error) =>
          io.stderr(`lantern-agent: background sync: ${(error as Error).message}`),
      });
      const running = await serveAgent({
        dataDir,
        clock,
        port,
        host: optionalString(values, 'host') ?? DEFAULT_AGENT_HOST,
        features: [
          signinRoutes({
            dataDir,
            clock,
            onAttempt: () => void sync.trigger(),
            onVerdict: (verdict) => metrics.signin('password', verdict),
            onSsoVerdict: (verdict) => metrics.signin('sso', verdict),
          }),
          totpRoutes({ dataDir, clock, onAttempt: () => void sync.trigger() }),
          passkeyRoutes({
            dataDir,
            clock,
            onAttempt: () => void sync.trigger(),
            onVerdict: (verdict) => metrics.signin('passkey', verdict),
          }),
          agentObservabilityRoutes({ dataDir, clock, metrics }),
          signinPage({ dataDir, clock, connectivity: () => syncState.connectivity() }),
          syncStateRoute(syncState),
        ],
        logDestination: process.stderr,
      });
      const status = await statusOf(dataDir, clock);
      // A revoked device still hands its last events over before its keys go.
      if (status.enrolled || ('revoked' in status && !status.keysDestroyed)) sync.start();
      io.stderr(`lantern-agent listening on ${running.url} (data dir ${dataDir}); Ctrl-C stops it`);
      // The link carries a one-time nonce: only the terminal that started the agent sees it.
      io.stderr(
        `sign-in page (open once; \`lantern-agent page\` gives a new link): ${running.launchUrl}`,
      );
      await waitForStopSignal();
      await sync.stop();
      await running.close();
      return { json: { url: running.url, stopped: true }, human: 'lantern-agent stopped' };
    },
  },
  {
    path: ['signin'],
    summary: 'Sign a user in, online when the CA answers, offline otherwise (password on stdin)',
    usage: 'signin --user U [--tenant T] [--totp CODE] [--data-dir D]',
    options: {
      ...dataDirOption,
      user: { type: 'string' },
      tenant: { type: 'string' },
      totp: { type: 'string' },
    },
    async run(values, _positionals, io) {
      const username = requireString(values, 'user');
      const tenant = optionalString(values, 'tenant');
      const totp = optionalString(values, 'totp');
      // One line, as typed or piped: only the line break that ends it is not part of it.
      const password = (await io.readStdin()).replace(/\r?\n$/, '');
      if (password.length === 0) throw new UsageError('give the password on stdin');
      const [{ openSigninAgent }, { signIn }, { refusalError }] = await Promise.all([
        import('../signin/open-signin-agent.js'),
        import('../signin/sign-in.js'),
        import('../signin/signin-refusals.js'),
      ]);
      const { opened, agent } = await openSigninAgent({
        dataDir: dataDirOf(values, io),
        clock: clockFromEnv(io.env),
      });
      try {
        const verdict = await signIn(agent, {
          username,
          password,
          ...(tenant === undefined ? {} : { tenant }),
          ...(totp === undefined ? {} : { totp }),
        });
        if (!verdict.ok) {
          throw refusalError(
            verdict.code,
            verdict.caCode === undefined ? undefined : { caCode: verdict.caCode },
          );
        }
        const expiresAt = new Date(verdict.expiresAt).toISOString();
        if (values['json'] !== true) {
          io.stderr(
            `Signed in ${verdict.mode} as ${verdict.username}; session ${verdict.sessionId} until ${expiresAt}.`,
          );
        }
        return {
          json: {
            ok: true,
            mode: verdict.mode,
            token: verdict.token,
            sessionId: verdict.sessionId,
            userId: verdict.userId,
            expiresAt,
          },
          human: verdict.token,
        };
      } finally {
        opened.close();
      }
    },
  },
  {
    path: ['signin', 'sso'],
    summary:
      "Sign in through the school's OpenID Connect provider (a browser finishes it); the offline password for this device on stdin",
    usage: 'signin sso [--tenant T] [--data-dir D] < offline-password (empty: online only)',
    options: { ...dataDirOption, tenant: { type: 'string' } },
    async run(values, _positionals, io) {
      const tenant = optionalString(values, 'tenant');
      const offlinePassword = (await io.readStdin()).replace(/\r?\n$/, '');
      const [{ openSigninAgent }, { signInWithSso }, { refusalError }] = await Promise.all([
        import('../signin/open-signin-agent.js'),
        import('../signin/sso-signin.js'),
        import('../signin/signin-refusals.js'),
      ]);
      const { opened, agent } = await openSigninAgent({
        dataDir: dataDirOf(values, io),
        clock: clockFromEnv(io.env),
      });
      try {
        const outcome = await signInWithSso(agent, {
          ...(tenant === undefined ? {} : { tenant }),
          ...(offlinePassword === '' ? {} : { offlinePassword }),
          open: ({ authorizationUrl, userCode, deviceId }) =>
            io.stderr(
              [
                'Open this page in a browser to sign in:',
                authorizationUrl,
                ...(userCode === undefined
                  ? []
                  : [
                      `When the page asks for this device's code (it names ${deviceId}), type: ${userCode}`,
                      'Type it only on a sign-in you started here yourself.',
                    ]),
              ].join('\n'),
            ),
        });
        if (outcome.kind === 'unreachable') throw new CaUnreachableError(outcome.detail);
        const verdict = outcome.verdict;
        if (!verdict.ok) {
          throw refusalError(
            verdict.code,
            verdict.caCode === undefined ? undefined : { caCode: verdict.caCode },
          );
        }
        const expiresAt = new Date(verdict.expiresAt).toISOString();
        return {
          json: {
            ok: true,
            mode: verdict.mode,
            token: verdict.token,
            sessionId: verdict.sessionId,
            userId: verdict.userId,
            expiresAt,
          },
          human: verdict.token,
        };
      } finally {
        opened.close();
      }
    },
  },
  {
    path: ['verify'],
    summary: 'Verify a session or access token against the pinned root and revocations',
    usage: 'verify TOKEN|- [--data-dir D]',
    options: dataDirOption,
    async run(values, positionals, io) {
      const [given, ...extra] = positionals;
      if (given === undefined || extra.length > 0) {
        throw new UsageError('give exactly one TOKEN, or - to read it from stdin');
      }
      const token = given === '-' ? (await io.readStdin()).trim() : given;
      const paths = agentPaths(dataDirOf(values, io));
      if (!existsSync(paths.database)) throw new NotEnrolledError();
      const [
        { openAgentStore },
        { ensureStateSeal },
        { createLocalVerifier },
        { TrustedTime },
        { TOKEN_REJECTIONS },
      ] = await Promise.all([
        import('../store/agent-store.js'),
        import('../keys/key-store.js'),
        import('../verify/local-verifier.js'),
        import('../time/trusted-time.js'),
        import('../verify/token-rejections.js'),
      ]);
      const store = openAgentStore(paths.database, { clock: clockFromEnv(io.env) });
      try {
        await ensureStateSeal(paths, store);
        const verdict = createLocalVerifier({ store, trustedTime: new TrustedTime(store) }).verify(
          token,
        );
        if (!verdict.ok) {
          throw new LanternError(verdict.reason, 401, TOKEN_REJECTIONS[verdict.reason]);
        }
        const { claims } = verdict;
        return {
          json: { ok: true, kind: verdict.kind, claims },
          human: `valid ${verdict.kind} token: user ${String(claims.sub)}, session ${String(claims['sid'])}, until ${new Date(claims.exp * 1000).toISOString()}`,
        };
      } finally {
        store.close();
      }
    },
  },
  syncCommand,
  pageCommand,
  renewCommand,
];
