import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { dataDirPaths, openCa } from '@lantern/ca-service';
import { EventValidator, createLogger, systemClock } from '@lantern/shared';
import { Writable } from 'node:stream';
import { Outbox, TrustedTime, openAgentStore, readDeviceBinding } from '@lantern/agent';
import { verifyChain } from '../../ca-service/src/audit/verify-chain.js';
import { AGENT_CLI, CA_CLI, freePort, runNode } from '../../test/support/processes.js';
import type { CaProcess } from './ca-process.js';
import { startCaProcess } from './ca-process.js';
import { Prng } from './prng.js';

export interface CrashLoopOptions {
  iterations: number;
  /** Agents syncing against the CA (default 3). */
  agents?: number;
  seed?: number;
  /** Outbox events added per agent before each CA kill (default 400). */
  eventsPerFill?: number;
  /** Revocation feed entries added per iteration, applied in the agents' killed runs (default 60). */
  feedEntriesPerIteration?: number;
  log?: (line: string) => void;
}

export interface CrashLoopReport {
  iterations: number;
  agents: number;
  /** CA processes killed with SIGKILL while agents were pushing. */
  caKills: number;
  /** Agent sync processes killed with SIGKILL (mid-apply, or in flight when the CA died). */
  agentKills: number;
  /** Kills that landed after the victim had committed at least one round of the run. */
  killsAfterACommit: number;
  eventsRecorded: number;
  eventsStored: number;
  /** Events stored more than once, or recorded and never stored. Both must be 0. */
  duplicated: number;
  lost: number;
  feedEntries: number;
  /** Agents whose cursor ended short of the tenant's feed head. */
  cursorsBehind: number;
  integrity: { ca: string; agents: string[] };
  chain: { ok: boolean; checked: number; reason?: string };
  finalSync: { ok: number; failed: string[] };
}

interface Agent {
  dir: string;
  deviceId: string;
  eventIds: string[];
}

/** Compiling the event schemas is slow: one validator for every fill. */
const validator = new EventValidator();

/**
 * Issue 11 crash tests with real processes: per iteration, (a) agents push backlogs while the
 * `lantern-ca serve` process is killed with SIGKILL inside their commits (and agents still in
 * flight are killed too), then the CA restarts; (b) each agent's `lantern-agent sync` is killed
 * right after its first commit of a run that applies revocation pages and acks. Afterwards every
 * agent syncs to the end, and the stores are checked: each recorded event stored exactly once,
 * cursors at the feed head, `PRAGMA integrity_check` on both sides, the CA's hash chain intact.
 */
export async function runCrashLoop(options: CrashLoopOptions): Promise<CrashLoopReport> {
  const log = options.log ?? (() => {});
  const eventsPerFill = options.eventsPerFill ?? 400;
  const feedEntries = options.feedEntriesPerIteration ?? 60;
  const rng = new Prng(options.seed ?? Date.now());
  const dir = mkdtempSync(join(tmpdir(), 'lantern-crash-loop-'));
  const caDir = join(dir, 'ca');
  const port = await freePort();
  const caUrl = `http://127.0.0.1:${port}`;
  const report: CrashLoopReport = {
    iterations: options.iterations,
    agents: options.agents ?? 3,
    caKills: 0,
    agentKills: 0,
    killsAfterACommit: 0,
    eventsRecorded: 0,
    eventsStored: 0,
    duplicated: 0,
    lost: 0,
    feedEntries: 0,
    cursorsBehind: 0,
    integrity: { ca: '', agents: [] },
    chain: { ok: false, checked: 0 },
    finalSync: { ok: 0, failed: [] },
  };
  let server: CaProcess | undefined;
  const startCa = async () => {
    server = await startCaProcess(caDir, port);
  };

  try {
    const init = runNode(CA_CLI, [
      'init',
      '--data-dir',
      caDir,
      '--dev-root-in-data-dir',
      '--url',
      caUrl,
      '--json',
    ]);
    if (init.status !== 0) throw new Error(`lantern-ca init failed: ${init.stderr}`);
    const rootFingerprint = init.json<{ rootFingerprint: string }>().rootFingerprint;
    const adminKey = readFileSync(dataDirPaths(caDir).adminApiKey, 'utf8').trim();
    await startCa();
    const admin = async (path: string, body: unknown) => {
      const response = await fetch(`${caUrl}${path}`, {
        method: 'POST',
        // A fresh connection per call: a reused keep-alive socket the CA closes meanwhile would
        // fail a call that may not be retried (creating a user twice is a conflict).
        headers: {
          authorization: `Bearer ${adminKey}`,
          'content-type': 'application/json',
          connection: 'close',
        },
        body: JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
      return (await response.json()) as Record<string, string>;
    };
    const { tenantId = '' } = await admin('/v1/admin/tenants', { name: 'Crash Loop School' });
    const { userId: churnUser = '' } = await admin('/v1/admin/users', {
      tenant: tenantId,
      username: 'churn',
      password: 'correct horse battery staple',
      role: 'learner',
    });
    const agents: Agent[] = [];
    for (let i = 0; i < report.agents; i += 1) {
      const { token = '' } = await admin('/v1/admin/enrollment-tokens', {
        tenant: tenantId,
        ttlSeconds: 3600,
      });
      const agentDir = join(dir, `agent-${i}`);
      const enrolled = runNode(AGENT_CLI, [
        ...['enroll', '--ca', caUrl, '--token', token, '--data-dir', agentDir],
        ...['--root-fingerprint', rootFingerprint, '--json'],
      ]);
      if (enrolled.status !== 0) throw new Error(`enroll failed: ${enrolled.stdout}`);
      agents.push({
        dir: agentDir,
        deviceId: enrolled.json<{ deviceId: string }>().deviceId,
        eventIds: [],
      });
    }
    log(`crash-loop: CA at ${caUrl}, ${agents.length} agents enrolled`);

    // Lock and unlock one user over and over: each lock is a feed entry every agent must apply.
    const growFeed = async (entries: number) => {
      for (let i = 0; i < entries; i += 1) {
        await admin(`/v1/admin/users/${churnUser}/lock`, { reason: 'crash loop' });
        await admin(`/v1/admin/users/${churnUser}/unlock`, {});
      }
      report.feedEntries += entries;
    };

    for (let iteration = 1; iteration <= options.iterations; iteration += 1) {
      // (a) The CA dies inside the agents' sync commits.
      for (const agent of agents) agent.eventIds.push(...fillOutbox(agent.dir, eventsPerFill));
      const before = agents.map((agent) => progressOf(agent.dir));
      const syncs = agents.map((agent) => startSync(agent.dir));
      await waitFor(() => agents.some((agent, i) => progressOf(agent.dir) !== before[i]), 60_000);
      await sleep(rng.int(0, 150));
      await server?.stop('SIGKILL');
      report.caKills += 1;
      await sleep(rng.int(0, 200));
      for (const [i, sync] of syncs.entries()) {
        if (await sync.kill()) {
          report.agentKills += 1;
          if (progressOf(agents[i]?.dir ?? '') !== before[i]) report.killsAfterACommit += 1;
        }
      }
      await startCa();

      // (b) Each agent dies inside a run that applies revocation pages along with its acks.
      await growFeed(feedEntries);
      for (const agent of agents) {
        agent.eventIds.push(...fillOutbox(agent.dir, rng.int(1, eventsPerFill)));
        const start = progressOf(agent.dir);
        const sync = startSync(agent.dir);
        const committed = await waitFor(
          () => progressOf(agent.dir) !== start || sync.exited(),
          60_000,
        );
        await sleep(rng.int(0, 60));
        if (await sync.kill()) {
          report.agentKills += 1;
          if (committed) report.killsAfterACommit += 1;
        }
      }
      log(
        `crash-loop: iteration ${iteration}/${options.iterations}: ${report.caKills} CA kills, ${report.agentKills} agent kills`,
      );
    }

    for (const agent of agents) {
      const final = runNode(AGENT_CLI, ['sync', '--data-dir', agent.dir, '--json']);
      const outcome = final.status === 0 ? final.json<{ completed?: boolean }>() : {};
      if (outcome.completed === true) report.finalSync.ok += 1;
      else report.finalSync.failed.push(`${agent.deviceId}: ${final.stdout}${final.stderr}`);
    }
    await server?.stop();
    server = undefined;

    const caDb = new Database(dataDirPaths(caDir).database, { readonly: true });
    try {
      report.integrity.ca = String(caDb.pragma('integrity_check', { simple: true }));
      const feedHead =
        caDb
          .prepare<[string], { seq: number | null }>(
            'SELECT max(seq) AS seq FROM revocation_feed WHERE tenant_id = ?',
          )
          .get(tenantId)?.seq ?? 0;
      const copies = caDb.prepare<[string], { n: number }>(
        'SELECT count(*) AS n FROM events WHERE event_id = ?',
      );
      for (const agent of agents) {
        for (const eventId of agent.eventIds) {
          report.eventsRecorded += 1;
          const n = copies.get(eventId)?.n ?? 0;
          if (n === 0) report.lost += 1;
          else report.eventsStored += 1;
          if (n > 1) report.duplicated += n - 1;
        }
        const agentDb = new Database(join(agent.dir, 'agent.db'), { readonly: true });
        try {
          report.integrity.agents.push(String(agentDb.pragma('integrity_check', { simple: true })));
          const cursor =
            agentDb
              .prepare<[], { cursor: number }>('SELECT revocation_cursor AS cursor FROM sync_state')
              .get()?.cursor ?? 0;
          if (cursor !== feedHead) report.cursorsBehind += 1;
        } finally {
          agentDb.close();
        }
      }
    } finally {
      caDb.close();
    }
    const opened = await openCa({
      dataDir: caDir,
      clock: systemClock,
      passphrase: readFileSync(dataDirPaths(caDir).passphraseFile, 'utf8').trim(),
      logger: createLogger({
        service: 'lantern-crash-loop',
        salt: 'crash-loop',
        level: 'error',
        destination: new Writable({ write: (_chunk, _encoding, done) => done() }),
      }),
    });
    try {
      const chain = await verifyChain(opened.context.store);
      report.chain = {
        ok: chain.ok,
        checked: chain.checked,
        ...(chain.reason === undefined ? {} : { reason: chain.reason }),
      };
    } finally {
      await opened.close();
    }
    return report;
  } finally {
    await server?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Crash-loop verdict: the invariants it proves, as failures in words (empty when all hold). */
export function crashLoopFailures(report: CrashLoopReport): string[] {
  const failures: string[] = [];
  if (report.lost > 0) failures.push(`${report.lost} event(s) lost`);
  if (report.duplicated > 0) failures.push(`${report.duplicated} event(s) stored twice`);
  if (report.cursorsBehind > 0) failures.push(`${report.cursorsBehind} cursor(s) behind`);
  if (report.integrity.ca !== 'ok') failures.push(`CA integrity_check: ${report.integrity.ca}`);
  for (const result of report.integrity.agents) {
    if (result !== 'ok') failures.push(`agent integrity_check: ${result}`);
  }
  if (!report.chain.ok) failures.push(`hash chain: ${report.chain.reason ?? 'broken'}`);
  for (const failed of report.finalSync.failed) failures.push(`final sync: ${failed}`);
  return failures;
}

/** Acked sequence and feed cursor: changes exactly when a sync round commits. */
function progressOf(agentDir: string): string {
  const db = new Database(join(agentDir, 'agent.db'), { readonly: true });
  try {
    const row = db
      .prepare<[], { acked: number; cursor: number }>(
        `SELECT (SELECT acked_seq FROM outbox_state) AS acked,
                (SELECT revocation_cursor FROM sync_state) AS cursor`,
      )
      .get();
    return `${row?.acked}/${row?.cursor}`;
  } finally {
    db.close();
  }
}

function startSync(agentDir: string): { exited(): boolean; kill(): Promise<boolean> } {
  const child: ChildProcess = spawn(
    process.execPath,
    [AGENT_CLI, 'sync', '--data-dir', agentDir, '--json'],
    { stdio: 'ignore' },
  );
  let running = true;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running = false;
      resolve();
    }),
  );
  return {
    exited: () => !running,
    async kill() {
      const killed = running && child.kill('SIGKILL');
      await exited;
      return killed;
    },
  };
}

/** Valid events appended the way sign-in records failures, while no sync runs on the store. */
function fillOutbox(agentDir: string, count: number): string[] {
  const store = openAgentStore(join(agentDir, 'agent.db'), { clock: systemClock });
  try {
    const binding = readDeviceBinding(store);
    if (!binding) throw new Error(`${agentDir} is not enrolled`);
    const outbox = new Outbox(store, {
      identity: { deviceId: binding.deviceId, tenantId: binding.tenantId },
      trustedTime: new TrustedTime(store),
      validator,
    });
    return store.transaction(() =>
      Array.from(
        { length: count },
        () =>
          outbox.append({
            eventType: 'identity.user.login_failed',
            payload: { reason: 'invalid_credentials', offline: true, deviceId: binding.deviceId },
          }).envelope.eventId,
      ),
    );
  } finally {
    store.close();
  }
}

/** Polls until `condition` holds; false after `timeoutMs` (a starved host: the kill lands anyway). */
async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
