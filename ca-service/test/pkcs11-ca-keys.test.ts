import { createJwtVerifier, importJwks, manualClock, parseCertificate } from '@lantern/shared';
import { parseCrl } from '../../shared/src/x509/parse-crl.js';
import { X509Certificate, createPublicKey, verify } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initDataDir, openCa, openPkcs11Token } from '@lantern/ca-service';
import { dataDirPaths } from '../src/data-dir/paths.js';
import { rotateIssuingCa } from '../src/data-dir/rotate-issuing.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import {
  T0,
  TEST_PASSPHRASE,
  TEST_ROOT_PASSPHRASE,
  createEnrollmentToken,
  createTenant,
  createUser,
  startTestCa,
} from '../../test/support/ca-fixture.js';
import { enrollTestDevice } from '../../test/support/device-keys.js';
import type { SoftHsm } from '../../test/support/softhsm.js';
import { startSoftHsm } from '../../test/support/softhsm.js';

let hsm: SoftHsm;
let ca: TestCa;
const scratch: string[] = [];
const PASSWORD = 'correct horse battery';

beforeAll(async () => {
  hsm = startSoftHsm();
  ca = await startTestCa({
    pkcs11: { modulePath: hsm.modulePath, tokenLabel: hsm.tokenLabel, pin: hsm.pin },
  });
});
afterAll(async () => {
  await ca?.close();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  hsm?.close();
});

function emptyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-ca-hsm-'));
  scratch.push(dir);
  return dir;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    (error: unknown) => (error as { code?: string }).code,
  );

describe('CA keys on a PKCS#11 token: refusals', () => {
  it('refuses a wrong PIN with hsm_pin_incorrect, writes no CA, and the process goes on', async () => {
    const dir = emptyDir();
    const code = await codeOf(
      initDataDir({
        dataDir: dir,
        clock: manualClock(T0),
        publicUrl: 'http://ca.test',
        passphrase: TEST_PASSPHRASE,
        root: { dir: join(dir, '..', `${basename(dir)}-root`), passphrase: TEST_ROOT_PASSPHRASE },
        pkcs11: { modulePath: hsm.modulePath, tokenLabel: hsm.tokenLabel, pin: '000000' },
      }),
    );
    expect(code).toBe('hsm_pin_incorrect');
    expect(existsSync(dataDirPaths(dir).pkcs11Settings)).toBe(false);
    expect(existsSync(dataDirPaths(dir).issuingCertificate)).toBe(false);
    // Refused before the ceremony: no root was made for a CA that never came to be.
    expect(existsSync(join(dir, '..', `${basename(dir)}-root`))).toBe(false);
  });

  it('refuses to open an HSM-held CA with a wrong PIN, and with none', async () => {
    const open = (pin?: string) =>
      openCa({
        dataDir: ca.dir,
        clock: ca.clock,
        passphrase: TEST_PASSPHRASE,
        ...(pin === undefined ? {} : { pkcs11: { pin } }),
      });
    expect(await codeOf(open('999999'))).toBe('hsm_pin_incorrect');
    const saved = {
      pin: process.env['LANTERN_PKCS11_PIN'],
      file: process.env['LANTERN_PKCS11_PIN_FILE'],
    };
    delete process.env['LANTERN_PKCS11_PIN'];
    delete process.env['LANTERN_PKCS11_PIN_FILE'];
    try {
      expect(await codeOf(open())).toBe('hsm_pin_missing');
    } finally {
      if (saved.pin !== undefined) process.env['LANTERN_PKCS11_PIN'] = saved.pin;
      if (saved.file !== undefined) process.env['LANTERN_PKCS11_PIN_FILE'] = saved.file;
    }
    // The running CA's own session is untouched by the failed opens.
    expect((await ca.app.inject({ method: 'GET', url: '/v1/crl' })).statusCode).toBe(200);
  });

  it('passes the token its refusal: a wrong PIN on a token no session is logged in to', () => {
    expect(() =>
      openPkcs11Token({
        modulePath: hsm.modulePath,
        tokenLabel: hsm.otherTokenLabel,
        pin: '000000',
      }),
    ).toThrow(expect.objectContaining({ code: 'hsm_pin_incorrect' }));
    // Refused, the token still opens with the right PIN: no half-open session was left behind.
    openPkcs11Token({
      modulePath: hsm.modulePath,
      tokenLabel: hsm.otherTokenLabel,
      pin: hsm.pin,
    }).close();
  });

  it('names an unknown token label and an unloadable module', async () => {
    const init = (modulePath: string, tokenLabel: string) =>
      initDataDir({
        dataDir: emptyDir(),
        clock: manualClock(T0),
        publicUrl: 'http://ca.test',
        passphrase: TEST_PASSPHRASE,
        root: 'dev-in-data-dir',
        pkcs11: { modulePath, tokenLabel, pin: hsm.pin },
      });
    expect(await codeOf(init(hsm.modulePath, 'no-such-token'))).toBe('hsm_token_not_found');
    expect(await codeOf(init('/nonexistent/libpkcs11.so', hsm.tokenLabel))).toBe('hsm_unavailable');
  });

  it('refuses a token that does not hold the keys the data dir names', async () => {
    const token = openPkcs11Token({
      modulePath: hsm.modulePath,
      tokenLabel: hsm.otherTokenLabel,
      pin: hsm.pin,
    });
    try {
      expect(() => token.key('00112233445566778899aabbccddeeff')).toThrow(
        expect.objectContaining({ code: 'hsm_key_missing' }),
      );
    } finally {
      token.close();
    }
  });

  it('refuses the file-key rotation command on an HSM-held issuing CA', async () => {
    const code = await codeOf(
      rotateIssuingCa({
        dataDir: ca.dir,
        clock: ca.clock,
        passphrase: TEST_PASSPHRASE,
        root: ca.root,
      }),
    );
    expect(code).toBe('hsm_operation_unsupported');
  });
});

describe('CA keys on a PKCS#11 token', () => {
  it('keeps neither the issuing key nor a token key in the data dir', () => {
    const paths = dataDirPaths(ca.dir);
    expect(existsSync(paths.issuingKey)).toBe(false);
    expect(existsSync(paths.tokenKeys)).toBe(false);
    const holdingKeys = filesUnder(ca.dir).filter((path) =>
      readFileSync(path).includes('PRIVATE KEY-----'),
    );
    // The root key is on the offline root's media, not here either.
    expect(holdingKeys).toEqual([]);
    const ring = JSON.parse(readFileSync(paths.tokenKeysPkcs11, 'utf8')) as {
      keys: Record<string, unknown>[];
    };
    expect(ring.keys).toHaveLength(2);
    for (const key of ring.keys) expect(Object.keys(key)).not.toContain('privateKey');
  });

  it('holds the issuing key on the token as a non-extractable key whose public half the certificate names', () => {
    const settings = JSON.parse(readFileSync(dataDirPaths(ca.dir).pkcs11Settings, 'utf8')) as {
      issuingKeyId: string;
      tokenLabel: string;
    };
    expect(settings.tokenLabel).toBe(hsm.tokenLabel);
    expect(JSON.stringify(settings)).not.toContain(hsm.pin);
    const token = openPkcs11Token({
      modulePath: hsm.modulePath,
      tokenLabel: hsm.tokenLabel,
      pin: hsm.pin,
    });
    try {
      const held = token.key(settings.issuingKeyId);
      const issuing = new X509Certificate(ca.ctx.ca.issuingPem);
      expect(held.publicKey.equals(issuing.publicKey)).toBe(true);
      // Signed by the offline root, whose key never came near the data dir or the token.
      const root = new X509Certificate(readFileSync(join(ca.root.dir, 'root.pem')));
      expect(issuing.checkIssued(root) && issuing.verify(root.publicKey)).toBe(true);
    } finally {
      token.close();
    }
  });

  it('enrolls a device, signs CRLs and the signed JWKS, and issues tokens with HSM-held keys', async () => {
    const tenantId = await createTenant(ca, 'Hillside');
    await createUser(ca, tenantId, 'amina', PASSWORD);
    const device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
    const issuer = new X509Certificate(ca.ctx.ca.issuingPem);
    expect(new X509Certificate(device.certificatePem).verify(issuer.publicKey)).toBe(true);
    expect(parseCertificate(device.certificatePem).authorityKeyIdentifier).toBe(
      ca.ctx.ca.authority.keyId.toString('hex'),
    );

    const revoke = await ca.admin('POST', `/v1/admin/devices/${device.deviceId}/revoke`, {
      reason: 'lost',
    });
    expect(revoke.statusCode).toBe(200);
    const crlResponse = await ca.app.inject({ method: 'GET', url: '/v1/crl' });
    const crl = parseCrl(crlResponse.rawPayload);
    expect(verify('sha256', crl.raw.tbs, issuer.publicKey, Buffer.from(crl.raw.signature))).toBe(
      true,
    );
    expect([...crl.revoked.keys()]).toEqual([parseCertificate(device.certificatePem).serialNumber]);

    const signed = (await ca.app.inject({ method: 'GET', url: '/v1/ca/jwks.jws' })).json() as {
      jwks: string;
    };
    const [header, claims, signature] = signed.jwks.split('.') as [string, string, string];
    expect(
      verify(
        'sha256',
        Buffer.from(`${header}.${claims}`),
        { key: issuer.publicKey, dsaEncoding: 'ieee-p1363' },
        Buffer.from(signature, 'base64url'),
      ),
    ).toBe(true);

    const login = await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenantId, username: 'amina', password: PASSWORD },
    });
    expect(login.statusCode).toBe(200);
    const { accessToken } = login.json() as { accessToken: string };
    const verdict = createJwtVerifier({
      keys: importJwks(ca.ctx.tokenKeys.jwks()),
      issuer: 'http://ca.test',
      audience: 'lantern',
      typ: 'at+jwt',
    }).verify(accessToken, Math.floor(ca.clock.now() / 1000));
    expect(verdict.ok).toBe(true);
    // A tampered token fails: the signature really is checked against the token's key.
    const tampered = `${accessToken.slice(0, -4)}AAAA`;
    expect(
      createJwtVerifier({
        keys: importJwks(ca.ctx.tokenKeys.jwks()),
        issuer: 'http://ca.test',
        audience: 'lantern',
        typ: 'at+jwt',
      }).verify(tampered, Math.floor(ca.clock.now() / 1000)).ok,
    ).toBe(false);
  });

  it('observes identity_kms_operations_duration_seconds for each kind of signature', async () => {
    const text = (await ca.app.inject({ method: 'GET', url: '/metrics' })).body;
    const count = (operation: string) =>
      Number(
        new RegExp(
          `^identity_kms_operations_duration_seconds_count\\{operation="${operation}"\\} (\\d+)`,
          'm',
        ).exec(text)?.[1] ?? 'NaN',
      );
    expect(count('sign_x509')).toBeGreaterThanOrEqual(2); // the certificate and the CRL
    expect(count('sign_jws')).toBeGreaterThanOrEqual(1); // the signed JWKS
    expect(count('sign_jwt')).toBeGreaterThanOrEqual(1); // the access token
    expect(text).toContain(
      'identity_kms_operations_duration_seconds_bucket{le="0.0005",operation="sign_jwt"}',
    );
  });

  it('rotates the token keys on the token and destroys a retired key once it is unpublished', async () => {
    const first = ca.ctx.tokenKeys.jwks().keys.map((key) => key.kid);
    const change = await ca.ctx.tokenKeys.rotate();
    expect(change.rotation).not.toBeNull();
    const ring = () =>
      (
        JSON.parse(readFileSync(dataDirPaths(ca.dir).tokenKeysPkcs11, 'utf8')) as {
          keys: { kid: string; status: string; pkcs11Id: string }[];
        }
      ).keys;
    const retired = ring().find((key) => key.status === 'retired');
    expect(retired?.kid).toBe(first[1]);
    ca.clock.advance(400 * 86_400_000);
    const later = await ca.ctx.tokenKeys.scheduledRotation();
    expect(later.removedKids).toContain(retired?.kid);
    const token = openPkcs11Token({
      modulePath: hsm.modulePath,
      tokenLabel: hsm.tokenLabel,
      pin: hsm.pin,
    });
    try {
      expect(() => token.key(retired?.pkcs11Id ?? '')).toThrow(
        expect.objectContaining({ code: 'hsm_key_missing' }),
      );
      for (const key of ring()) expect(token.key(key.pkcs11Id).publicKey.type).toBe('public');
    } finally {
      token.close();
    }
  });

  it('opens again from the data dir and the token alone, with the same keys', async () => {
    const reopened = await openCa({
      dataDir: ca.dir,
      clock: ca.clock,
      passphrase: TEST_PASSPHRASE,
      pkcs11: { pin: hsm.pin },
    });
    try {
      expect(reopened.context.tokenKeys.jwks()).toEqual(ca.ctx.tokenKeys.jwks());
      expect(reopened.context.ca.authority.keyId).toEqual(ca.ctx.ca.authority.keyId);
      const signature = await reopened.context.ca.authority.signer.sign(Buffer.from('x'));
      expect(
        verify('sha256', Buffer.from('x'), createPublicKey(ca.ctx.ca.issuingPem), signature),
      ).toBe(true);
    } finally {
      await reopened.close();
    }
  });
});

describe('a token that loses a key under a running CA', () => {
  it('answers 503 hsm_unavailable and counts the failure, and the service goes on', async () => {
    const tenantId = await createTenant(ca, 'Riverside');
    await createUser(ca, tenantId, 'bao', PASSWORD);
    const active = (
      JSON.parse(readFileSync(dataDirPaths(ca.dir).tokenKeysPkcs11, 'utf8')) as {
        keys: { status: string; pkcs11Id: string }[];
      }
    ).keys.find((key) => key.status === 'active');
    const token = openPkcs11Token({
      modulePath: hsm.modulePath,
      tokenLabel: hsm.tokenLabel,
      pin: hsm.pin,
    });
    try {
      token.destroyKey(active?.pkcs11Id ?? '');
    } finally {
      token.close();
    }
    const login = await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenantId, username: 'bao', password: PASSWORD },
    });
    expect(login.statusCode).toBe(503);
    expect((login.json() as { code: string }).code).toBe('hsm_unavailable');
    const text = (await ca.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(/^identity_kms_operation_failures_total\{operation="sign_jwt"\} 1$/m);
    // The issuing key is untouched: the CRL still signs.
    expect((await ca.app.inject({ method: 'GET', url: '/v1/crl' })).statusCode).toBe(200);
  });
});
