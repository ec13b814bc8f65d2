import type { KeyObject } from 'node:crypto';
import { createHmac, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import * as jose from 'jose';
import { describe, expect, it } from 'vitest';
import type { JwtClaims, JwtVerifierOptions } from '@lantern/shared';
import {
  UnusableKeyError,
  createJwtVerifier,
  importJwks,
  publicJwk,
  signJwt,
} from '@lantern/shared';

const ISSUER = 'https://ca.lantern.test';
const AUDIENCE = 'lantern-agent';
const NOW = 1_800_000_000;
const TOLERANCE = 30;

const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const otherP256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const ed25519 = generateKeyPairSync('ed25519');

const jwk = publicJwk(p256.publicKey);
const edJwk = publicJwk(ed25519.publicKey);
const otherKid = publicJwk(otherP256.publicKey).kid;
const p384Jwk = { ...p384.publicKey.export({ format: 'jwk' }), kid: 'p384', use: 'sig' };
const jwks = { keys: [jwk, edJwk, p384Jwk] };

const baseClaims: JwtClaims = {
  iss: ISSUER,
  aud: AUDIENCE,
  sub: 'usr_01J9Z3YQ8M6W4Q9V2K7T5R3N1B',
  iat: NOW,
  exp: NOW + 300,
};

function verifier(options: Partial<JwtVerifierOptions> = {}) {
  return createJwtVerifier({
    keys: importJwks(jwks),
    issuer: ISSUER,
    audience: AUDIENCE,
    clockToleranceSeconds: TOLERANCE,
    ...options,
  });
}

const strict = verifier();
const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64url');

function token(claims: JwtClaims = {}, header: Record<string, unknown> = {}): string {
  return signJwt({ ...baseClaims, ...claims }, { kid: jwk.kid, ...header }, p256.privateKey);
}

/** Signs exactly the given header and payload text, so tests can hand-craft odd JSON. */
function rawToken(
  headerText: string | Buffer,
  payloadText: string | Buffer,
  key = p256.privateKey,
) {
  const input = `${b64(headerText)}.${b64(payloadText)}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

const rejection = (tokenText: unknown, options?: Partial<JwtVerifierOptions>, now = NOW) => {
  const verdict = (options ? verifier(options) : strict).verify(tokenText, now);
  return verdict.ok ? 'accepted' : verdict.reason;
};

function withSegment(tokenText: string, index: number, replacement: string): string {
  const parts = tokenText.split('.');
  parts[index] = replacement;
  return parts.join('.');
}

describe('JWT verifier: time claims', () => {
  it('refuses an expired token, allowing only the configured tolerance', () => {
    expect(rejection(token({ exp: NOW - TOLERANCE - 1 }))).toBe('expired');
    expect(rejection(token({ exp: NOW - TOLERANCE }))).toBe('expired');
    expect(rejection(token({ exp: NOW - TOLERANCE + 1 }))).toBe('accepted');
  });

  it('refuses a token that is not valid yet', () => {
    expect(rejection(token({ nbf: NOW + TOLERANCE + 1 }))).toBe('not_yet_valid');
    expect(rejection(token({ nbf: NOW + TOLERANCE }))).toBe('accepted');
  });

  it('refuses a token issued in the future', () => {
    expect(rejection(token({ iat: NOW + TOLERANCE + 1 }))).toBe('issued_in_future');
    expect(rejection(token({ iat: NOW + TOLERANCE }))).toBe('accepted');
  });

  it('requires exp and refuses time claims that are not numbers', () => {
    const { exp: _exp, ...withoutExp } = baseClaims;
    const noExp = signJwt(withoutExp, { kid: jwk.kid }, p256.privateKey);
    expect(strict.verify(noExp, NOW)).toEqual({
      ok: false,
      reason: 'missing_claim',
      detail: 'exp',
    });
    expect(rejection(token({ exp: String(NOW + 300) as unknown as number }))).toBe('malformed');
    expect(rejection(rawToken(`{"alg":"ES256","kid":"${jwk.kid}"}`, '{"exp":1e400}'))).toBe(
      'malformed',
    );
    expect(rejection(token({ nbf: null as unknown as number }))).toBe('malformed');
  });

  it('refuses a current time given in milliseconds rather than reading every token as expired', () => {
    expect(() => strict.verify(token(), NOW * 1000)).toThrow(RangeError);
    expect(() => strict.verify(token(), Number.NaN)).toThrow(RangeError);
  });
});

describe('JWT verifier: issuer, audience, type, required claims', () => {
  it('refuses the wrong audience and accepts an array naming ours', () => {
    expect(rejection(token({ aud: 'another-service' }))).toBe('wrong_audience');
    expect(rejection(token({ aud: ['a', 'b'] }))).toBe('wrong_audience');
    expect(rejection(token({ aud: ['a', AUDIENCE] }))).toBe('accepted');
    expect(rejection(token({ aud: undefined }))).toBe('missing_claim');
    expect(rejection(token({ aud: [AUDIENCE, 7] as unknown as string[] }))).toBe('malformed');
  });

  it('refuses the wrong issuer', () => {
    expect(rejection(token({ iss: 'https://evil.test' }))).toBe('wrong_issuer');
    expect(rejection(token({ iss: undefined }))).toBe('missing_claim');
    expect(rejection(token({ iss: 42 as unknown as string }))).toBe('malformed');
    expect(
      rejection(token({ iss: 'https://evil.test' }), { issuer: [ISSUER, 'https://evil.test'] }),
    ).toBe('accepted');
  });

  it('checks typ the way RFC 7515 compares media types', () => {
    const options = { typ: 'at+jwt' };
    expect(rejection(token({}, { typ: 'application/AT+JWT' }), options)).toBe('accepted');
    expect(rejection(token({}, { typ: 'at+jwt' }), options)).toBe('accepted');
    expect(rejection(token({}, { typ: 'JWT' }), options)).toBe('wrong_type');
    expect(rejection(token(), options)).toBe('wrong_type');
  });

  it('names the missing required claim', () => {
    const verdict = verifier({ requiredClaims: ['jti', 'sub'] }).verify(token(), NOW);
    expect(verdict).toEqual({ ok: false, reason: 'missing_claim', detail: 'jti' });
  });
});

describe('JWT verifier: algorithms and keys', () => {
  it('refuses alg none, signed or not', () => {
    const unsecured = new jose.UnsecuredJWT({ ...baseClaims }).encode();
    expect(rejection(unsecured)).toBe('malformed');
    const header = b64(JSON.stringify({ alg: 'none', kid: jwk.kid }));
    const withSignature = `${header}.${b64(JSON.stringify(baseClaims))}.${b64('x'.repeat(64))}`;
    expect(rejection(withSignature)).toBe('alg_not_allowed');
  });

  it('refuses HS256 signed with the public key as the HMAC secret', () => {
    const secrets = [
      p256.publicKey.export({ type: 'spki', format: 'pem' }),
      p256.publicKey.export({ type: 'spki', format: 'der' }),
      JSON.stringify(jwk),
    ];
    for (const secret of secrets) {
      for (const alg of ['HS256', 'ES256']) {
        const input = `${b64(JSON.stringify({ alg, kid: jwk.kid }))}.${b64(JSON.stringify(baseClaims))}`;
        const mac = createHmac('sha256', secret).update(input).digest('base64url');
        expect(rejection(`${input}.${mac}`)).toBe(
          alg === 'HS256' ? 'alg_not_allowed' : 'bad_signature',
        );
      }
    }
  });

  it('refuses algorithms by exact name only', () => {
    for (const alg of [
      'es256',
      'ES256 ',
      'ES384',
      'RS256',
      'PS256',
      'Ed25519',
      '',
      null,
      ['ES256'],
    ]) {
      const forged = rawToken(JSON.stringify({ alg, kid: jwk.kid }), JSON.stringify(baseClaims));
      expect(rejection(forged)).toBe('alg_not_allowed');
    }
  });

  it('refuses an unknown kid and a missing one', () => {
    const foreign = signJwt(baseClaims, { kid: otherKid }, otherP256.privateKey);
    expect(rejection(foreign)).toBe('unknown_kid');
    const anonymous = signJwt(baseClaims, {}, p256.privateKey);
    expect(rejection(anonymous)).toBe('missing_kid');
    expect(rejection(token({}, { kid: 7 }))).toBe('malformed');
  });

  it('leaves a wrong-curve key out of the set, so its kid is unknown whatever alg is claimed', () => {
    expect(importJwks(jwks).has('p384')).toBe(false);
    const es384 = rawToken(
      '{"alg":"ES384","kid":"p384"}',
      JSON.stringify(baseClaims),
      p384.privateKey,
    );
    expect(rejection(es384)).toBe('alg_not_allowed');
    const claimed = rawToken(
      '{"alg":"ES256","kid":"p384"}',
      JSON.stringify(baseClaims),
      p384.privateKey,
    );
    expect(rejection(claimed)).toBe('unknown_kid');
  });

  it('refuses at construction a key that cannot verify ES256', () => {
    const build = (key: KeyObject) => () =>
      createJwtVerifier({ keys: new Map([['k', key]]) }).verify(token(), NOW);
    expect(build(p384.publicKey)).toThrow(UnusableKeyError);
    expect(build(p256.privateKey)).toThrow(UnusableKeyError);
    expect(build(ed25519.publicKey)).toThrow(UnusableKeyError);
  });

  it('refuses headers that would choose the key or demand extensions', () => {
    expect(rejection(token({}, { crit: ['exp'] }))).toBe('header_not_allowed');
    expect(rejection(token({}, { jku: 'https://evil.test/jwks' }))).toBe('header_not_allowed');
    expect(rejection(token({}, { x5u: 'https://evil.test/cert' }))).toBe('header_not_allowed');
    expect(rejection(token({}, { jwk: { ...jwk } }))).toBe('header_not_allowed');
  });

  it('accepts EdDSA only when enabled, and only with a key made for it', () => {
    const edToken = signJwt(baseClaims, { kid: edJwk.kid }, ed25519.privateKey);
    expect(rejection(edToken)).toBe('alg_not_allowed');
    const both = {
      keys: importJwks(jwks, { algorithms: ['ES256', 'EdDSA'] }),
      algorithms: ['ES256', 'EdDSA'] as const,
    };
    expect(rejection(edToken, both)).toBe('accepted');
    expect(rejection(token(), both)).toBe('accepted');
    const swapped = withSegment(edToken, 0, b64(JSON.stringify({ alg: 'EdDSA', kid: jwk.kid })));
    expect(rejection(swapped, both)).toBe('alg_not_allowed');
  });

  it('shares one frozen header between tokens that carry it, and still checks each signature', () => {
    const verify = verifier();
    const first = verify.verify(token({ jti: 'a' }), NOW);
    const second = verify.verify(token({ jti: 'b' }), NOW);
    if (!first.ok || !second.ok) throw new Error('expected both to verify');
    expect(second.header).toBe(first.header);
    expect(Object.isFrozen(first.header)).toBe(true);
    const forged = withSegment(token(), 1, b64(JSON.stringify({ ...baseClaims, sub: 'admin' })));
    expect(verify.verify(forged, NOW)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('verifies against a single key without needing a kid', () => {
    const single = createJwtVerifier({ keys: p256.publicKey });
    expect(single.verify(signJwt(baseClaims, {}, p256.privateKey), NOW).ok).toBe(true);
    expect(single.verify(signJwt(baseClaims, {}, otherP256.privateKey), NOW)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });
});

describe('JWT verifier: tampering and hostile input', () => {
  it('refuses a tampered payload and a tampered header', () => {
    const valid = token();
    const claims = b64(JSON.stringify({ ...baseClaims, sub: 'usr_01J9Z3YQ8M6W4Q9V2K7T5R3N1C' }));
    expect(rejection(withSegment(valid, 1, claims))).toBe('bad_signature');
    const header = b64(JSON.stringify({ alg: 'ES256', kid: jwk.kid, typ: 'JWT' }));
    expect(rejection(withSegment(valid, 0, header))).toBe('bad_signature');
  });

  it('refuses truncated, padded and re-spelled signatures', () => {
    const valid = token();
    const signature = valid.split('.')[2] ?? '';
    expect(rejection(withSegment(valid, 2, signature.slice(0, -1)))).toBe('bad_signature');
    expect(rejection(withSegment(valid, 2, signature.slice(0, 43)))).toBe('bad_signature');
    expect(rejection(withSegment(valid, 2, `${signature}AA`))).toBe('bad_signature');
    expect(rejection(`${valid}==`)).toBe('malformed');
    const last = signature.at(-1) ?? 'A';
    const respelled = String.fromCharCode(last.charCodeAt(0) + 1);
    expect(Buffer.from(signature.slice(0, -1) + respelled, 'base64url')).toEqual(
      Buffer.from(signature, 'base64url'),
    );
    expect(rejection(withSegment(valid, 2, signature.slice(0, -1) + respelled))).toBe(
      'bad_signature',
    );
    const der = sign(
      'sha256',
      Buffer.from(valid.slice(0, valid.lastIndexOf('.'))),
      p256.privateKey,
    );
    expect(rejection(withSegment(valid, 2, der.toString('base64url')))).toBe('bad_signature');
  });

  it.each([
    ['empty', ''],
    ['dots only', '..'],
    ['two segments', 'eyJhbGciOiJFUzI1NiJ9.eyJleHAiOjF9'],
    ['JWE shape', 'a.b.c.d.e'],
    ['four segments', 'a.b.c.d'],
    ['spaces', 'eyJh bGci.eyJl.abc'],
    ['standard base64', 'eyJhbGciOiJFUzI1NiJ9.eyJleHAiOjF9+/=.abc'],
    ['not base64 json', 'abc.def.ghi'],
    ['length 4n+1 header', 'eyJhb.eyJleHAiOjF9.abc'],
    ['unicode', 'ëyJhbGciOiJFUzI1NiJ9.eyJleHAiOjF9.abc'],
    ['a number', 42],
    ['null', null],
    ['undefined', undefined],
    ['an object', { token: 'x' }],
    ['an array', ['a', 'b', 'c']],
  ])('returns malformed for garbage: %s', (_label, input) => {
    expect(rejection(input)).toBe('malformed');
  });

  it('refuses an oversized token before decoding it, unless the limit is raised', () => {
    const big = token({ padding: 'x'.repeat(16 * 1024) });
    expect(rejection(big)).toBe('malformed');
    expect(rejection(big, { maxTokenLength: 64 * 1024 })).toBe('accepted');
    expect(rejection(`${'a'.repeat(10_000_000)}.b.c`)).toBe('malformed');
  });

  it.each([
    ['duplicate exp', '{"exp":1,"exp":1800000300}'],
    ['duplicate exp spelled with an escape', '{"exp":1800000300,"\\u0065xp":1}'],
    ['duplicate in a nested object', '{"exp":1800000300,"ctx":{"a":1,"a":2}}'],
    ['__proto__ member', '{"exp":1800000300,"__proto__":{"admin":true}}'],
    ['array payload', '[{"exp":1800000300}]'],
    ['null payload', 'null'],
    ['string payload', '"exp"'],
    ['byte order mark', '\ufeff{"exp":1800000300}'],
    ['trailing garbage', '{"exp":1800000300} x'],
    ['empty', ''],
  ])('refuses signed claims that are odd JSON: %s', (_label, payload) => {
    const signed = rawToken(`{"alg":"ES256","kid":"${jwk.kid}"}`, payload);
    expect(createJwtVerifier({ keys: importJwks(jwks) }).verify(signed, NOW)).toMatchObject({
      ok: false,
      reason: 'malformed',
    });
  });

  it('refuses signed claims that are not UTF-8', () => {
    const payload = Buffer.concat([
      Buffer.from('{"exp":1800000300,"n":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}'),
    ]);
    expect(rejection(rawToken(`{"alg":"ES256","kid":"${jwk.kid}"}`, payload))).toBe('malformed');
  });

  it('refuses odd JSON in the header', () => {
    const claims = JSON.stringify(baseClaims);
    expect(rejection(rawToken(`{"alg":"none","alg":"ES256","kid":"${jwk.kid}"}`, claims))).toBe(
      'malformed',
    );
    expect(rejection(rawToken('["ES256"]', claims))).toBe('malformed');
    expect(rejection(rawToken(`{"alg":"ES256","kid":"${jwk.kid}","x5c":"MII"}`, claims))).toBe(
      'malformed',
    );
  });

  it('refuses claims nested deeper than any real token needs', () => {
    const nestedClaims = (depth: number) =>
      rawToken(
        `{"alg":"ES256","kid":"${jwk.kid}"}`,
        `{"exp":${NOW + 300},"deep":${'['.repeat(depth)}${']'.repeat(depth)}}`,
      );
    const verify = createJwtVerifier({ keys: importJwks(jwks) });
    expect(verify.verify(nestedClaims(31), NOW).ok).toBe(true);
    expect(verify.verify(nestedClaims(32), NOW)).toEqual({
      ok: false,
      reason: 'malformed',
      detail: 'claims',
    });
    expect(verify.verify(nestedClaims(5000), NOW).ok).toBe(false);
  });

  it('keeps equal member names in different objects apart', () => {
    const payload = JSON.stringify({ ...baseClaims, a: { exp: 1, b: [{ exp: 2 }, { exp: 3 }] } });
    expect(rejection(rawToken(`{"alg":"ES256","kid":"${jwk.kid}"}`, payload))).toBe('accepted');
  });

  it('never throws and never accepts arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (input) => {
        expect(strict.verify(input, NOW).ok).toBe(false);
      }),
    );
  });

  it('never accepts a valid token with any one character changed', () => {
    const valid = token();
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    fc.assert(
      fc.property(
        fc.nat({ max: valid.length - 1 }),
        fc.constantFrom(...alphabet),
        (index, char) => {
          fc.pre(valid[index] !== char);
          const mutated = valid.slice(0, index) + char + valid.slice(index + 1);
          expect(strict.verify(mutated, NOW).ok).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('JWT verifier: interoperability with jose', () => {
  const jwksForJose = { keys: [jwk] };

  it('accepts what jose signs', async () => {
    const joseToken = await new jose.SignJWT({ scope: 'signin' })
      .setProtectedHeader({ alg: 'ES256', kid: jwk.kid, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience([AUDIENCE, 'other'])
      .setSubject('usr_1')
      .setIssuedAt(NOW)
      .setNotBefore(NOW)
      .setExpirationTime(NOW + 60)
      .setJti('tok_1')
      .sign(p256.privateKey);
    const verdict = verifier({ typ: 'JWT', requiredClaims: ['jti'] }).verify(joseToken, NOW);
    expect(verdict).toMatchObject({
      ok: true,
      header: { alg: 'ES256', kid: jwk.kid, typ: 'JWT' },
      claims: { scope: 'signin', sub: 'usr_1', exp: NOW + 60 },
    });
  });

  it('signs what jose accepts, and what jose refuses we refuse', async () => {
    const ours = token({ scope: 'signin' }, { typ: 'JWT' });
    const result = await jose.jwtVerify(ours, jose.createLocalJWKSet(jwksForJose), {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['ES256'],
      currentDate: new Date(NOW * 1000),
    });
    expect(result.payload).toMatchObject({ scope: 'signin', exp: NOW + 300 });
    expect(result.protectedHeader).toEqual({ alg: 'ES256', kid: jwk.kid, typ: 'JWT' });

    const expired = token({ exp: NOW - 120 });
    await expect(
      jose.jwtVerify(expired, jose.createLocalJWKSet(jwksForJose), {
        currentDate: new Date(NOW * 1000),
      }),
    ).rejects.toThrow(jose.errors.JWTExpired);
    expect(rejection(expired)).toBe('expired');
  });

  it('publishes the same kid as jose computes for the key', async () => {
    const exported = createPublicKey(p256.privateKey).export({ format: 'jwk' });
    expect(jwk.kid).toBe(await jose.calculateJwkThumbprint(exported as jose.JWK));
  });
});
