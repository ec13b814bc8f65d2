/**
 * Figure 1: binding certificates issued per second, signed and stored, against the raw ES256
 * signature that bounds them.
 *
 * "Ours" is the whole enrollment as the CA runs it for `POST /v1/devices/enroll` minus HTTP:
 * `enrollDevice` checks a one-time enrollment token, parses and verifies the CSR (proof of
 * possession), builds and signs the certificate (`issueBindingCertificate`) and appends
 * `identity.enrollment_token.consumed`, `identity.device.enrolled` and
 * `identity.device.bound_for_offline` in its own savepoint of a grouped transaction
 * (synchronous = FULL), projections included; each call resolves only after the commit.
 * Enrollment is bulk work (a school's devices, an MDM rollout), so the headline keeps
 * ENROLL_IN_FLIGHT enrollments in flight, as the route's handler would under such a rollout:
 * enrollments arriving together share one commit and its fsync. One enrollment at a time
 * (nothing to share the fsync with) is measured alongside, as is "issue only" (build + sign,
 * nothing stored). Tokens and CSRs are made before each timed run.
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
const ENROLL_IN_FLIGHT = 32;

export const issuance: Benchmark = {
  name: 'issuance',
  title: 'Binding certificate issuance (signed + stored) vs raw ES256 sign',
  async run(context: BenchContext): Promise<BenchResult[]> {
    const ca = await openBenchCa();
    try {
      const { ctx } = ca;
      const tenantId = await createTenant(ca, 'Issuance Bench');
      const meta = { actor: { type: 'system' as const, id: 'bench' }, correlationId: 'bench' };

      function inputs(count: number) {
        // One transaction for all the tokens: setting up must not cost a fsync per token.
        const tokens = ctx.store.transaction(() =>
          Array.from(
            { length: count },
            () => createEnrollmentToken(ctx, { tenant: tenantId, ttlSeconds: 86_400 }, meta).token,
          ),
        );
        return Promise.all(
          tokens.map(async (enrollmentToken) => ({
            enrollmentToken,
            csr: await deviceCsr(deviceKey()),
          })),
        );
      }

      // Enrollments need one-time inputs, so a run is a count sized from the last run's rate.
      let issued = 0;
      const enrollments = (inFlight: number) => {
        let rate = 0;
        return async (ms: number) => {
          const count =
            rate === 0
              ? (context.quick ? 1 : 5) * inFlight
              : Math.max(inFlight, Math.ceil((rate * ms) / 1000));
          const batch = await inputs(count);
          let next = 0;
          const worker = async () => {
            for (let input = batch[next++]; input; input = batch[next++]) {
              await enrollDevice(ctx, input, `bench-${issued++}`);
            }
          };
          const start = performance.now();
          await Promise.all(Array.from({ length: inFlight }, worker));
          rate = (count * 1000) / (performance.now() - start);
          return rate;
        };
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
          { name: 'ours', measure: enrollments(ENROLL_IN_FLIGHT) },
          { name: 'sequential', measure: enrollments(1) },
          { name: 'issueOnly', measure: issueOnly },
          { name: 'baseline', measure: rawSign },
        ],
        plan,
      );
      if (sink === 0) throw new Error('raw sign produced nothing');
      const ours = measured['ours']?.median ?? Number.NaN;
      const baseline = measured['baseline']?.median ?? Number.NaN;
      const issueOnlyRate = measured['issueOnly']?.median ?? Number.NaN;
      const sequential = measured['sequential']?.median ?? Number.NaN;
      context.log(
        `issuance: enroll ${ours.toFixed(0)}/s (${ENROLL_IN_FLIGHT} in flight), ${sequential.toFixed(0)}/s (1 in flight), issue only ${issueOnlyRate.toFixed(0)}/s, raw sign ${baseline.toFixed(0)}/s (${issued} devices)`,
      );
      return [
        ratioAtLeast(
          `Binding cert issuance (enrollDevice, ${ENROLL_IN_FLIGHT} in flight: signed + stored)`,
          '/s',
          ours,
          baseline,
          0.1,
          {
            ours: `enrollments completed per second, ${ENROLL_IN_FLIGHT} enrollDevice() calls in flight (bulk enrollment): token check, CSR verify, build + sign certificate, 3 events appended in a savepoint; enrollments queued together share one commit (group commit, synchronous=FULL), each answered after it`,
            baseline: `crypto.sign ES256 (P-256, DER) over ${toSign.length} bytes`,
            inFlight: ENROLL_IN_FLIGHT,
            sequentialPerSecond: sequential,
            issueOnlyPerSecond: issueOnlyRate,
            issueOnlyRatio: issueOnlyRate / baseline,
            certificateBytes: sample.der.length,
            runs: measured,
          },
        ),
        {
          name: '  … one enrollment at a time: a commit + fsync each',
          ours: sequential,
          baseline,
          ratio: sequential / baseline,
          target: '(context)',
          met: null,
          unit: '/s',
          details: {
            ours: 'the same enrollDevice() calls awaited one by one: no other enrollment to share the commit with, so each pays its own fsync',
          },
        },
        {
          name: '  … issue only: build + sign, not stored',
          ours: issueOnlyRate,
          baseline,
          ratio: issueOnlyRate / baseline,
          target: '(context)',
          met: null,
          unit: '/s',
          details: {
            ours: 'issueBindingCertificate() alone: TBS from the pre-encoded template, signed',
          },
        },
      ];
    } finally {
      await ca.close();
    }
  },
};
