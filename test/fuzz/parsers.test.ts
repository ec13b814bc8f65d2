import {
  CertificateParseError,
  EventValidator,
  LanternError,
  OID_EKU_LANTERN_DEVICE_BINDING,
  X5cJwtVerifier,
  createJwtVerifier,
  importJwks,
  parseCertificate,
  validateCertificatePath,
} from '@lantern/shared';
import { CaSignedTokenVerifier, checkRevocationPage } from '@lantern/agent';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceProofVerifier } from '../../ca-service/src/device-proof/device-proof-verifier.js';
import { parseDeviceCsr } from '../../ca-service/src/enrollment/csr.js';
import { CrlParseError, parseCrl } from '../../shared/src/x509/parse-crl.js';
import { signedRevocationPage } from '../../ca-service/src/revocation/revocation-pages.js';
import type { TestCa } from '../support/ca-fixture.js';
import {
  createEnrollmentToken,
  createTenant,
  createUser,
  startTestCa,
} from '../support/ca-fixture.js';
import type { EnrolledTestDevice } from '../support/device-keys.js';
import { enrollTestDevice, testDeviceKey } from '../support/device-keys.js';
import { fuzzRuns, mutatedBytes, mutatedText, tamperedJws } from './fuzz-support.js';

/**
 * Every parser that reads bytes from outside (docs/architecture.md §9.5): arbitrary and damaged inputs end in
 * a typed refusal or the parser's own documented error, never a TypeError, RangeError or hang.
 */
let ca: TestCa;
let device: EnrolledTestDevice;
let tenantId = '';
let leafDer: Uint8Array;
let crlDer: Uint8Array;
let revokedLeafDer: Uint8Array;
let csrPem = '';
let page = '';
let accessToken = '';
const now = () => Math.floor(ca.clock.now() / 1000);

beforeAll(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Fuzz');
  device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
  const revoked = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
  await ca.admin('POST', `/v1/admin/devices/${revoked.deviceId}/revoke`, { reason: 'lost' });
  leafDer = Buffer.from(device.x5c[0] ?? '', 'base64');
  revokedLeafDer = Buffer.from(revoked.x5c[0] ?? '', 'base64');
  crlDer = (await ca.app.inject({ method: 'GET', url: '/v1/crl' })).rawPayload;
  csrPem = await testDeviceKey().csr();
  page = (await signedRevocationPage(ca.ctx, tenantId, 0)).page;
  await createUser(ca, tenantId, 'fuzzy', 'a long fuzz password');
  accessToken = (
    (
      await ca.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { tenant: tenantId, username: 'fuzzy', password: 'a long fuzz password' },
      })
    ).json() as { accessToken: string }
  ).accessToken;
});
afterAll(async () => ca.close());

function onlyThrows(run: () => unknown, ...allowed: (new (...args: never[]) => Error)[]): void {
  try {
    run();
  } catch (error) {
    if (!allowed.some((kind) => error instanceof kind)) throw error;
  }
}

describe('X.509 (shared, strict DER)', () => {
  it('sanity: the untouched inputs parse', () => {
    expect(parseCertificate(leafDer).subjectAltNameUris[0]).toContain(device.deviceId);
    expect(parseCrl(crlDer).revoked.size).toBeGreaterThan(0);
  });

  it('parseCertificate throws nothing but CertificateParseError', () => {
    fc.assert(
      fc.property(fc.oneof(mutatedBytes(leafDer), fc.uint8Array({ maxLength: 600 })), (bytes) =>
        onlyThrows(() => parseCertificate(bytes), CertificateParseError),
      ),
      fuzzRuns(1500),
    );
    fc.assert(
      fc.property(mutatedText(device.certificatePem), (pem) =>
        onlyThrows(() => parseCertificate(pem), CertificateParseError),
      ),
      fuzzRuns(300),
    );
  });

  it('parseCrl throws nothing but CrlParseError', () => {
    fc.assert(
      fc.property(fc.oneof(mutatedBytes(crlDer), fc.uint8Array({ maxLength: 400 })), (bytes) =>
        onlyThrows(() => parseCrl(bytes), CrlParseError),
      ),
      fuzzRuns(1000),
    );
  });

  it('path validation of a damaged chain returns a verdict, and never a valid one', () => {
    const issuing = Buffer.from(device.x5c[1] ?? '', 'base64');
    fc.assert(
      fc.property(mutatedBytes(leafDer), mutatedBytes(issuing), (leaf, intermediate) => {
        const verdict = validateCertificatePath({
          leaf,
          intermediates: [intermediate],
          trustAnchors: [ca.ctx.ca.rootPem],
          at: new Date(ca.clock.now()),
          requiredEku: [OID_EKU_LANTERN_DEVICE_BINDING],
        });
        // A flip inside the signature's unused bits could leave a valid chain; a changed TBS never.
        if (verdict.ok)
          expect(Buffer.from(verdict.path[0]?.raw.tbs ?? [])).toEqual(
            Buffer.from(parseCertificate(leafDer).raw.tbs),
          );
      }),
      fuzzRuns(300),
    );
  });
});

describe('CRLs fail closed (shared validator)', () => {
  it('a damaged CRL never clears a revoked device, and clears a live one only if its TBS is intact', () => {
    const issuing = Buffer.from(device.x5c[1] ?? '', 'base64');
    const originalTbs = Buffer.from(parseCrl(crlDer).raw.tbs);
    const check = (leaf: Uint8Array, crl: Uint8Array) =>
      validateCertificatePath({
        leaf,
        intermediates: [issuing],
        trustAnchors: [ca.ctx.ca.rootPem],
        at: new Date(ca.clock.now()),
        crls: [crl],
        revocationCheck: 'leaf',
      });
    expect(check(leafDer, crlDer).ok).toBe(true);
    expect(check(revokedLeafDer, crlDer)).toMatchObject({ ok: false, reason: 'revoked' });
    fc.assert(
      fc.property(mutatedBytes(crlDer), (crl) => {
        expect(check(revokedLeafDer, crl).ok).toBe(false);
        if (check(leafDer, crl).ok) expect(Buffer.from(parseCrl(crl).raw.tbs)).toEqual(originalTbs);
      }),
      fuzzRuns(300),
    );
  });
});

describe('CSR (ca-service)', () => {
  it('sanity: the untouched CSR parses', () => {
    expect(parseDeviceCsr(csrPem).publicKey.asymmetricKeyType).toBe('ec');
  });

  it('parseDeviceCsr throws nothing but LanternError, for damaged DER and damaged PEM', () => {
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const asPem = (bytes: Uint8Array) =>
      `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(bytes).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    fc.assert(
      fc.property(
        fc.oneof(
          mutatedBytes(der).map(asPem),
          mutatedText(csrPem),
          fc.string({ maxLength: 9000 }),
          fc.uint8Array({ maxLength: 400 }).map(asPem),
        ),
        (pem) => onlyThrows(() => parseDeviceCsr(pem), LanternError),
      ),
      fuzzRuns(1500),
    );
  });
});

describe('JWT/JWS (shared strict decoder)', () => {
  it('createJwtVerifier never throws and never accepts a changed token', async () => {
    const jwks = (await ca.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    const verifier = createJwtVerifier({ keys: importJwks(jwks), typ: 'at+jwt' });
    expect(verifier.verify(accessToken, now()).ok).toBe(true);
    fc.assert(
      fc.property(fc.oneof(tamperedJws(accessToken), fc.anything()), (token) => {
        const verdict = verifier.verify(token, now());
        if (verdict.ok) expect(token).toBe(accessToken);
      }),
      fuzzRuns(1500),
    );
  });

  it('X5cJwtVerifier (x5c chains) never throws and never accepts a changed proof', () => {
    const verifier = new X5cJwtVerifier({
      trustAnchors: [ca.ctx.ca.rootPem],
      typ: 'lantern-device-proof+jwt',
      requiredEku: [OID_EKU_LANTERN_DEVICE_BINDING],
    });
    const proof = device.proof('POST', '/v1/sync', '{}', now());
    expect(verifier.verify(proof, now()).ok).toBe(true);
    fc.assert(
      fc.property(fc.oneof(tamperedJws(proof), fc.anything()), (token) => {
        const verdict = verifier.verify(token, now());
        if (verdict.ok) expect(token).toBe(proof);
      }),
      fuzzRuns(800),
    );
  });
});

describe('device proof verifier (ca-service)', () => {
  it('throws nothing but LanternError and records no jti for a refused proof', async () => {
    const verifier = new DeviceProofVerifier(ca.ctx);
    const jtis = async () =>
      (
        (await ca.ctx.store.db.prepare('SELECT count(*) AS n FROM proof_jtis').get()) as {
          n: number;
        }
      ).n;
    const proof = device.proof('POST', '/v1/sync', '{}', now());
    const before = await jtis();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(tamperedJws(proof), fc.string({ maxLength: 300 })),
        fc.oneof(fc.constant('{}'), fc.string({ maxLength: 50 })),
        async (token, body) => {
          if (token === proof && body === '{}') return;
          try {
            await verifier.verify({
              proof: token,
              method: 'POST',
              path: '/v1/sync',
              rawBody: body,
            });
          } catch (error) {
            if (!(error instanceof LanternError)) throw error;
          }
        },
      ),
      fuzzRuns(800),
    );
    expect(await jtis()).toBe(before);
  });
});

describe('revocation pages (agent/src/sync)', () => {
  it('the CA-signed token verifier never throws and never accepts a changed page', () => {
    const verifier = new CaSignedTokenVerifier(ca.ctx.ca.rootPem);
    expect(verifier.verify(page, 'lantern-revocations+jws', now()).ok).toBe(true);
    fc.assert(
      fc.property(tamperedJws(page), (token) => {
        const verdict = verifier.verify(token, 'lantern-revocations+jws', now());
        if (verdict.ok) expect(token).toBe(page);
      }),
      fuzzRuns(800),
    );
  });

  it('checkRevocationPage returns a typed verdict for any claims', () => {
    const claims = JSON.parse(
      Buffer.from(page.split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as Record<string, unknown>;
    expect(checkRevocationPage(claims, { tenantId, after: 0 }).ok).toBe(true);
    const entry = fc.record(
      {
        seq: fc.oneof(fc.integer(), fc.double(), fc.string()),
        kind: fc.oneof(fc.string(), fc.integer()),
        id: fc.oneof(fc.string({ maxLength: 300 }), fc.constant(null)),
        serial: fc.oneof(fc.string({ unit: fc.constantFrom(...'0123456789abcdefG') }), fc.string()),
        revokedAt: fc.oneof(
          fc.date({ noInvalidDate: false }).map(String),
          fc.string(),
          fc.integer(),
        ),
        reason: fc.oneof(fc.string({ maxLength: 100 }), fc.boolean()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.dictionary(fc.string(), fc.jsonValue()),
          fc.record({
            typ: fc.constantFrom('revocations', 'other'),
            tenantId: fc.constantFrom(tenantId, 'ten_other'),
            after: fc.oneof(fc.constant(0), fc.integer()),
            next: fc.oneof(fc.integer(), fc.double(), fc.string()),
            more: fc.oneof(fc.boolean(), fc.integer()),
            entries: fc.oneof(
              fc.array(fc.oneof(entry, fc.anything()), { maxLength: 5 }),
              fc.anything(),
            ),
          }),
        ),
        (candidate) => {
          const verdict = checkRevocationPage(candidate as Record<string, unknown>, {
            tenantId,
            after: 0,
          });
          expect(typeof verdict.ok).toBe('boolean');
          if (!verdict.ok) expect(typeof verdict.detail).toBe('string');
        },
      ),
      fuzzRuns(1500),
    );
  });
});

describe('event envelope validator (shared)', () => {
  it('check() returns a verdict for anything; assertValid throws only LanternError', async () => {
    const validator = new EventValidator();
    const stored = (await ca.ctx.store.read({ tenantId, limit: 1 }))[0];
    expect(stored).toBeDefined();
    const valid = {
      eventId: stored?.eventId,
      eventType: stored?.eventType,
      eventVersion: stored?.eventVersion,
      occurredAt: stored?.occurredAt,
      tenantId: stored?.tenantId,
      actor: stored?.actor,
      correlationId: stored?.correlationId,
      causationId: stored?.causationId,
      partitionKey: stored?.partitionKey,
      payload: stored?.payload,
    };
    expect(validator.check(JSON.parse(JSON.stringify(valid))).ok).toBe(true);
    const patched = fc
      .dictionary(fc.constantFrom(...Object.keys(valid)), fc.anything())
      .map((patch) => ({ ...valid, ...patch }));
    fc.assert(
      fc.property(fc.oneof(patched, fc.anything(), fc.jsonValue()), (candidate) => {
        expect(typeof validator.check(candidate).ok).toBe('boolean');
        onlyThrows(() => validator.assertValid(candidate), LanternError);
      }),
      fuzzRuns(1500),
    );
  });
});
