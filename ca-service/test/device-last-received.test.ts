import Database from 'better-sqlite3';
import { createIdGenerator, manualClock } from '@lantern/shared';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import {
  createEnrollmentToken,
  createTenant,
  createUser,
  startTestCa,
} from '../../test/support/ca-fixture.js';
import type { EnrolledTestDevice } from '../../test/support/device-keys.js';
import { enrollTestDevice } from '../../test/support/device-keys.js';
import { offlineSignin, syncAsDevice } from '../../test/support/device-requests.js';
import { openDatabase } from '../src/data-dir/open-ca.js';
import { MIGRATIONS } from '../src/store/migrations.js';

/**
 * The console's device list shows when each device last pushed something new: kept with the
 * device's ack at every round that wrote receipts, not searched for among all its receipts.
 */
describe.each(['sqlite', 'postgres'] as const)('last push of a device on %s', (store) => {
  let ca: TestCa;
  let tenantId: string;
  let userId: string;
  let device: EnrolledTestDevice;
  beforeAll(async () => {
    ca = await startTestCa({ store });
    tenantId = await createTenant(ca, 'Riverside');
    userId = await createUser(ca, tenantId, 'tomas', 'correct horse battery');
    device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
  });
  afterAll(async () => ca.close());

  const lastSeen = async () => {
    const response = await ca.admin('GET', `/v1/admin/device-activity?tenant=${tenantId}`);
    expect(response.statusCode, response.body).toBe(200);
    const devices = (response.json() as { devices: { deviceId: string; lastSeenAt: string }[] })
      .devices;
    return devices.find((entry) => entry.deviceId === device.deviceId)?.lastSeenAt;
  };
  const at = () => new Date(ca.clock.now()).toISOString();

  it('moves with a round that brings new seqs, and stays for a retried or empty round', async () => {
    const enrolledAt = at();
    expect(await lastSeen()).toBe(enrolledAt);

    ca.clock.advance(60_000);
    const pushedAt = at();
    const round = [{ seq: 1, event: offlineSignin(ca, device, userId) }];
    expect((await syncAsDevice(ca, device, round)).json()).toMatchObject({ accepted: 1 });
    expect(await lastSeen()).toBe(pushedAt);

    ca.clock.advance(60_000);
    expect((await syncAsDevice(ca, device, round)).json()).toMatchObject({ duplicates: 1 });
    expect((await syncAsDevice(ca, device, [])).statusCode).toBe(200);
    expect(await lastSeen()).toBe(pushedAt);

    ca.clock.advance(60_000);
    const refusedAt = at();
    const foreign = {
      ...offlineSignin(ca, device, userId),
      tenantId: createIdGenerator().next('ten'),
    };
    const refused = await syncAsDevice(ca, device, [{ seq: 2, event: foreign }]);
    expect(refused.json()).toMatchObject({ accepted: 0, rejected: [{ seq: 2 }] });
    expect(await lastSeen()).toBe(refusedAt);
  });
});

describe('the migration that keeps the last push', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('fills it in from the receipts a store already holds', async () => {
    dir = mkdtempSync(join(tmpdir(), 'lantern-last-received-'));
    const path = join(dir, 'ca.db');
    const before = new Database(path);
    before.exec(
      'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
    );
    const step = MIGRATIONS.findIndex((sql) => sql.includes('ADD COLUMN last_received_at'));
    expect(step).toBeGreaterThan(0);
    MIGRATIONS.slice(0, step).forEach((sql, index) => {
      before.exec(sql);
      before
        .prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)')
        .run(index + 1, '2026-01-01T00:00:00.000Z');
    });
    const receipt = before.prepare(
      "INSERT INTO device_event_receipts (device_id, seq, event_id, outcome, received_at) VALUES (?, ?, ?, 'stored', ?)",
    );
    receipt.run('dev_a', 1, 'evt_1', '2026-02-01T08:00:00.000Z');
    receipt.run('dev_a', 2, 'evt_2', '2026-02-03T08:00:00.000Z');
    receipt.run('dev_a', 3, 'evt_3', '2026-02-02T08:00:00.000Z');
    const state = before.prepare(
      'INSERT INTO device_sync_state (device_id, acked_seq) VALUES (?, ?)',
    );
    state.run('dev_a', 3);
    state.run('dev_b', 0);
    before.close();

    const after = await openDatabase({ engine: 'sqlite', path }, manualClock(Date.UTC(2026, 2, 1)));
    try {
      expect(
        await after
          .prepare('SELECT device_id, last_received_at FROM device_sync_state ORDER BY device_id')
          .all(),
      ).toEqual([
        { device_id: 'dev_a', last_received_at: '2026-02-03T08:00:00.000Z' },
        { device_id: 'dev_b', last_received_at: null },
      ]);
    } finally {
      await after.close();
    }
  });
});
