/**
 * `npm run fleet -- --devices N --days D --seed S [--json]`: the fleet simulation (issue 11).
 * Progress goes to stderr; the report to stdout, and with --json its last line is one JSON object.
 * Exits 1 when any invariant was violated.
 */
import { parseArgs } from 'node:util';
import { runFleet } from './fleet/fleet-simulation.js';

const USAGE = `usage: npm run fleet -- [--devices 20] [--days 7] [--seed 1] [--step-minutes 60]
                     [--signins-per-day 3] [--syncs-per-day 4] [--json]`;

function main(): Promise<number> | number {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        devices: { type: 'string', default: '20' },
        days: { type: 'string', default: '7' },
        seed: { type: 'string', default: '1' },
        'step-minutes': { type: 'string', default: '60' },
        'signins-per-day': { type: 'string', default: '3' },
        'syncs-per-day': { type: 'string', default: '4' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const numbers = {
    devices: Number(values.devices),
    days: Number(values.days),
    seed: Number(values.seed),
    stepMinutes: Number(values['step-minutes']),
    signinsPerDay: Number(values['signins-per-day']),
    syncsPerDay: Number(values['syncs-per-day']),
  };
  const bad = Object.entries(numbers).find(([, n]) => !Number.isFinite(n) || n < 0);
  if (bad || numbers.devices < 1 || numbers.stepMinutes <= 0 || numbers.days <= 0) {
    console.error(`invalid ${bad?.[0] ?? 'devices/days (1+ devices, 1+ days)'}\n${USAGE}`);
    return 2;
  }
  const json = values.json;
  return run(numbers, json);
}

async function run(
  options: Parameters<typeof runFleet>[0],
  json: boolean | undefined,
): Promise<number> {
  const started = Date.now();
  const report = await runFleet({
    ...options,
    log: (line) => console.error(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${line}`),
  });
  console.error(`fleet: ${((Date.now() - started) / 1000).toFixed(1)} s wall clock`);
  const violations = Object.values(report.violations).reduce((sum, n) => sum + n, 0);
  if (json) {
    console.log(JSON.stringify(report));
  } else {
    console.log(
      [
        `fleet seed ${report.seed}: ${report.devices} devices, ${report.days} days, ${report.users} users`,
        `events: generated ${report.generated}, delivered ${report.delivered}, duplicates ${report.duplicates}, stranded ${report.stranded}`,
        `sign-ins: ${report.signins.attempts} attempts (${report.signins.withTotp} with TOTP), ${report.signins.onlineOk} online ok, ${report.signins.offlineOk} offline ok`,
        `refusals: ${JSON.stringify(report.signins.refused)}`,
        `syncs: ${JSON.stringify(report.syncs)}; crashes ${report.crashes}; reboots ${report.reboots}`,
        `clock changes: ${JSON.stringify(report.clockChanges)}`,
        `revocations: ${JSON.stringify(report.revocations)}; quarantined ${report.quarantined}`,
        `lifecycle: ${report.renewals} renewals (failures ${JSON.stringify(report.renewalFailures)}), ${report.reenrollments} re-enrollments, ${report.issuingRotations} issuing rotation(s), ${report.bindingExpired} binding_expired after a sync in the renewal window`,
        `violations: ${violations === 0 ? 'none' : JSON.stringify(report.violations)}`,
        ...report.examples.map((example) => `  ${example}`),
        `known limits (clock set back across a reboot, docs/security.md): ${JSON.stringify(report.knownLimits)}`,
        ...report.knownLimitExamples.map((example) => `  ${example}`),
      ].join('\n'),
    );
  }
  return violations === 0 ? 0 : 1;
}

process.exitCode = await main();
