import { agentPaths } from '@lantern/agent';
import Database from 'better-sqlite3';
import { verifyChain } from '../../ca-service/src/audit/verify-chain.js';
import type { SqliteDatabase } from '../../ca-service/src/store/sqlite-database.js';
import type { FleetState } from './fleet-state.js';
import { TIME_SLACK_MS } from './fleet-state.js';

export interface FleetTotals {
  generated: number;
  delivered: number;
  stranded: number;
  quarantined: number;
  caEvents: number;
}

interface OutboxRow {
  eventId: string;
  rejectedCode: string | null;
}

/**
 * The end-of-run checks against the CA's store and every agent's database: invariant 3 (each
 * recorded event stored exactly once), the quarantine of offline sign-ins after a device's
 * revocation, invariant 6 (no tenant's data in another's), `PRAGMA integrity_check` everywhere
 * and the CA's hash chain.
 */
export async function checkFleet(state: FleetState): Promise<FleetTotals> {
  const { ca, devices, violations } = state;
  const endMs = ca.clock.now();
  // The fleet's CA is the embedded SQLite one: its checks read it with better-sqlite3's typed API.
  const db = (ca.ctx.store.db as SqliteDatabase).raw;
  const totals: FleetTotals = {
    generated: 0,
    delivered: 0,
    stranded: 0,
    quarantined: 0,
    caEvents: 0,
  };

  const stored = db.prepare<[string], { n: number }>(
    'SELECT count(*) AS n FROM events WHERE event_id = ?',
  );
  const tenantOfDevice = new Map(devices.map((device) => [device.deviceId, device.tenantId]));
  const tenantOfUser = new Map(
    [...state.usersByTenant.values()].flat().map((user) => [user.userId, user.tenantId]),
  );

  for (const device of devices) {
    const where = `device ${device.index}`;
    const agentDb = new Database(agentPaths(device.dataDir).database, { readonly: true });
    try {
      if (agentDb.pragma('integrity_check', { simple: true }) !== 'ok') {
        violations.add('agent_integrity_check_failed', endMs, where);
      }
      const wiped =
        agentDb
          .prepare<[], { at: number | null }>('SELECT keys_destroyed_at AS at FROM binding')
          .get()?.at != null;
      const rows = agentDb
        .prepare<[], OutboxRow>(
          'SELECT event_id AS eventId, rejected_code AS rejectedCode FROM outbox ORDER BY seq',
        )
        .all();
      for (const row of rows) {
        totals.generated += 1;
        const copies = stored.get(row.eventId)?.n ?? 0;
        if (copies === 1) totals.delivered += 1;
        else if (copies > 1) violations.add('event_stored_twice', endMs, where);
        else if (row.rejectedCode !== null) {
          violations.add(`event_rejected_${row.rejectedCode}`, endMs, where);
        } else if (wiped) totals.stranded += 1;
        else violations.add('event_lost', endMs, where);
      }
      // Invariant 6: the revocations this device holds are all of its own tenant.
      const held = agentDb
        .prepare<[], { kind: string; subject: string }>(
          'SELECT kind, subject_id AS subject FROM revocations',
        )
        .all();
      for (const { kind, subject } of held) {
        const tenant =
          kind === 'device'
            ? tenantOfDevice.get(subject)
            : kind === 'user'
              ? tenantOfUser.get(subject)
              : kind === 'session'
                ? state.sessionsById.get(subject)?.tenantId
                : undefined;
        if (tenant !== undefined && tenant !== device.tenantId) {
          violations.add('tenant_leak_revocation', endMs, `${where} holds a ${kind} of another`);
        }
      }
    } finally {
      agentDb.close();
    }
    const foreign = db
      .prepare<[string, string], { n: number }>(
        'SELECT count(*) AS n FROM events WHERE actor_id = ? AND tenant_id <> ?',
      )
      .get(device.deviceId, device.tenantId);
    if ((foreign?.n ?? 0) > 0) violations.add('tenant_leak_event', endMs, where);
  }

  // Offline sign-ins the CA received from a device after its revocation must be quarantined,
  // and no other: the CA judges by its receipt time, never by the time the device claims.
  const signins = db
    .prepare<
      [],
      {
        eventId: string;
        receivedAt: string | null;
        sessionId: string;
        revokedAt: string | null;
        quarantined: number;
      }
    >(
      `SELECT e.event_id AS eventId,
              (SELECT r.received_at FROM device_event_receipts r WHERE r.event_id = e.event_id
                 AND r.outcome IN ('stored', 'recorded')) AS receivedAt,
              json_extract(e.payload, '$.sessionId') AS sessionId, d.revoked_at AS revokedAt,
              EXISTS (SELECT 1 FROM quarantined_events q WHERE q.event_id = e.event_id) AS quarantined
       FROM events e JOIN devices d ON d.device_id = json_extract(e.payload, '$.deviceId')
       WHERE e.event_type = 'identity.user.logged_in' AND json_extract(e.payload, '$.offline') = 1`,
    )
    .all();
  for (const signin of signins) {
    const late =
      signin.revokedAt !== null &&
      signin.receivedAt !== null &&
      signin.receivedAt > signin.revokedAt;
    const offline = state.offlineSignins.get(signin.sessionId);
    const where = `device ${offline?.device ?? '?'}`;
    if (late && signin.quarantined === 0) violations.add('quarantine_missed', endMs, where);
    if (!late && signin.quarantined === 1) violations.add('quarantine_wrong', endMs, where);
    if (signin.quarantined === 1) totals.quarantined += 1;
    // In true time too, beyond what a device's clock could excuse.
    const revokedAtMs = signin.revokedAt === null ? null : Date.parse(signin.revokedAt);
    if (
      offline !== undefined &&
      revokedAtMs !== null &&
      offline.atMs > revokedAtMs + TIME_SLACK_MS &&
      signin.quarantined === 0
    ) {
      violations.add('quarantine_missed_true_time', endMs, where);
    }
  }
  const atCa = new Map<string, number>();
  for (const signin of signins) atCa.set(signin.sessionId, (atCa.get(signin.sessionId) ?? 0) + 1);
  for (const [sessionId, offline] of state.offlineSignins) {
    if (atCa.get(sessionId) !== 1) {
      violations.add('offline_signin_not_at_ca', endMs, `device ${offline.device}`);
    }
  }

  if (db.pragma('integrity_check', { simple: true }) !== 'ok') {
    violations.add('ca_integrity_check_failed', endMs, 'CA store');
  }
  const chain = await verifyChain(ca.ctx.store);
  if (!chain.ok) violations.add('hash_chain_broken', endMs, chain.reason ?? 'CA store');
  totals.caEvents = chain.checked;
  return totals;
}
