/**
 * `npm start`: one CA and one enrolled agent on embedded SQLite, no broker. Everything runs
 * through the real CLIs, so the output doubles as a walk-through of what an admin types.
 * State lives in .data/ (git-ignored): a second start reuses it. Ctrl-C stops both.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dataDir = resolve(process.env['LANTERN_DATA_DIR'] ?? join(root, '.data'));
const caPort = Number(process.env['LANTERN_CA_PORT'] ?? 8080);
const agentPort = Number(process.env['LANTERN_AGENT_PORT'] ?? 7767);
const caCli = join(root, 'ca-service/dist/cli/main.js');
const agentCli = join(root, 'agent/dist/cli/main.js');
const caDir = join(dataDir, 'ca');
const agentDir = join(dataDir, 'agent');
const caUrl = `http://127.0.0.1:${caPort}`;
const DEMO_TENANT = 'demo-school';
const DEMO_USER = 'amina';
const DEMO_PASSWORD = 'lantern-demo-pass';

const children: ChildProcess[] = [];

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

function cli(script: string, args: string[], input?: string): Record<string, unknown> {
  const result = spawnSync(process.execPath, [script, ...args, '--json'], {
    encoding: 'utf8',
    ...(input === undefined ? {} : { input }),
  });
  const output = result.stdout.trim();
  const parsed = output ? (JSON.parse(output) as Record<string, unknown>) : {};
  if (result.status !== 0) {
    throw new Error(
      `${script.includes('agent') ? 'lantern-agent' : 'lantern-ca'} ${args.join(' ')} failed: ${String(parsed['message'] ?? result.stderr)}`,
    );
  }
  return parsed;
}

function startDaemon(name: string, script: string, args: string[]): Promise<void> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  return new Promise((resolveStarted, reject) => {
    let output = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (/listening on/.test(output)) resolveStarted();
    });
    child.once('exit', (code) =>
      reject(new Error(`${name} exited (${code}) before it was ready:\n${output.slice(-2000)}`)),
    );
  });
}

function stopAll(): void {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
}

async function main(): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  say(`Lantern — a CA and one enrolled agent, state in ${dataDir}\n`);

  let rootFingerprint: string;
  if (existsSync(join(caDir, 'lantern-ca.db'))) {
    say('1. CA already initialised (reusing it).');
    rootFingerprint = '';
  } else {
    const init = cli(caCli, [
      'init',
      '--data-dir',
      caDir,
      '--dev-root-in-data-dir',
      '--url',
      caUrl,
    ]);
    rootFingerprint = String(init['rootFingerprint']);
    say(`1. Initialised the CA. Root fingerprint: ${rootFingerprint}`);
  }

  await startDaemon('lantern-ca', caCli, ['serve', '--data-dir', caDir, '--port', String(caPort)]);
  say(`2. CA listening on ${caUrl}`);

  const status = cli(agentCli, ['status', '--data-dir', agentDir]);
  if (status['enrolled'] === true) {
    say('3. Agent already enrolled (reusing it).');
  } else {
    const admin = ['--data-dir', caDir];
    const tenants = cli(caCli, ['tenant', 'list', ...admin])['tenants'] as { slug: string }[];
    if (!tenants.some((tenant) => tenant.slug === DEMO_TENANT)) {
      cli(caCli, ['tenant', 'create', 'Demo School', '--slug', DEMO_TENANT, ...admin]);
      cli(
        caCli,
        [
          'user',
          'create',
          '--tenant',
          DEMO_TENANT,
          '--username',
          DEMO_USER,
          '--role',
          'learner',
          ...admin,
        ],
        `${DEMO_PASSWORD}\n`,
      );
    }
    const token = cli(caCli, [
      'enroll-token',
      'create',
      '--tenant',
      DEMO_TENANT,
      '--ttl',
      '15m',
      '--name',
      'demo laptop',
      ...admin,
    ]);
    const enrolled = cli(agentCli, [
      'enroll',
      '--ca',
      caUrl,
      '--token',
      String(token['token']),
      '--data-dir',
      agentDir,
      ...(rootFingerprint ? ['--root-fingerprint', rootFingerprint] : []),
    ]);
    say(
      `3. Created tenant "${DEMO_TENANT}", learner "${DEMO_USER}" and enrolled the agent as ${String(enrolled['deviceId'])}`,
    );
  }

  await startDaemon('lantern-agent', agentCli, [
    'serve',
    '--data-dir',
    agentDir,
    '--port',
    String(agentPort),
  ]);
  const agentUrl = `http://127.0.0.1:${agentPort}`;
  say(`4. Agent listening on ${agentUrl}\n`);
  say(
    [
      'Ready. Try:',
      `  curl ${caUrl}/health/ready            # the CA's health`,
      `  curl ${caUrl}/.well-known/jwks.json   # token keys`,
      `  curl ${agentUrl}/v1/status            # the agent's status`,
      `  open ${caUrl}/admin/                   # the admin console (API key: ${caDir}/secrets/admin-api-key)`,
      `  node ca-service/dist/cli/main.js device list --data-dir ${caDir}`,
      `  printf %s ${DEMO_PASSWORD} | node agent/dist/cli/main.js signin --user ${DEMO_USER} --data-dir ${agentDir}`,
      '',
      'Ctrl-C stops both.',
    ].join('\n'),
  );
}

process.once('SIGINT', stopAll);
process.once('SIGTERM', stopAll);
main().catch((error: unknown) => {
  process.stderr.write(
    `npm start failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  stopAll();
  process.exitCode = 1;
});
