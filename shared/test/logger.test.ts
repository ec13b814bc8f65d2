import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  LOG_FIELDS,
  LOG_FIELDS_ALWAYS,
  LOG_FIELDS_PER_REQUEST,
  buildInfo,
  createLogger,
  createRedactor,
  gitCommit,
  maskIp,
  withLogContext,
} from '@lantern/shared';

const SECRETS = {
  password: 'correct horse battery staple',
  email: 'amina.k@hillside.example',
  ip: '203.0.113.77',
  ipv6: '2001:db8:85a3:1234:8a2e:370:7334:1',
  refreshToken: 'lrt_01J9Z3YQ8M6W4Q9V2K7T5R3N1B.c2VjcmV0LXJlZnJlc2gtdG9rZW4tdmFsdWU',
  totp: '492039',
  accessToken:
    'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c3JfMDFKOVozWVE4TTZXNFE5VjJLN1Q1UjNOMUIifQ.c2lnbmF0dXJl',
  userId: 'usr_01J9Z3YQ8M6W4Q9V2K7T5R3N1B',
};

function capture(config: { mixin?: () => Record<string, unknown> } = {}) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({
    service: 'test',
    level: 'trace',
    salt: 'test-salt',
    destination,
    build: { version: '9.9.9', commit: 'c0ffee', instance: 'host-a:42' },
    now: () => Date.UTC(2026, 3, 15, 10, 0, 0, 123),
    ...config,
  });
  return { logger, lines };
}

function assertNothingInClear(output: string) {
  for (const [name, value] of Object.entries(SECRETS)) {
    expect(output, `${name} leaked`).not.toContain(value);
  }
  expect(output).not.toContain('203.0.113.77');
  expect(output).not.toContain('hillside.example');
}

describe('logger redaction', () => {
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

  it.each(levels)('redacts secrets passed as fields at %s', (level) => {
    const { logger, lines } = capture();
    logger[level](
      {
        tenantId: 'ten_01J9Z3YQ8M6W4Q9V2K7T5R3N1H',
        password: SECRETS.password,
        email: SECRETS.email,
        ip: SECRETS.ip,
        refreshToken: SECRETS.refreshToken,
        totp: SECRETS.totp,
        code: SECRETS.totp,
        userId: SECRETS.userId,
        nested: { credentials: { pin: '1234', otp: SECRETS.totp }, remoteAddress: SECRETS.ipv6 },
        headers: { authorization: `Bearer ${SECRETS.accessToken}` },
      },
      'login attempt',
    );
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0] ?? '{}');
    expect(record.level).toBe(level);
    expect(record.service).toBe('test');
    expect(record.message).toBe('login attempt');
    expect(record.attrs.password).toBe('[REDACTED]');
    expect(record.attrs.email_hash).toMatch(/^email:[0-9a-f]{16}$/);
    expect(record.attrs.ip_masked).toBe('203.0.113.0/24');
    expect(record.attrs.nested.remoteAddress).toBe('2001:db8:85a3::/48');
    expect(record.attrs.user_id_hash).toMatch(/^hash:[0-9a-f]{16}$/);
    assertNothingInClear(lines.join('\n'));
  });

  it.each(levels)('scrubs secrets embedded in free text at %s', (level) => {
    const { logger, lines } = capture();
    logger[level](
      `user ${SECRETS.email} from ${SECRETS.ip} sent ${SECRETS.refreshToken} and ${SECRETS.accessToken}`,
    );
    logger[level](new Error(`failed for ${SECRETS.email} at ${SECRETS.ipv6}`), 'boom');
    assertNothingInClear(lines.join('\n'));
  });

  it('redacts child bindings', () => {
    const { logger, lines } = capture();
    logger.child({ email: SECRETS.email, password: SECRETS.password }).info('child');
    assertNothingInClear(lines.join('\n'));
  });

  it('pseudonymises per tenant: same input, same tenant, same hash; other tenant differs', () => {
    const redactor = createRedactor('salt');
    const a = redactor.pseudonym('amina', 'ten_A');
    expect(redactor.pseudonym('amina', 'ten_A')).toBe(a);
    expect(redactor.pseudonym('amina', 'ten_B')).not.toBe(a);
    expect(createRedactor('other-salt').pseudonym('amina', 'ten_A')).not.toBe(a);
  });

  it('masks IPs to /24 and /48', () => {
    expect(maskIp('10.1.2.3')).toBe('10.1.2.0/24');
    expect(maskIp('2001:db8:abcd:12::1')).toBe('2001:db8:abcd::/48');
    // `::` early: the zeros it stands for are part of the /48.
    expect(maskIp('2001:db8::1')).toBe('2001:db8:0::/48');
    expect(maskIp('not an ip')).toBe('[REDACTED]');
  });

  it('masks a free-text IPv6 address with `::` whole, trailing groups included', () => {
    const redactor = createRedactor('salt');
    expect(redactor.text('from 2001:db8:abcd:12:34::5678 at noon')).toBe(
      'from 2001:db8:abcd::/48 at noon',
    );
    expect(redactor.text('peer 2001:db8::7334, then fe80::1ff:fe23:4567:890a.')).toBe(
      'peer 2001:db8:0::/48, then fe80:0:0::/48.',
    );
    // Times, MAC addresses and ids with colons are not addresses.
    expect(redactor.text('at 12:34:56 mac aa:bb:cc:dd:ee:ff id ten:01:02')).toBe(
      'at 12:34:56 mac aa:bb:cc:dd:ee:ff id ten:01:02',
    );
  });

  it("keeps a server's listen URL intact but masks a client address in the same line", () => {
    const { logger, lines } = capture();
    logger.info('Server listening at http://127.0.0.1:8080 for 203.0.113.77');
    logger.info('Server listening at http://[::1]:8080 and https://[2001:db8::1]:8443/x');
    const [first, second] = lines.map((line) => JSON.parse(line) as { message: string });
    expect(first?.message).toBe('Server listening at http://127.0.0.1:8080 for 203.0.113.0/24');
    expect(second?.message).toBe(
      'Server listening at http://[::1]:8080 and https://[2001:db8::1]:8443/x',
    );
  });

  it('leaves ordinary ids and counts alone', () => {
    const { logger, lines } = capture();
    logger.info(
      { deviceId: 'dev_01J9Z3YQ8M6W4Q9V2K7T5R3N1C', tokenId: 'tok_1', failureCount: 3 },
      'ok',
    );
    const record = JSON.parse(lines[0] ?? '{}');
    expect(record.attrs.device_id).toBe('dev_01J9Z3YQ8M6W4Q9V2K7T5R3N1C');
    expect(record.attrs.token_id).toBe('tok_1');
    expect(record.attrs.failure_count).toBe(3);
  });
});

describe('log schema', () => {
  it('writes only the schema fields at the top level, everything else under attrs', () => {
    const { logger, lines } = capture();
    logger.info(
      {
        event: 'login.success',
        tenantId: 'ten_1',
        durationMs: 87,
        deviceId: 'dev_1',
        amr: ['pwd'],
      },
      'signed in',
    );
    logger.child({ requestId: 'req_1', traceId: 'a'.repeat(32) }).warn({ statusCode: 401 }, 'no');
    const [first, second] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(first).toEqual({
      ts: '2026-04-15T10:00:00.123Z',
      level: 'info',
      service: 'test',
      instance: 'host-a:42',
      version: '9.9.9',
      commit: 'c0ffee',
      tenant_id: 'ten_1',
      message: 'login.success',
      duration_ms: 87,
      attrs: { device_id: 'dev_1', amr: ['pwd'], detail: 'signed in' },
    });
    expect(Object.keys(first ?? {})).toEqual(LOG_FIELDS.filter((field) => field in (first ?? {})));
    expect(second).toMatchObject({
      request_id: 'req_1',
      trace_id: 'a'.repeat(32),
      message: 'no',
      attrs: { status_code: 401 },
    });
    for (const record of [first, second]) {
      for (const field of LOG_FIELDS_ALWAYS) expect(record).toHaveProperty(field);
      for (const key of Object.keys(record ?? {})) expect(LOG_FIELDS).toContain(key);
    }
  });

  it('takes request fields from the log context, the mixin over it, the call site over both', () => {
    const { logger, lines } = capture({ mixin: () => ({ span_id: 'b'.repeat(16) }) });
    withLogContext(
      () => ({
        trace_id: 'a'.repeat(32),
        span_id: 'c'.repeat(16),
        request_id: 'req_2',
        route: 'POST /v1/auth/login',
        tenant_id: 'ten_1',
        actorId: 'usr_1',
        actor_role: 'learner',
      }),
      () => logger.info({ route: 'GET /override' }, 'inside'),
    );
    logger.info('outside');
    const [inside, outside] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const field of LOG_FIELDS_PER_REQUEST) expect(inside).toHaveProperty(field);
    expect(inside).toMatchObject({
      span_id: 'b'.repeat(16),
      route: 'GET /override',
      actor_role: 'learner',
    });
    expect(inside?.['actor_id_hash']).toMatch(/^hash:[0-9a-f]{16}$/);
    expect(JSON.stringify(inside)).not.toContain('usr_1');
    expect(outside).not.toHaveProperty('request_id');
    expect(outside).toHaveProperty('span_id', 'b'.repeat(16));
  });

  it('reads version, commit and instance from the environment first', () => {
    expect(
      buildInfo({ LANTERN_VERSION: '2.0.0', LANTERN_COMMIT: 'abc123', LANTERN_INSTANCE: 'ca-1' }),
    ).toEqual({ version: '2.0.0', commit: 'abc123', instance: 'ca-1' });
    const fallback = buildInfo({});
    expect(fallback.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(fallback.instance.endsWith(`:${process.pid}`)).toBe(true);
  });

  it("reads HEAD's commit from .git files, without running git, or gives up", () => {
    const dir = mkdtempSync(join(tmpdir(), 'lantern-git-'));
    try {
      expect(gitCommit(join(dir, 'nowhere'))).toBeUndefined();
      const run = (...args: string[]) =>
        execFileSync('git', args, { cwd: dir, encoding: 'utf8' }).trim();
      run('init', '-q', '-b', 'main');
      expect(gitCommit(dir)).toBeUndefined();
      run('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'x');
      const head = run('rev-parse', 'HEAD');
      mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
      expect(gitCommit(join(dir, 'sub', 'deeper'))).toBe(head);
      run('pack-refs', '--all');
      expect(gitCommit(dir)).toBe(head);
      run('worktree', 'add', '-q', join(dir, 'wt'), '-b', 'other');
      expect(gitCommit(join(dir, 'wt'))).toBe(head);
      writeFileSync(join(dir, 'wt', '.git'), 'not a pointer');
      expect(gitCommit(join(dir, 'wt'))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
