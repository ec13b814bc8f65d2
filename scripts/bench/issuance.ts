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
 *
 * `issuance-postgres`: the same enrollments (32 in flight, and one at a time) on a CA whose store
 * is PostgreSQL (a throwaway schema, dropped at the end), against that store's floor: copies of
 * the `events` rows one enrollment appends, written by the `pg` client into a copy of the
 * `events` table in the same schema, one multi-row INSERT per commit holding as many
 * enrollments' rows as are in flight, reported as enrollments' worth of rows per second
 * (postgres-floor.ts).
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { enrollDevice } from '../../ca-service/src/enrollment/enroll-device.js';
import { createEnrollmentToken } from '../../ca-service/src/enrollment/enrollment-tokens.js';
import { issueBindingCertificate } from '../../ca-service/src/issuance/binding-certificate.js';
import type { BenchContext, BenchResult, Benchmark } from './harness.js';
import {
  contextRow,
  interleave,
  opsPerSecond,
  opsPerSecondAsync,
  ratioAtLeast,
  runPlan,
} from './harness.js';
import type { BenchCa } from './ca-setup.js';
import { createTenant, deviceCsr, deviceKey, openBenchCa } from './ca-setup.js';
import { PostgresFloor, inBenchSchema } from './postgres-floor.js';

const DAY_MS = 86_400_000;
const ENROLL_IN_FLIGHT = 32;

/**
 * A run count sized from the last run's rate (the first: `first`), so a run of one-time inputs
 * lasts about `ms`.
 */
function runSize(rate: number, ms: number, first: number, least: number): number {
  return rate === 0 ? first : Math.max(least, Math.ceil((rate * ms) / 1000));
}

/**
 * `enrollDevice` on `ca` as contenders: `enrollments(n)` measures enrollments/s with `n` in
 * flight, each run on fresh tokens and CSRs (`inputs`) made before its clock starts. `issued`
 * counts the enrollments run.
 */
function enrollmentContenders(ca: BenchCa, tenantId: string, context: BenchContext) {
  const { ctx } = ca;
  const meta = { actor: { type: 'system' as const, id: 'bench' }, correlationId: 'bench' };

  async function inputs(count: number) {
    // One transaction for all the tokens: setting up must not cost a fsync per token.
    const tokens = await ctx.store.transaction(async () => {
      const made: string[] = [];
      for (let i = 0; i < count; i++) {
        const created = await createEnrollmentToken(
          ctx,
          { tenant: tenantId, ttlSeconds: 86_400 },
          meta,
        );
        made.push(created.token);
      }
      return made;
    });
    return Promise.all(
      tokens.map(async (enrollmentToken) => ({
        enrollmentToken,
        csr: await deviceCsr(deviceKey()),
      })),
    );
  }

  let issued = 0;
  return {
    inputs,
    get issued() {
      return issued;
    },
    enrollments(inFlight: number) {
      let rate = 0;
      return async (ms: number) => {
        const batch = await inputs(runSize(rate, ms, (context.quick ? 1 : 5) * inFlight, inFlight));
        let next = 0;
        const worker = async () => {
          for (let input = batch[next++]; input; input = batch[next++]) {
            await enrollDevice(ctx, input, `bench-${issued++}`);
          }
        };
        const start = performance.now();
        await Promise.all(Array.from({ length: inFlight }, worker));
        rate = (batch.length * 1000) / (performance.now() - start);
        return rate;
      };
    },
  };
}

export const issuance: Benchmark = {
  name: 'issuance',
  title: 'Binding certificate issuance (signed + stored) vs raw ES256 sign',
  async run(context: BenchContext): Promise<BenchResult[]> {
    const ca = await openBenchCa();
    try {
      const { ctx } = ca;
      const tenantId = await createTenant(ca, 'Issuance Bench');
      const enrollment = enrollmentContenders(ca, tenantId, context);

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
          { name: 'ours', measure: enrollment.enrollments(ENROLL_IN_FLIGHT) },
          { name: 'sequential', measure: enrollment.enrollments(1) },
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
        `issuance: enroll ${ours.toFixed(0)}/s (${ENROLL_IN_FLIGHT} in flight), ${sequential.toFixed(0)}/s (1 in flight), issue only ${issueOnlyRate.toFixed(0)}/s, raw sign ${baseline.toFixed(0)}/s (${enrollment.issued} devices)`,
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
        contextRow(
          '  … one enrollment at a time: a commit + fsync each',
          '/s',
          sequential,
          baseline,
          {
            ours: 'the same enrollDevice() calls awaited one by one: no other enrollment to share the commit with, so each pays its own fsync',
          },
        ),
        contextRow('  … issue only: build + sign, not stored', '/s', issueOnlyRate, baseline, {
          ours: 'issueBindingCertificate() alone: TBS from the pre-encoded template, signed',
        }),
      ];
    } finally {
      await ca.close();
    }
  },
};

export const issuancePostgres: Benchmark = {
  name: 'issuance-postgres',
  title: 'Enrollment (signed + stored), CA store on PostgreSQL, vs PostgreSQL batched INSERT',
  run: (context: BenchContext) =>
    inBenchSchema(async (url): Promise<BenchResult[]> => {
      const ca = await openBenchCa({ database: url });
      let floor: PostgresFloor | undefined;
      try {
        const tenantId = await createTenant(ca, 'Issuance Bench');
        const enrollment = enrollmentContenders(ca, tenantId, context);

        // What one enrollment appends to `events`, read back to be copied by the floor.
        const [input] = await enrollment.inputs(1);
        if (input === undefined) throw new Error('no enrollment input');
        await enrollDevice(ca.ctx, input, 'bench-template');
        const template = (await ca.ctx.store.db
          .prepare('SELECT * FROM events WHERE correlation_id = ? ORDER BY position')
          .all('bench-template')) as Record<string, unknown>[];
        if (template[0] === undefined) throw new Error('the enrollment appended no events');
        const columns = Object.keys(template[0]);

        floor = await PostgresFloor.open(url);
        // Copies keep every value but the keys the table holds unique.
        let copies = 0;
        let position = 0;
        const floorRows = (enrollments: number) => {
          const rows: unknown[][] = [];
          for (let n = 0; n < enrollments; n++) {
            copies += 1;
            for (const row of template) {
              position += 1;
              rows.push(
                columns.map((column) =>
                  column === 'position'
                    ? position
                    : column === 'event_id' || column === 'aggregate_id'
                      ? `${String(row[column])}-${copies}`
                      : row[column],
                ),
              );
            }
          }
          return rows;
        };
        let floorRate = 0;
        const insertFloor = async (ms: number) => {
          const count = runSize(
            floorRate,
            ms,
            (context.quick ? 1 : 5) * ENROLL_IN_FLIGHT,
            ENROLL_IN_FLIGHT,
          );
          const rowsPerSecond = await (floor as PostgresFloor).insert(
            columns,
            floorRows(count),
            ENROLL_IN_FLIGHT * template.length,
          );
          floorRate = rowsPerSecond / template.length;
          return floorRate;
        };

        const plan = runPlan(context, { warmupMs: 500, runMs: 1500, runs: 5 });
        const measured = await interleave(
          [
            { name: 'ours', measure: enrollment.enrollments(ENROLL_IN_FLIGHT) },
            { name: 'sequential', measure: enrollment.enrollments(1) },
            { name: 'baseline', measure: insertFloor },
          ],
          plan,
        );
        const ours = measured['ours']?.median ?? Number.NaN;
        const baseline = measured['baseline']?.median ?? Number.NaN;
        const sequential = measured['sequential']?.median ?? Number.NaN;
        context.log(
          `issuance-postgres: enroll ${ours.toFixed(0)}/s (${ENROLL_IN_FLIGHT} in flight), ${sequential.toFixed(0)}/s (1 in flight), floor ${baseline.toFixed(0)} enrollments' rows/s (${template.length} rows each; ${enrollment.issued} devices)`,
        );
        return [
          ratioAtLeast(
            `Enrollment on PostgreSQL (enrollDevice, ${ENROLL_IN_FLIGHT} in flight: signed + stored)`,
            '/s',
            ours,
            baseline,
            0.25,
            {
              ours: `enrollments completed per second, ${ENROLL_IN_FLIGHT} enrollDevice() calls in flight, as on SQLite; the CA's store in a PostgreSQL schema of its own`,
              baseline: `the ${template.length} events rows one enrollment appends, copied, by the pg client into floor_events (LIKE events INCLUDING ALL) in the same schema, ${ENROLL_IN_FLIGHT} enrollments' rows to one INSERT and commit; rows/s divided by ${template.length}`,
              inFlight: ENROLL_IN_FLIGHT,
              rowsPerEnrollment: template.length,
              sequentialPerSecond: sequential,
              runs: measured,
            },
          ),
          contextRow(
            '  … one enrollment at a time on PostgreSQL: a commit each',
            '/s',
            sequential,
            baseline,
            { ours: 'the same enrollDevice() calls awaited one by one: each commits alone' },
          ),
        ];
      } finally {
        try {
          await ca.close();
        } finally {
          await floor?.close();
        }
      }
    }),
};
