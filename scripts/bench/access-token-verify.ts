/**
 * Figure 2: CA access tokens verified on the agent with a cached JWKS, against a bare
 * `crypto.verify` of the same signatures with the same key object.
 *
 * Tokens are signed by a real key ring (`openKeyRing`, two published keys) with the claims the
 * CA's `signAccessToken` puts in them; 512 distinct tokens are verified round robin so no
 * per-token result can be cached. The verifier is built once from the JWKS, as the agent keeps
 * it between key changes.
 */
import { memoryKeyRingStore, openKeyRing } from '@lantern/ca-service';
import { createJwtVerifier, importJwks, systemClock } from '@lantern/shared';
import type { KeyObject } from 'node:crypto';
import { randomBytes, verify } from 'node:crypto';
import type { BenchContext, BenchResult, Benchmark } from './harness.js';
import { interleave, opsPerSecond, ratioAtLeast, runPlan } from './harness.js';

const TOKENS = 512;
const ISSUER = 'http://ca.bench';
const AUDIENCE = 'lantern';

export const accessTokenVerify: Benchmark = {
  name: 'access-token',
  title: 'CA access token verify on the agent (cached JWKS) vs raw crypto.verify',
  async run(context: BenchContext): Promise<BenchResult[]> {
    const ring = await openKeyRing({
      clock: systemClock,
      store: memoryKeyRingStore(),
      maxTokenLifetimeMs: 14 * 86_400_000,
    });
    const iat = Math.floor(Date.now() / 1000);
    const tokens = Array.from({ length: TOKENS }, (_, i) =>
      ring.sign(
        {
          iss: ISSUER,
          aud: AUDIENCE,
          sub: `usr_01JBENCH${String(i).padStart(17, '0')}`,
          sid: `ses_01JBENCH${String(i).padStart(17, '0')}`,
          tenant: 'ten_01JBENCH00000000000000000',
          amr: ['pwd'],
          iat,
          exp: iat + 900,
          jti: randomBytes(12).toString('base64url'),
        },
        { typ: 'at+jwt' },
      ),
    );
    const keys = importJwks(ring.jwks());
    const verifier = createJwtVerifier({ keys, issuer: ISSUER, audience: AUDIENCE, typ: 'at+jwt' });

    const key = keys.get(ring.activeKid) as KeyObject;
    const raw = tokens.map((token) => {
      const dot = token.lastIndexOf('.');
      return {
        data: Buffer.from(token.slice(0, dot)),
        signature: Buffer.from(token.slice(dot + 1), 'base64url'),
      };
    });

    let i = 0;
    let failures = 0;
    const ours = (ms: number) =>
      opsPerSecond(() => {
        const now = Math.floor(Date.now() / 1000);
        if (!verifier.verify(tokens[i++ & (TOKENS - 1)], now).ok) failures += 1;
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
    if (failures > 0) throw new Error(`${failures} valid tokens were refused`);
    return [
      ratioAtLeast(
        'Access token verify, agent (cached JWKS)',
        '/s',
        measured['ours']?.median ?? Number.NaN,
        measured['baseline']?.median ?? Number.NaN,
        0.8,
        {
          ours: 'createJwtVerifier({ keys: importJwks(jwks), issuer, audience, typ }).verify(token, now)',
          baseline:
            "crypto.verify('sha256', signingInput, { key, dsaEncoding: 'ieee-p1363' }, sig)",
          tokenBytes: tokens[0]?.length,
          runs: measured,
        },
      ),
    ];
  },
};
