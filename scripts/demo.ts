/**
 * `npm run demo`: the whole story, each step checked (exit 1 at the first one that does not
 * behave). Real CLIs, real processes, a throwaway data directory; the "network" between agent
 * and CA is a relay the script can cut while the CA stays up for the admin.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetworkSwitch } from './demo/network-switch.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const caCli = join(root, 'ca-service/dist/cli/main.js');
const agentCli = join(root, 'agent/dist/cli/main.js');
const work = mkdtempSync(join(tmpdir(), 'lantern-demo-'));
const caDir = join(work, 'ca');
const agentDir = join(work, 'agent');
const PASSWORD = 'sunflower-42-river';
let step = 0;
let ca: ChildProcess | undefined;
const network = new NetworkSwitch(0);

type Json = Record<string, unknown>;

function narrate(text: string): void {
  step += 1;
  process.stdout.write(`\n${step}. ${text}\n`);
}

function check(condition: boolean, what: string, detail?: unknown): void {
  if (!condition) {
    process.stdout.write(`   ✗ ${what}\n`);
    if (detail !== undefined) process.stdout.write(`     ${JSON.stringify(detail)}\n`);
    throw new Error(`step ${step} did not behave: ${what}`);
  }
  process.stdout.write(`   ✓ ${what}\n`);
}

/** Asynchronous on purpose: the network relay lives in this process and must keep relaying. */
async function run(
  script: string,
  args: string[],
  input?: string,
): Promise<{ status: number; json: Json }> {
  const child = spawn(process.execPath, [script, ...args, '--json'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(input ?? '');
  const status = await new Promise<number>((resolve) =>
    child.once('close', (code) => resolve(code ?? -1)),
  );
  let json: Json;
  try {
    json = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Json;
  } catch {
    json = { status, stdout, stderr };
  }
  return { status, json };
}

let adminUrl = '';
/** Admin commands reach the CA directly: cutting the school's link does not cut the admin. */
const caAdmin = async (...args: string[]) =>
  run(caCli, [...args, '--data-dir', caDir, ...(adminUrl ? ['--url', adminUrl] : [])]);
const agent = async (args: string[], input?: string) =>
  run(agentCli, [...args, '--data-dir', agentDir], input);

async function startCa(port: number): Promise<void> {
  ca = spawn(process.execPath, [caCli, 'serve', '--data-dir', caDir, '--port', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let output = '';
    ca?.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('listening on')) resolve();
    });
    ca?.once('exit', (code) => reject(new Error(`CA exited (${code}): ${output}`)));
  });
}

async function freePort(): Promise<number> {
  const probe = new NetworkSwitch(1);
  const port = await probe.listen();
  await probe.close();
  return port;
}

async function main(): Promise<void> {
  process.stdout.write(`Lantern demo — working in ${work}\n`);

  narrate('The school district starts its CA.');
  const caPort = await freePort();
  Object.assign(network, { targetPort: caPort });
  const linkPort = await network.listen();
  const caUrl = `http://127.0.0.1:${caPort}`;
  const linkUrl = `http://127.0.0.1:${linkPort}`;
  // The CA's public URL is the one devices use: the school's link.
  const init = await caAdmin('init', '--dev-root-in-data-dir', '--url', linkUrl);
  adminUrl = caUrl;
  check(
    init.status === 0,
    `lantern-ca init (root fingerprint ${String(init.json['rootFingerprint']).slice(0, 16)}…)`,
  );
  await startCa(caPort);
  check(true, `lantern-ca serve is up on ${caUrl}`);
  const tenant = await caAdmin('tenant', 'create', 'Hillside Primary', '--slug', 'hillside');
  check(tenant.status === 0, 'tenant "hillside" created');
  const user = await run(
    caCli,
    [
      'user',
      'create',
      '--tenant',
      'hillside',
      '--username',
      'amina',
      '--role',
      'learner',
      '--data-dir',
      caDir,
      '--url',
      caUrl,
    ],
    PASSWORD,
  );
  check(
    user.status === 0,
    'learner "amina" created (password read from stdin, never on the command line)',
  );

  narrate('An admin enrolls a shared laptop; the agent pins the root by its fingerprint.');
  const token = await caAdmin(
    'enroll-token',
    'create',
    '--tenant',
    'hillside',
    '--ttl',
    '15m',
    '--name',
    'Laptop 3',
  );
  const enrolled = await agent([
    'enroll',
    '--ca',
    linkUrl,
    '--token',
    String(token.json['token']),
    '--root-fingerprint',
    String(init.json['rootFingerprint']),
  ]);
  check(
    enrolled.status === 0,
    `device enrolled as ${String(enrolled.json['deviceId'])}`,
    enrolled.json,
  );
  const deviceId = String(enrolled.json['deviceId']);

  narrate(
    'Amina signs in while the network is up: the CA checks her password and hands the device an offline grant.',
  );
  const online = await agent(['signin', '--user', 'amina'], PASSWORD);
  check(
    online.status === 0 && online.json['mode'] === 'online',
    'online sign-in succeeded',
    online.json,
  );

  narrate('The network goes down.');
  network.cut();
  const wrong = await agent(['signin', '--user', 'amina'], 'not-her-password');
  check(
    wrong.status === 1 && wrong.json['code'] === 'bad_credentials',
    'a wrong password is refused offline (bad_credentials)',
    wrong.json,
  );
  const offline1 = await agent(['signin', '--user', 'amina'], PASSWORD);
  check(
    offline1.status === 0 && offline1.json['mode'] === 'offline',
    'Amina signs in offline, checked against the local verifier and her grant',
    offline1.json,
  );
  const verified = await agent(['verify', String(offline1.json['token'])]);
  check(
    verified.status === 0,
    'any local app can verify her offline session token against the pinned root',
  );

  narrate('Meanwhile the laptop is reported stolen: the admin revokes it at the CA.');
  const revoked = await caAdmin('device', 'revoke', deviceId, '--reason', 'stolen');
  check(
    revoked.status === 0 && revoked.json['status'] === 'revoked',
    'device revoked at the CA (and on its CRL)',
  );
  const offline2 = await agent(['signin', '--user', 'amina'], PASSWORD);
  check(
    offline2.status === 0 && offline2.json['mode'] === 'offline',
    'still offline, the laptop cannot know yet: one more offline sign-in',
    offline2.json,
  );

  narrate('The network comes back; the agent syncs.');
  network.restore();
  const synced = await agent(['sync']);
  check(synced.status === 0, 'sync completed', synced.json);
  check(
    synced.json['deviceRevoked'] === true,
    'the agent learned it was revoked and wiped its grants, verifiers and keys',
    synced.json,
  );

  narrate(
    "The CA's event log holds every offline attempt exactly once; both sign-ins reached it after the revocation, so both are quarantined for review (a stolen device's clock proves nothing).",
  );
  const events = await caAdmin(
    'events',
    '--tenant',
    'hillside',
    '--device',
    deviceId,
    '--type',
    'identity.user.logged_in',
  );
  const signins = (
    events.json['events'] as {
      eventId: string;
      payload: { offline: boolean };
      quarantined: boolean;
    }[]
  ).filter((event) => event.payload.offline);
  check(signins.length === 2, `two offline sign-ins recorded (got ${signins.length})`, events.json);
  check(new Set(signins.map((event) => event.eventId)).size === 2, 'no duplicates');
  check(
    signins.map((event) => event.quarantined).join() === 'true,true',
    'both are quarantined: the CA judges by when it received them, not by the time the device claims',
  );
  const failures = await caAdmin(
    'events',
    '--tenant',
    'hillside',
    '--device',
    deviceId,
    '--type',
    'identity.user.login_failed',
  );
  check(
    (failures.json['events'] as unknown[]).length === 1,
    'the wrong-password attempt is there too',
  );

  narrate('Amina tries again on the revoked laptop.');
  const refused = await agent(['signin', '--user', 'amina'], PASSWORD);
  check(
    refused.status === 1 && refused.json['code'] === 'device_revoked',
    'refused with device_revoked',
    refused.json,
  );

  process.stdout.write('\nThe story holds: every step behaved.\n');
}

main()
  .catch((error: unknown) => {
    process.stdout.write(
      `\nDemo failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exitCode = 1;
  })
  .finally(async () => {
    ca?.kill('SIGTERM');
    await network.close();
    rmSync(work, { recursive: true, force: true });
  });
