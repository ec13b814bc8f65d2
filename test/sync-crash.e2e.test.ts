import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EventValidator, systemClock } from '@lantern/shared';
import { Outbox, TrustedTime, openAgentStore, readDeviceBinding } from '@lantern/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_CLI, CA_CLI, freePort, runNode, startNode } from './support/processes.js';

const BACKLOG = 5_000;
const KILLS = 5;

/**
 * Invariant 3 (docs/architecture.md §9) with real processes: an agent killed with SIGKILL at random moments of a
 * large sync, then restarted, hands every event over exactly once, and its store stays sound.
 */
describe('sync survives kill -9', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-sync-crash-'));
  const caDir = join(dir, 'ca');
  const agentDir = join(dir, 'agent');
  let server: Awaited<ReturnType<typeof startNode>> | undefined;
  let caUrl = '';

  const ca = (...args: string[]) => runNode(CA_CLI, [...args, '--data-dir', caDir, '--json']);

  beforeAll(async () => {
    const port = await freePort();
    caUrl = `http://127.0.0.1:${port}`;
    const init = runNode(CA_CLI, [
      'init',
      '--data-dir',
      caDir,
      '--dev-root-in-data-dir',
      '--url',
      caUrl,
      '--json',
    ]);
    expect(init.status, init.stderr).toBe(0);
    const rootFingerprint = init.json<{ rootFingerprint: string }>().rootFingerprint;
    server = await startNode(
      CA_CLI,
      ['serve', '--data-dir', caDir, '--port', String(port)],
      /listening on/,
    );
    const tenantId = ca('tenant', 'create', 'Hillside Primary').json<{ id: string }>().id;
    const token = ca('enroll-token', 'create', '--tenant', tenantId, '--ttl', '15m').json<{
      token: string;
    }>().token;
    const enrolled = runNode(AGENT_CLI, [
      ...['enroll', '--ca', caUrl, '--token', token, '--data-dir', agentDir],
      ...['--root-fingerprint', rootFingerprint, '--json'],
    ]);
    expect(enrolled.status, enrolled.stdout + enrolled.stderr).toBe(0);
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    `hands a ${BACKLOG}-event backlog over exactly once across ${KILLS} kills`,
    { timeout: 180_000 },
    async () => {
      const eventIds = fillOutbox(join(agentDir, 'agent.db'), BACKLOG);

      // Each kill falls a random 0-100 ms after the run's first commit. A 500-event round takes
      // 25 ms or more here (bench/NOTES.md, sync ingest), so the kill lands before a push, while
      // the CA processes one (its answer is then lost) or while the agent commits an answer — and
      // a fast, idle machine still leaves work for the next run.
      const kills: { afterMs: number; ackedBefore: number; ackedAfter: number }[] = [];
      for (let kill = 0; kill < KILLS; kill += 1) {
        const afterMs = Math.floor(Math.random() * 100);
        const ackedBefore = ackedSeq(agentDir);
        const exit = await killAfterFirstCommit(
          ['sync', '--data-dir', agentDir, '--json'],
          ackedBefore,
          afterMs,
        );
        kills.push({ afterMs, ackedBefore, ackedAfter: ackedSeq(agentDir) });
        // A run that finished before its kill leaves nothing to interrupt.
        if (exit.code === 0) break;
        expect(exit.signal).toBe('SIGKILL');
      }
      expect(kills.filter((kill) => kill.ackedAfter < BACKLOG).length).toBeGreaterThanOrEqual(3);

      const started = Date.now();
      const final = runNode(AGENT_CLI, ['sync', '--data-dir', agentDir, '--json']);
      const seconds = (Date.now() - started) / 1000;
      expect(final.status, final.stdout + final.stderr).toBe(0);
      expect(final.json()).toMatchObject({ completed: true, pending: 0, deviceRevoked: false });
      console.log(
        `sync-crash: kills ${JSON.stringify(kills)}; final run ${seconds.toFixed(1)} s, ${JSON.stringify(final.json())}`,
      );

      const caDb = new Database(join(caDir, 'lantern-ca.db'), { readonly: true });
      try {
        const stored = caDb
          .prepare(
            "SELECT event_id AS id FROM events WHERE event_type = 'identity.user.login_failed'",
          )
          .all() as { id: string }[];
        expect(stored).toHaveLength(BACKLOG);
        expect(new Set(stored.map((row) => row.id))).toEqual(new Set(eventIds));
      } finally {
        caDb.close();
      }

      const agentDb = new Database(join(agentDir, 'agent.db'), { readonly: true });
      try {
        expect(agentDb.pragma('integrity_check')).toEqual([{ integrity_check: 'ok' }]);
        expect(agentDb.prepare('SELECT last_seq, acked_seq FROM outbox_state').get()).toEqual({
          last_seq: BACKLOG,
          acked_seq: BACKLOG,
        });
        expect(agentDb.prepare('SELECT count(*) AS n FROM outbox WHERE acked = 0').get()).toEqual({
          n: 0,
        });
      } finally {
        agentDb.close();
      }
    },
  );

  async function killAfterFirstCommit(
    args: string[],
    ackedBefore: number,
    delayMs: number,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const child = spawn(process.execPath, [AGENT_CLI, ...args], { stdio: 'ignore' });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    let running = true;
    void exited.then(() => {
      running = false;
    });
    while (running && ackedSeq(agentDir) === ackedBefore) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    child.kill('SIGKILL');
    return exited;
  }
});

/** Valid events the CA accepts from this device, appended the way sign-in records failures. */
function fillOutbox(path: string, count: number): string[] {
  const store = openAgentStore(path, { clock: systemClock });
  try {
    const binding = readDeviceBinding(store);
    if (!binding) throw new Error('the agent is not enrolled');
    const outbox = new Outbox(store, {
      identity: { deviceId: binding.deviceId, tenantId: binding.tenantId },
      trustedTime: new TrustedTime(store),
      validator: new EventValidator(),
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

function ackedSeq(agentDir: string): number {
  const db = new Database(join(agentDir, 'agent.db'), { readonly: true });
  try {
    return (db.prepare('SELECT acked_seq AS n FROM outbox_state').get() as { n: number }).n;
  } finally {
    db.close();
  }
}
