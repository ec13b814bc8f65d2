/**
 * Figure 3: offline session tokens verified in steady state (chain cached), against a bare
 * `crypto.verify` with the device key.
 *
 * A throwaway CA enrolls a device key through its real enrollment route; the tokens are what an
 * agent mints: `typ: lantern-session+jwt`, `x5c` = [binding certificate, issuing CA], signed by
 * the device key. `X5cJwtVerifier` pins the root and requires the device-binding EKU; after the
 * warm-up its chain cache holds the path, so each verify is header decode + chain-cache lookup +
 * one signature check + claims. 512 distinct tokens round robin.
 */
import { OID_EKU_LANTERN_DEVICE_BINDING, X5cJwtVerifier, signJwt } from '@lantern/shared';
import { randomBytes, verify } from 'node:crypto';
import type { BenchContext, BenchResult, Benchmark } from './harness.js';
import { interleave, opsPerSecond, ratioAtLeast, runPlan } from './harness.js';
import { createTenant, enrollDevice, openBenchCa } from './ca-setup.js';

const TOKENS = 512;
const TYPE = 'lantern-session+jwt';
const AUDIENCE = 'lantern-local';

export const sessionTokenVerify: Benchmark = {
  name: 'session-token',
  title: 'Offline session token verify, steady state (x5c chain cached) vs raw crypto.verify',
  async run(context: BenchContext): Promise<BenchResult[]> {
    const ca = await openBenchCa();
    let device;
    try {
      device = await enrollDevice(ca, await createTenant(ca, 'Session Bench'));
    } finally {
      await ca.close();
    }
    const issuer = `urn:lantern:device:${device.tenantId}:${device.deviceId}`;
    const iat = Math.floor(Date.now() / 1000);
    const tokens = Array.from({ length: TOKENS }, (_, i) =>
      signJwt(
        {
          iss: issuer,
          sub: `usr_01JBENCH${String(i).padStart(17, '0')}`,
          aud: AUDIENCE,
          sid: `ses_01JBENCH${String(i).padStart(17, '0')}`,
          grt: `grt_01JBENCH${String(i).padStart(17, '0')}`,
          grt_iat: iat - 3600,
          tenant: device.tenantId,
          amr: ['pwd'],
          iat,
          exp: iat + 8 * 3600,
          jti: randomBytes(12).toString('base64url'),
        },
        { typ: TYPE, x5c: device.x5c },
        device.key.privateKey,
      ),
    );
    const verifier = new X5cJwtVerifier({
      trustAnchors: [device.rootPem],
      typ: TYPE,
      audience: AUDIENCE,
      requiredEku: [OID_EKU_LANTERN_DEVICE_BINDING],
      requiredClaims: ['sid', 'grt', 'iat'],
    });
    const key = device.key.publicKey;
    const raw = tokens.map((token) => {
      const dot = token.lastIndexOf('.');
      return {
        data: Buffer.from(token.slice(0, dot)),
        signature: Buffer.from(token.slice(dot + 1), 'base64url'),
      };
    });

    let i = 0;
    let failures = 0;
    let lastFailure = '';
    const ours = (ms: number) =>
      opsPerSecond(() => {
        const verdict = verifier.verify(tokens[i++ & (TOKENS - 1)], Math.floor(Date.now() / 1000));
        if (!verdict.ok) {
          failures += 1;
          lastFailure = verdict.reason;
        }
      }, ms);
    let j = 0;
    const baseline = (ms: number) =>
      opsPerSecond(() => {
        const { data, signature } = raw[j++ & (TOKENS - 1)] as (typeof raw)[number];
        if (!verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)) failures += 1;
      }, ms);

    const measured = await interleave(
      [
        { name: 'ours', measure: ours },
        { name: 'baseline', measure: baseline },
      ],
      runPlan(context, { warmupMs: 300, runMs: 700, runs: 7 }),
    );
    if (failures > 0) throw new Error(`${failures} valid tokens were refused (${lastFailure})`);
    return [
      ratioAtLeast(
        'Offline session token verify (chain cached)',
        '/s',
        measured['ours']?.median ?? Number.NaN,
        measured['baseline']?.median ?? Number.NaN,
        0.8,
        {
          ours: 'new X5cJwtVerifier({ trustAnchors: [root], typ, audience, requiredEku }).verify(token, now)',
          baseline:
            "crypto.verify('sha256', signingInput, { key: deviceKey, dsaEncoding: 'ieee-p1363' }, sig)",
          tokenBytes: tokens[0]?.length,
          runs: measured,
        },
      ),
    ];
  },
};
