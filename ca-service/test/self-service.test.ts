import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Mailer } from '@lantern/ca-service';
import { WebhookDispatcher, smtpMailer } from '@lantern/ca-service';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, createUser, startTestCa } from '../../test/support/ca-fixture.js';

interface ReceivedMail {
  to: string[];
  raw: string;
  /** The body with quoted-printable soft breaks and escapes undone. */
  text: string;
}

/** A real SMTP server on an ephemeral port that keeps what it receives. */
async function startSmtpSink() {
  const received: ReceivedMail[] = [];
  const waiters: (() => void)[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, done) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const text = raw
          .replace(/=\r?\n/g, '')
          .replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), raw, text });
        waiters.splice(0).forEach((wake) => wake());
        done();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    async waitFor(count: number, timeoutMs = 15_000): Promise<ReceivedMail[]> {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline)
          throw new Error(`expected ${count} mails, got ${received.length}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return received;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Sink = Awaited<ReturnType<typeof startSmtpSink>>;

let ca: TestCa;
let sink: Sink;
let mailer: Mailer;
let tenantId: string;
let userId: string;
const OLD = 'correct horse battery';
const NEW = 'a brand new passphrase';
const EMAIL = 'ms.okafor@hillside.example';

const post = (url: string, payload: Record<string, unknown>) =>
  ca.app.inject({ method: 'POST', url, payload, headers: { 'user-agent': 'vitest' } });
const login = (password: string) =>
  post('/v1/auth/login', { tenant: 'hillside', username: 'okafor', password });
const tokenIn = (mail: ReceivedMail, page: string): string => {
  const match = new RegExp(`http://ca\\.test${page}#token=([A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+)`).exec(
    mail.text,
  );
  if (!match?.[1]) throw new Error(`no link to ${page} in the mail`);
  return match[1];
};
const events = (eventType: string) => ca.ctx.store.read({ tenantId, eventType });

beforeEach(async () => {
  sink = await startSmtpSink();
  mailer = smtpMailer(sink.url, 'Lantern <no-reply@ca.test>');
  ca = await startTestCa({ app: { mailer, webhooks: { allowLoopbackHttp: true } } });
  tenantId = await createTenant(ca, 'Hillside');
  const created = await ca.admin('POST', '/v1/admin/users', {
    tenant: tenantId,
    username: 'okafor',
    password: OLD,
    role: 'teacher',
    email: EMAIL,
  });
  userId = (created.json() as { userId: string }).userId;
});
afterEach(async () => {
  await ca.close();
  mailer.close();
  await sink.close();
});

describe('password reset', () => {
  it('answers unknown addresses and tenants exactly like a known one, and mails only the known', async () => {
    const unknownEmail = await post('/v1/self-service/password-reset', {
      tenant: 'hillside',
      email: 'nobody@hillside.example',
    });
    const unknownTenant = await post('/v1/self-service/password-reset', {
      tenant: 'nowhere',
      email: EMAIL,
    });
    const known = await post('/v1/self-service/password-reset', {
      tenant: 'hillside',
      email: EMAIL,
    });
    for (const answer of [unknownEmail, unknownTenant]) {
      expect(answer.statusCode).toBe(known.statusCode);
      expect(answer.body).toBe(known.body);
    }
    expect(known.statusCode).toBe(202);
    await sink.waitFor(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sink.received.map((mail) => mail.to)).toEqual([[EMAIL]]);
    expect(await events('identity.password.reset_requested')).toHaveLength(1);
  });

  it('refuses bad, tampered, expired and superseded tokens with one code and changes nothing', async () => {
    await post('/v1/self-service/password-reset', { tenant: 'hillside', email: EMAIL });
    const first = tokenIn((await sink.waitFor(1))[0]!, '/account/reset-password');
    // Within a minute a second request mails nothing (no flooding a mailbox); after it, it does.
    await post('/v1/self-service/password-reset', { tenant: 'hillside', email: EMAIL });
    ca.clock.advance(61_000);
    await post('/v1/self-service/password-reset', { tenant: 'hillside', email: EMAIL });
    const second = tokenIn((await sink.waitFor(2))[1]!, '/account/reset-password');
    expect(sink.received).toHaveLength(2);
    expect(await events('identity.password.reset_requested')).toHaveLength(2);
    const [id, secret] = second.split('.') as [string, string];
    const tampered = `${id}.${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    for (const token of ['garbage', tampered, first, `${'A'.repeat(22)}.${secret}`]) {
      const answer = await post('/v1/self-service/password-reset/complete', {
        token,
        password: NEW,
      });
      expect(answer.statusCode, token).toBe(400);
      expect(answer.json()).toMatchObject({ code: 'self_service_token_invalid' });
    }
    ca.clock.advance(31 * 60 * 1000);
    const expired = await post('/v1/self-service/password-reset/complete', {
      token: second,
      password: NEW,
    });
    expect(expired.json()).toMatchObject({ code: 'self_service_token_invalid' });
    expect(await events('identity.password.reset_completed')).toHaveLength(0);
    expect((await login(OLD)).statusCode).toBe(200);
  });

  it('refuses a link mailed to an address the account no longer has', async () => {
    await post('/v1/self-service/password-reset', { tenant: 'hillside', email: EMAIL });
    const token = tokenIn((await sink.waitFor(1))[0]!, '/account/reset-password');
    // The admin corrects the address: whoever reads the old mailbox must not reset the account.
    const moved = await ca.admin('PATCH', `/v1/admin/users/${userId}`, {
      email: 'okafor@new.example',
    });
    expect(moved.statusCode, moved.body).toBe(200);
    const answer = await post('/v1/self-service/password-reset/complete', {
      token,
      password: NEW,
    });
    expect(answer.statusCode, answer.body).toBe(400);
    expect(answer.json()).toMatchObject({ code: 'self_service_token_invalid' });
    expect(await events('identity.password.reset_completed')).toHaveLength(0);
    expect((await login(OLD)).statusCode).toBe(200);
  });

  it('refuses a reset whose account was suspended while the new password was hashed', async () => {
    await post('/v1/self-service/password-reset', { tenant: 'hillside', email: EMAIL });
    const token = tokenIn((await sink.waitFor(1))[0]!, '/account/reset-password');
    const { passwords } = ca.ctx;
    const hash = passwords.hash.bind(passwords);
    passwords.hash = async (password) => {
      passwords.hash = hash;
      const hashed = await hash(password);
      const suspended = await ca.admin('POST', `/v1/admin/users/${userId}/suspend`, {});
      expect(suspended.statusCode, suspended.body).toBe(200);
      return hashed;
    };
    const answer = await post('/v1/self-service/password-reset/complete', {
      token,
      password: NEW,
    });
    expect(answer.statusCode, answer.body).toBe(400);
    expect(answer.json()).toMatchObject({ code: 'self_service_token_invalid' });
    expect(await events('identity.password.reset_completed')).toHaveLength(0);
    expect(await events('identity.user.password_set')).toHaveLength(1); // the account's creation
    await ca.admin('POST', `/v1/admin/users/${userId}/reactivate`, {});
    expect((await login(OLD)).statusCode).toBe(200);
  });

  it('resets once, ends every session and refresh family, and keeps the token out of events, logs and webhooks', async () => {
    const hooked: string[] = [];
    const receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        hooked.push(Buffer.concat(chunks).toString('utf8'));
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const subscribed = await ca.admin('POST', '/v1/admin/webhooks', {
      tenant: tenantId,
      url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`,
      eventTypes: ['identity.password.reset_requested', 'identity.password.reset_completed'],
    });
    expect(subscribed.statusCode).toBe(201);
    const signedIn = (await login(OLD)).json() as { refreshToken: string };
    await post('/v1/self-service/password-reset', { tenant: 'hillside', email: EMAIL });
    const token = tokenIn((await sink.waitFor(1))[0]!, '/account/reset-password');

    const [requested] = await events('identity.password.reset_requested');
    const secretHash = createHash('sha256').update(token.split('.')[1]!).digest('hex');
    expect(requested).toMatchObject({
      eventVersion: 2,
      payload: { userId, channel: 'email', resetTokenHash: secretHash, ua: 'vitest' },
    });

    const weak = await post('/v1/self-service/password-reset/complete', { token, password: 'x' });
    expect(weak.json()).toMatchObject({ code: 'credential_rejected' });

    const done = await post('/v1/self-service/password-reset/complete', { token, password: NEW });
    expect(done.statusCode).toBe(200);
    expect(done.json()).toMatchObject({ reset: true, sessionsRevoked: 1 });
    const again = await post('/v1/self-service/password-reset/complete', {
      token,
      password: 'yet another passphrase',
    });
    expect(again.json()).toMatchObject({ code: 'self_service_token_invalid' });

    expect((await login(OLD)).statusCode).toBe(401);
    expect((await login(NEW)).statusCode).toBe(200);
    const refreshed = await post('/v1/auth/refresh', { refreshToken: signedIn.refreshToken });
    expect(refreshed.statusCode).toBe(401);
    expect((await events('identity.session.revoked')).map((e) => e.payload['reason'])).toEqual([
      'password_reset',
    ]);
    expect(await events('identity.password.reset_completed')).toMatchObject([
      { payload: { userId, resetTokenHash: secretHash, sessionsRevoked: 1 } },
    ]);

    const stored = JSON.stringify(await ca.ctx.store.read({ limit: 10_000 }));
    expect(stored).not.toContain(token.split('.')[1]);
    expect(ca.logLines.join('')).not.toContain(token.split('.')[1]);

    const dispatcher = new WebhookDispatcher(ca.ctx, { allowLoopback: true });
    await dispatcher.runOnce();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
    expect(hooked.map((body) => (JSON.parse(body) as { eventType: string }).eventType)).toEqual([
      'identity.password.reset_requested',
      'identity.password.reset_completed',
    ]);
    expect(hooked.join('')).not.toContain(token.split('.')[1]);
  });
});

describe('reset link sent by an admin', () => {
  it('mails the user a link (channel admin); refuses a user without an address, and other tenants', async () => {
    const sent = await ca.admin('POST', `/v1/admin/users/${userId}/password-reset-link`, {});
    expect(sent.statusCode, sent.body).toBe(202);
    const token = tokenIn((await sink.waitFor(1))[0]!, '/account/reset-password');
    expect(await events('identity.password.reset_requested')).toMatchObject([
      { payload: { userId, channel: 'admin' } },
    ]);
    const done = await post('/v1/self-service/password-reset/complete', { token, password: NEW });
    expect(done.statusCode).toBe(200);

    const learner = await createUser(ca, tenantId, 'amina', 'password of amina');
    const noAddress = await ca.admin('POST', `/v1/admin/users/${learner}/password-reset-link`, {});
    expect(noAddress.json()).toMatchObject({ code: 'user_email_missing' });
    const other = await createTenant(ca, 'Riverside');
    const key = await ca.admin('POST', '/v1/admin/api-keys', { scopes: ['admin'], tenant: other });
    const crossing = await ca.admin(
      'POST',
      `/v1/admin/users/${userId}/password-reset-link`,
      {},
      (key.json() as { apiKey: string }).apiKey,
    );
    expect(crossing.statusCode).toBe(404);
    expect(await events('identity.password.reset_requested')).toHaveLength(1);
  });
});

describe('email verification', () => {
  it('verifies the address once, by its own kind of token only', async () => {
    await post('/v1/self-service/password-reset', { tenant: 'hillside', email: EMAIL });
    const resetToken = tokenIn((await sink.waitFor(1))[0]!, '/account/reset-password');
    const wrongKind = await post('/v1/self-service/email-verification/confirm', {
      token: resetToken,
    });
    expect(wrongKind.json()).toMatchObject({ code: 'self_service_token_invalid' });

    const asked = await post('/v1/self-service/email-verification', {
      tenant: 'hillside',
      email: EMAIL.toUpperCase(),
    });
    expect(asked.statusCode).toBe(202);
    const token = tokenIn((await sink.waitFor(2))[1]!, '/account/verify-email');
    expect(await events('identity.user.email_verification_requested')).toHaveLength(1);

    const confirmed = await post('/v1/self-service/email-verification/confirm', { token });
    expect(confirmed.statusCode).toBe(200);
    expect(await events('identity.user.email_verified')).toMatchObject([{ payload: { userId } }]);
    const twice = await post('/v1/self-service/email-verification/confirm', { token });
    expect(twice.json()).toMatchObject({ code: 'self_service_token_invalid' });
  });

  it('serves the pages the links open, with a CSP that allows no inline script', async () => {
    const page = await ca.app.inject({ method: 'GET', url: '/account/reset-password' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.body).toContain('/account/self-service.js');
  });
});

describe('invitation by mail', () => {
  it('mails the invitee a link to the accept page that joins once; the answer says it was mailed', async () => {
    const invited = await ca.admin('POST', '/v1/admin/invitations', {
      tenant: tenantId,
      email: 'new.teacher@hillside.example',
    });
    expect(invited.statusCode, invited.body).toBe(201);
    expect(invited.json()).toMatchObject({ mailed: true });
    const [mail] = await sink.waitFor(1);
    expect(mail?.to).toEqual(['new.teacher@hillside.example']);
    const link = /http:\/\/ca\.test\/account\/accept-invitation#(\S+)/.exec(mail?.text ?? '');
    expect(link?.[1]).toBeDefined();
    const fragment = new URLSearchParams(link?.[1]);
    expect(fragment.get('tenant')).toBe(tenantId);
    const token = fragment.get('token') ?? '';
    expect(token).toBe((invited.json() as { token: string }).token);

    const page = await ca.app.inject({ method: 'GET', url: '/account/accept-invitation' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.body).toContain('id="accept"');

    const accept = { tenant: tenantId, token, username: 'adaeze', password: NEW };
    const joined = await post('/v1/invitations/accept', accept);
    expect(joined.statusCode, joined.body).toBe(201);
    const again = await post('/v1/invitations/accept', { ...accept, username: 'adaeze2' });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'invitation_used' });
    expect(sink.received.map((m) => m.text).join('\n')).not.toContain(NEW);
  });
});
