import type { SqlReader } from '../store/sql-database.js';
import type { Projection } from '../store/event-store.js';
import { statement } from '../store/statements.js';

export const quarantineProjection: Projection = {
  name: 'quarantined_events',
  tables: ['quarantined_events'],
  apply(db, event) {
    if (event.eventType !== 'identity.user.offline_signin_quarantined') return;
    statement(
      db,
      "INSERT INTO quarantined_events (event_id, device_id, reason) VALUES (?, ?, 'after_device_revocation') ON CONFLICT (event_id) DO NOTHING",
    ).run(event.payload.signinEventId, event.payload.deviceId);
  },
};

/** An offline sign-in the device reported after its revocation: on record, without effect. */
export async function isQuarantined(db: SqlReader, eventId: string): Promise<boolean> {
  return (
    (await statement(db, 'SELECT 1 FROM quarantined_events WHERE event_id = ?').get(eventId)) !==
    undefined
  );
}
