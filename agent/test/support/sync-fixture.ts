import { join } from 'node:path';
import type { Clock } from '@lantern/shared';
import { EventValidator, createDeviceProof } from '@lantern/shared';
import type { OpenedAgent } from '../../src/data-dir/open-agent.js';
import { openAgent } from '../../src/data-dir/open-agent.js';
import { enroll } from '../../src/enrollment/enroll.js';
import { Outbox } from '../../src/outbox/outbox.js';
import type { TestCa } from '../../../test/support/ca-fixture.js';
import { createEnrollmentToken } from '../../../test/support/ca-fixture.js';

/** Compiling the event schemas is slow: one validator for every agent of a test file. */
export const validator = new EventValidator();

export interface TestAgent extends OpenedAgent {
  dataDir: string;
  outbox: Outbox;
  /** Appends `count` valid `identity.user.login_failed` events in one transaction. */
  fill(count: number): string[];
  count(table: string, where?: string): number;
  cursor(): number;
}

/**
 * Enrolls a real agent against the CA over HTTP and opens it on `clock` (share the CA's manual
 * clock so device proofs and signed times agree).
 */
export async function enrolledAgent(
  ca: TestCa,
  caUrl: string,
  tenantId: string,
  parentDir: string,
  clock: Clock = ca.clock,
): Promise<TestAgent> {
  const dataDir = join(parentDir, 'agent');
  await enroll({
    dataDir,
    caUrl,
    token: await createEnrollmentToken(ca, tenantId),
    rootFingerprint: ca.rootFingerprint,
    clock,
  });
  return reopen(dataDir, clock);
}

export async function reopen(dataDir: string, clock: Clock): Promise<TestAgent> {
  const agent = await openAgent({ dataDir, clock });
  const { store, binding, trustedTime } = agent;
  const outbox = new Outbox(store, {
    identity: { deviceId: binding.deviceId, tenantId: binding.tenantId },
    trustedTime,
    validator,
  });
  return {
    ...agent,
    dataDir,
    outbox,
    fill: (count) =>
      store.transaction(() =>
        Array.from(
          { length: count },
          () =>
            outbox.append({
              eventType: 'identity.user.login_failed',
              payload: { reason: 'invalid_credentials', offline: true, deviceId: binding.deviceId },
            }).envelope.eventId,
        ),
      ),
    count: (table, where = '1') =>
      (
        store.db.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${where}`).get() as {
          n: number;
        }
      ).n,
    cursor: () =>
      (
        store.db.prepare('SELECT revocation_cursor AS cursor FROM sync_state').get() as {
          cursor: number;
        }
      ).cursor,
  };
}

/** What the CA stored from this device: total rows and distinct event ids. */
export async function caEventsOf(
  ca: TestCa,
  deviceId: string,
): Promise<{ rows: number; distinct: number }> {
  return (await ca.ctx.store.db
    .prepare(
      `SELECT count(*) AS rows, count(DISTINCT event_id) AS "distinct"
       FROM events WHERE event_type = 'identity.user.login_failed' AND actor_id = ?`,
    )
    .get(deviceId)) as { rows: number; distinct: number };
}

export interface OnlineLogin {
  sessionId: string;
  userId: string;
  grantId: string;
  grantToken: string;
  offlineUntil: string;
}

/**
 * A real online sign-in at the CA with this device's proof, stored the way sign-in stores it
 * (a grant row and a session row), so enforcement acts on genuine CA ids and grants.
 */
export async function onlineLogin(
  agent: TestAgent,
  caUrl: string,
  tenantId: string,
  username: string,
  password: string,
): Promise<OnlineLogin> {
  const url = `${caUrl}/v1/auth/login`;
  const body = JSON.stringify({ tenant: tenantId, username, password });
  const x5c = [agent.binding.certificatePem, ...agent.binding.chainPems].map((pem) =>
    pem.replace(/-----[^-]+-----|\s/g, ''),
  );
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'lantern-device-proof': createDeviceProof({
        method: 'POST',
        url,
        body,
        x5c,
        nowSeconds: Math.floor(agent.store.clock.now() / 1000),
        sign: (data) => agent.deviceKey.sign(data),
      }),
    },
    body,
  });
  if (response.status !== 200) throw new Error(`login failed: ${await response.text()}`);
  const result = (await response.json()) as {
    sessionId: string;
    userId: string;
    offlineGrant: { grantId: string; token: string; offlineUntil: string; methods: string[] };
  };
  const now = agent.trustedTime.trustedNow();
  agent.store.transaction(() => {
    agent.store.db
      .prepare(
        `INSERT INTO grants (grant_id, user_id, username, grant_jws, offline_until, methods_json, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        result.offlineGrant.grantId,
        result.userId,
        username,
        result.offlineGrant.token,
        Date.parse(result.offlineGrant.offlineUntil),
        JSON.stringify(result.offlineGrant.methods),
        now,
      );
    agent.store.db
      .prepare(
        `INSERT INTO sessions (session_id, user_id, grant_id, offline, amr_json, created_at, expires_at)
         VALUES (?, ?, ?, 0, '["pwd"]', ?, ?)`,
      )
      .run(result.sessionId, result.userId, result.offlineGrant.grantId, now, now + 8 * 3_600_000);
  });
  return {
    sessionId: result.sessionId,
    userId: result.userId,
    grantId: result.offlineGrant.grantId,
    grantToken: result.offlineGrant.token,
    offlineUntil: result.offlineGrant.offlineUntil,
  };
}
