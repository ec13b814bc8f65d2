/**
 * Figure 1: binding certificates issued per second, signed and stored, against the raw ES256
 * signature that bounds them.
 *
 * "Ours" is the whole enrollment as the CA runs it for `POST /v1/devices/enroll` minus HTTP:
 * `enrollDevice` checks a one-time enrollment token, parses and verifies the CSR (proof of
 * possession), builds and signs the certificate (`issueBindingCertificate`) and appends
 * `identity.enrollment_token.consumed`, `identity.device.enrolled` and
 * `identity.device.bound_for_offline` in one SQLite transaction (synchronous = FULL), projections
 * included. Tokens and CSRs are made before each timed run. "Issue only" (build + sign, nothing
 * stored) is measured alongside to show where the time goes.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { enrollDevice } from '../../ca-service/src/enrollment/enroll-device.js';
import { createEnrollmentToken } from '../../ca-service/src/enrollment/enrollment-tokens.js';
import { issueBindingCertificate } from '../../ca-service/src/issuance/binding-certificate.js';
import type { BenchContext, BenchResult, Benchmark } from './harness.js';
import { interleave, opsPerSecond, opsPerSecondAsync, ratioAtLeast, runPlan } from './harness.js';
import { createTenant, deviceCsr, deviceKey, openBenchCa } from './ca-setup.js';

const DAY_MS = 86_400_000;

export const issuance: Benchmark = {
  name: 'issuance',
  title: 'Binding certificate issuance (signed + stored) vs raw ES256 sign',
  async run(context: BenchContext): Promise<BenchResult[]> {
    const ca = await openBenchCa();
    try {
      const { ctx } = ca;
      const tenantId = await createTenant(ca, 'Issuance Bench');
      const meta = { actor: { type: 'system' as const, id: 'bench' }, correlationId: 'bench' };

      async function inputs(count: number) {
        const made: { enrollmentToken: string; csr: string }[] = [];
        for (let i = 0; i < count; i++) {
          const { token } = createEnrollmentToken(
            ctx,
            { tenant: tenantId, ttlSeconds: 86_400 },
            meta,
          );
          made.push({ enrollmentToken: token, csr: await deviceCsr(deviceKey()) });
        }
        return made;
      }

      // Enrollments need one-time inputs, so a run is a count sized from the last run's rate.
      let rate = 0;
      let issued = 0;
      const enroll = async (ms: number) => {
        const count =
          rate === 0 ? (context.quick ? 5 : 50) : Math.max(5, Math.ceil((rate * ms) / 1000));
        const batch = await inputs(count);
        const start = performance.now();
        for (const input of batch) await enrollDevice(ctx, input, `bench-${issued++}`);
        rate = (count * 1000) / (performance.now() - start);
        return rate;
      };

      const spki = deviceKey().publicKey.export({ type: 'spki', format: 'der' });
      const issueOnly = (ms: number) =>
        opsPerSecondAsync(async () => {
          const now = Math.floor(Date.now() / 1000) * 1000;
          await issueBindingCertificate(ctx.ca.authority, ctx.bindingProfile, {
            tenantId,
            deviceId: ctx.ids.next('dev'),
            subjectPublicKeyInfo: spki,
            notBefore: new Date(now - 300_000),
            notAfter: new Date(now + 30 * DAY_MS),
            maxOfflineSeconds: ctx.bindingProfile.maxOfflineSeconds,
          });
        }, ms);

      // The baseline signs what a real binding certificate's TBS weighs, with a P-256 key.
      const sample = await issueBindingCertificate(ctx.ca.authority, ctx.bindingProfile, {
        tenantId,
        deviceId: ctx.ids.next('dev'),
        subjectPublicKeyInfo: spki,
        notBefore: new Date(),
        notAfter: new Date(Date.now() + DAY_MS),
        maxOfflineSeconds: 3600,
      });
      const toSign = sample.der;
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      let sink = 0;
      const rawSign = (ms: number) =>
        opsPerSecond(() => {
          sink += sign('sha256', toSign, { key: privateKey, dsaEncoding: 'der' }).length;
        }, ms);

      const plan = runPlan(context, { warmupMs: 500, runMs: 1500, runs: 5 });
      const measured = await interleave(
        [
          { name: 'ours', measure: enroll },
          { name: 'issueOnly', measure: issueOnly },
          { name: 'baseline', measure: rawSign },
        ],
        plan,
      );
      if (sink === 0) throw new Error('raw sign produced nothing');
      const ours = measured['ours']?.median ?? Number.NaN;
      const baseline = measured['baseline']?.median ?? Number.NaN;
      const issueOnlyRate = measured['issueOnly']?.median ?? Number.NaN;
      context.log(
        `issuance: enroll ${ours.toFixed(0)}/s, issue only ${issueOnlyRate.toFixed(0)}/s, raw sign ${baseline.toFixed(0)}/s (${issued} devices)`,
      );
      return [
        ratioAtLeast(
          'Binding cert issuance (enrollDevice: signed + stored)',
          '/s',
          ours,
          baseline,
          0.2,
          {
            ours: 'enrollDevice(): token check, CSR verify, build + sign certificate, 3 events appended (one SQLite transaction, synchronous=FULL)',
            baseline: `crypto.sign ES256 (P-256, DER) over ${toSign.length} bytes`,
            issueOnlyPerSecond: issueOnlyRate,
            issueOnlyRatio: issueOnlyRate / baseline,
            certificateBytes: sample.der.length,
            runs: measured,
          },
        ),
        {
          name: '  … issue only: build + sign, not stored',
          ours: issueOnlyRate,
          baseline,
          ratio: issueOnlyRate / baseline,
          target: '(context)',
          met: null,
          unit: '/s',
          details: {
            ours: 'issueBindingCertificate() alone: TBS built with @peculiar/asn1-schema, signed',
          },
        },
      ];
    } finally {
      await ca.close();
    }
  },
};
