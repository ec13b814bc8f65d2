import { parseCertificate } from '@lantern/shared';
import { parseCrl } from '../../shared/src/x509/parse-crl.js';
import { X509Certificate, verify } from 'node:crypto';
import { copyFileSync, existsSync, renameSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, openCa } from '@lantern/ca-service';
import type { FastifyInstance } from 'fastify';
import type { CaContext } from '@lantern/ca-service';
import { dataDirPaths } from '../src/data-dir/paths.js';
import { rotateIssuingCa } from '../src/data-dir/rotate-issuing.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { TEST_PASSPHRASE, createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import { enrollTestDevice } from '../../test/support/device-keys.js';

const DAY = 86_400_000;
let ca: TestCa;
let tenantId: string;
/** The service as restarted after a rotation, on the same data dir and clock. */
let app: FastifyInstance;
let closeRestarted: () => void = () => undefined;
let running: CaContext;

// One CA for the file, its tests in order: starting a CA is the slow part.
beforeAll(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Hillside');
  app = ca.app;
  running = ca.ctx;
});
afterAll(async () => {
  if (app !== ca.app) {
    await app.close();
    closeRestarted();
  }
  await ca.close();
});

const rotate = () =>
  rotateIssuingCa({ dataDir: ca.dir, clock: ca.clock, passphrase: TEST_PASSPHRASE, root: ca.root });

/** Stops the first service and starts it again on the data dir, as an admin would. */
async function restart() {
  if (app === ca.app) {
    await ca.app.close();
  } else {
    await app.close();
    closeRestarted();
  }
  const reopened = await openCa({
    dataDir: ca.dir,
    clock: ca.clock,
    passphrase: TEST_PASSPHRASE,
    logger: ca.ctx.logger,
  });
  running = reopened.context;
  app = await buildApp({ context: reopened.context, enrollRateLimitPerMinute: 10_000 });
  closeRestarted = () => reopened.close();
  return reopened.context;
}

const admin = (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) =>
  app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${ca.adminKey}` },
    ...(payload === undefined ? {} : { payload }),
  });

async function enroll() {
  const token = (
    await admin('POST', '/v1/admin/enrollment-tokens', { tenant: tenantId, ttlSeconds: 3600 })
  ).json() as { token: string };
  return enrollTestDevice(app, token.token);
}

async function crl(query = '') {
  const response = await app.inject({ method: 'GET', url: `/v1/crl${query}` });
  expect(response.statusCode).toBe(200);
  return parseCrl(response.rawPayload);
}

const signedBy = (crlDer: ReturnType<typeof parseCrl>, issuerPem: string): boolean =>
  verify(
    'sha256',
    crlDer.raw.tbs,
    new X509Certificate(issuerPem).publicKey,
    Buffer.from(crlDer.raw.signature),
  );

describe('issuing-CA rotation (lantern-ca ca rotate-issuing)', () => {
  it('issues with the new CA, keeps the old one signing the CRL of its own certificates', async () => {
    const before = await enroll();
    const oldIssuerPem = ca.ctx.ca.issuingPem;
    const oldKeyId = ca.ctx.ca.authority.keyId.toString('hex');
    expect(parseCertificate(before.certificatePem).authorityKeyIdentifier).toBe(oldKeyId);

    const rotation = await rotate();
    expect(rotation).toMatchObject({ retiredKeyId: oldKeyId, commonName: 'Lantern Issuing CA 2' });
    const ctx = await restart();
    expect(ctx.ca.authority.keyId.toString('hex')).toBe(rotation.issuingKeyId);
    expect(ctx.ca.retired.map((retired) => retired.pem)).toEqual([oldIssuerPem]);

    const after = await enroll();
    const leaf = parseCertificate(after.certificatePem);
    expect(leaf.authorityKeyIdentifier).toBe(rotation.issuingKeyId);

    // The old issuer's device renews onto the new issuer, proving with its old chain.
    ca.clock.advance(21 * DAY);
    const body = JSON.stringify({});
    const renewed = await app.inject({
      method: 'POST',
      url: '/v1/devices/renew',
      headers: {
        'content-type': 'application/json',
        'lantern-device-proof': before.proof(
          'POST',
          '/v1/devices/renew',
          body,
          Math.floor(ca.clock.now() / 1000),
        ),
      },
      payload: body,
    });
    expect(renewed.statusCode).toBe(200);
    const renewedPem = (renewed.json() as { certificate: string }).certificate;
    expect(parseCertificate(renewedPem).authorityKeyIdentifier).toBe(rotation.issuingKeyId);

    for (const device of [before, after]) {
      const revoked = await admin('POST', `/v1/admin/devices/${device.deviceId}/revoke`, {
        reason: 'lost',
      });
      expect(revoked.statusCode).toBe(200);
    }

    const oldCrl = await crl(`?issuer=${oldKeyId}`);
    expect(signedBy(oldCrl, oldIssuerPem)).toBe(true);
    expect(oldCrl.authorityKeyIdentifier).toBe(oldKeyId);
    expect([...oldCrl.revoked.keys()]).toEqual([
      parseCertificate(before.certificatePem).serialNumber,
    ]);

    const current = await crl();
    expect(signedBy(current, ctx.ca.issuingPem)).toBe(true);
    expect([...current.revoked.keys()].sort()).toEqual(
      [parseCertificate(renewedPem).serialNumber, leaf.serialNumber].sort(),
    );
    expect(await crl(`?issuer=${rotation.issuingKeyId.toUpperCase()}`)).toMatchObject({
      crlNumber: current.crlNumber,
    });
    const delta = await app.inject({ method: 'GET', url: `/v1/crl/delta?issuer=${oldKeyId}` });
    expect(signedBy(parseCrl(delta.rawPayload), oldIssuerPem)).toBe(true);
  });

  it('names each issuer its own CRL in the distribution point of the certificates it issues', async () => {
    await rotate();
    const ctx = await restart();
    const device = await enroll();
    expect(ctx.ca.authority.crlUrl).toBe(
      `http://ca.test/v1/crl?issuer=${ctx.ca.authority.keyId.toString('hex')}`,
    );
    expect(
      Buffer.from(parseCertificate(device.certificatePem).der).includes(
        Buffer.from(ctx.ca.authority.crlUrl),
      ),
    ).toBe(true);
  });

  it('refuses an unknown issuer with 404 issuer_unknown and a malformed one with 400', async () => {
    const unknown = await app.inject({ method: 'GET', url: `/v1/crl?issuer=${'ab'.repeat(20)}` });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ code: 'issuer_unknown' });
    const malformed = await app.inject({ method: 'GET', url: '/v1/crl?issuer=zz' });
    expect(malformed.statusCode).toBe(400);
  });

  it('a rotation that crashed after its commit point is finished at the next start; one before it is dropped', async () => {
    const paths = dataDirPaths(ca.dir);
    const firstKeyId = running.ca.authority.keyId.toString('hex');
    // A key written without its certificate: the rotation never reached its commit point.
    copyFileSync(paths.issuingKey, paths.nextIssuingKey);
    let ctx = await restart();
    expect(ctx.ca.authority.keyId.toString('hex')).toBe(firstKeyId);
    expect(existsSync(paths.nextIssuingKey)).toBe(false);

    // Certificate and key of the new CA written, renames not done: put the old ones back.
    const backup = { cert: `${paths.issuingCertificate}.bak`, key: `${paths.issuingKey}.bak` };
    copyFileSync(paths.issuingCertificate, backup.cert);
    copyFileSync(paths.issuingKey, backup.key);
    const rotation = await rotate();
    renameSync(paths.issuingCertificate, paths.nextIssuingCertificate);
    renameSync(paths.issuingKey, paths.nextIssuingKey);
    renameSync(backup.cert, paths.issuingCertificate);
    renameSync(backup.key, paths.issuingKey);
    ctx = await restart();
    expect(ctx.ca.authority.keyId.toString('hex')).toBe(rotation.issuingKeyId);
    expect(ctx.ca.retired.map((retired) => retired.authority.keyId.toString('hex'))).toContain(
      firstKeyId,
    );
  });
});
