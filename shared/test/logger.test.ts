import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, createRedactor, maskIp } from '@lantern/shared';

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

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ service: 'test', level: 'trace', salt: 'test-salt', destination });
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
    expect(record.msg).toBe('login attempt');
    expect(record.password).toBe('[REDACTED]');
    expect(record.email).toMatch(/^email:[0-9a-f]{16}$/);
    expect(record.ip).toBe('203.0.113.0/24');
    expect(record.nested.remoteAddress).toBe('2001:db8:85a3::/48');
    expect(record.userId).toMatch(/^hash:[0-9a-f]{16}$/);
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
    const [first, second] = lines.map((line) => JSON.parse(line) as { msg: string });
    expect(first?.msg).toBe('Server listening at http://127.0.0.1:8080 for 203.0.113.0/24');
    expect(second?.msg).toBe(
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
    expect(record.deviceId).toBe('dev_01J9Z3YQ8M6W4Q9V2K7T5R3N1C');
    expect(record.tokenId).toBe('tok_1');
    expect(record.failureCount).toBe(3);
  });
});
