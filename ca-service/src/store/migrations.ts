import type { Database } from 'better-sqlite3';

/**
 * Numbered, append-only. SQL kept to what SQLite and PostgreSQL both accept (no AUTOINCREMENT
 * tricks beyond INTEGER PRIMARY KEY, no JSON operators) so a PostgreSQL store can reuse it.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE events (
    position INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    event_version INTEGER NOT NULL,
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    aggregate_version INTEGER NOT NULL,
    tenant_id TEXT NOT NULL,
    actor_type TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    causation_id TEXT,
    occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (aggregate_type, aggregate_id, aggregate_version)
  );
  CREATE INDEX events_tenant_position ON events (tenant_id, position);
  CREATE INDEX events_type_position ON events (event_type, position);

  CREATE TABLE tenants (
    tenant_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
  );

  CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    prefix TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    name TEXT,
    expires_at TEXT,
    revoked_at TEXT,
    created_at TEXT NOT NULL
  );

  CREATE TABLE enrollment_tokens (
    token_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    device_name TEXT,
    expires_at TEXT NOT NULL,
    status TEXT NOT NULL,
    device_id TEXT,
    created_at TEXT NOT NULL
  );
  CREATE INDEX enrollment_tokens_tenant ON enrollment_tokens (tenant_id, created_at);

  CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    name TEXT,
    status TEXT NOT NULL,
    key_thumbprint TEXT NOT NULL,
    assurance TEXT NOT NULL,
    current_serial TEXT,
    cert_expires_at TEXT,
    enrolled_at TEXT NOT NULL,
    revoked_at TEXT,
    revoke_reason TEXT
  );
  CREATE INDEX devices_tenant ON devices (tenant_id, enrolled_at);

  CREATE TABLE certificates (
    serial TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    key_thumbprint TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    pem TEXT NOT NULL,
    revoked_at TEXT,
    revoke_reason TEXT,
    revoked_position INTEGER
  );
  CREATE INDEX certificates_device ON certificates (device_id);

  CREATE TABLE revocation_feed (
    tenant_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    serial TEXT,
    revoked_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, seq)
  );

  CREATE TABLE proof_jtis (
    jti TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
  );

  CREATE TABLE crls (
    crl_number INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    base_number INTEGER,
    covers_position INTEGER NOT NULL,
    this_update TEXT NOT NULL,
    next_update TEXT NOT NULL,
    der BLOB NOT NULL
  );
  `,
  `
  CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    username TEXT NOT NULL,
    role TEXT NOT NULL,
    email TEXT,
    display_name TEXT,
    status TEXT NOT NULL,
    locked_until TEXT,
    failure_count INTEGER NOT NULL DEFAULT 0,
    failure_window_start TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, username)
  );

  CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT,
    family_id TEXT,
    offline INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT,
    revoke_reason TEXT
  );
  CREATE INDEX sessions_user ON sessions (user_id, status);

  CREATE TABLE grants (
    grant_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    methods TEXT NOT NULL,
    offline_until TEXT NOT NULL,
    status TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    revoked_at TEXT
  );
  CREATE INDEX grants_user ON grants (user_id, status);
  CREATE INDEX grants_device ON grants (device_id, status);

  -- Secrets are kept beside the events, never in them: events are published and exported.
  CREATE TABLE credentials (
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, kind)
  );

  CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    status TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
  `,
  `
  -- Written with the events a device pushes, in the same transaction: (device, seq) and the
  -- event id make every push idempotent.
  CREATE TABLE device_event_receipts (
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT,
    received_at TEXT NOT NULL,
    PRIMARY KEY (device_id, seq)
  );

  CREATE TABLE device_sync_state (
    device_id TEXT PRIMARY KEY,
    acked_seq INTEGER NOT NULL
  );

  CREATE TABLE quarantined_events (
    event_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    reason TEXT NOT NULL
  );
  `,
  `
  -- Event backbone. A cursor says how far a reader of the event log got (the outbox relay, the
  -- user timeline index): everything at or before its position is done.
  CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    updated_at TEXT NOT NULL
  );

  -- Events the relay could not publish and messages the inbox refused, as parked in the DLQ
  -- stream; kept here too so an operator sees them without a broker.
  CREATE TABLE dead_letters (
    dead_letter_id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    subject TEXT NOT NULL,
    event_id TEXT,
    position INTEGER,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    parked_at TEXT NOT NULL
  );
  CREATE INDEX dead_letters_source ON dead_letters (source, dead_letter_id);

  -- Written in the transaction of the effect of a consumed event: a redelivery finds its row.
  CREATE TABLE inbox_processed (
    event_id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    processed_at TEXT NOT NULL
  );

  CREATE TABLE subject_request_exports (
    request_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    event_count INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    ndjson TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, request_id)
  );

  CREATE TABLE user_events (
    user_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    tenant_id TEXT NOT NULL,
    PRIMARY KEY (user_id, position)
  );

  CREATE TABLE audit_checkpoints (
    position INTEGER NOT NULL,
    head_hash TEXT NOT NULL,
    signed_at TEXT NOT NULL,
    jws TEXT NOT NULL,
    PRIMARY KEY (position, signed_at)
  );
  `,
  `
  -- MFA. TOTP secrets, sealed at rest (secrets/secret-box.ts), beside the events and
  -- never in them. One pending row (an enrolment waiting for its first code) and one active row
  -- per user; last_used_step is the newest time step accepted, so a code is good only once.
  CREATE TABLE totp_credentials (
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    sealed_secret TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    digits INTEGER NOT NULL,
    period INTEGER NOT NULL,
    last_used_step INTEGER,
    created_at TEXT NOT NULL,
    confirmed_at TEXT,
    PRIMARY KEY (user_id, status)
  );

  -- Projection of identity.tenant.mfa_policy_set; a tenant without a row runs on the defaults.
  CREATE TABLE tenant_mfa_policies (
    tenant_id TEXT PRIMARY KEY,
    policy TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  `,
  `
  ALTER TABLE events ADD COLUMN device_id TEXT;
  CREATE INDEX events_device_position ON events (device_id, position);
  `,
  `
  -- One key per user for the personal fields sealed in their events (crypto-shredding).
  CREATE TABLE subject_keys (
    user_id TEXT PRIMARY KEY,
    subject_key BLOB NOT NULL,
    created_at TEXT NOT NULL
  );
  `,
  `
  -- WebAuthn. Passkeys registered with the CA's web origin: public key, signature counter and
  -- flags beside the events (the counter moves on every sign-in, which is no event of its own).
  CREATE TABLE webauthn_credentials (
    credential_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    public_key BLOB NOT NULL,
    counter INTEGER NOT NULL,
    transports TEXT NOT NULL,
    user_verified INTEGER NOT NULL,
    device_type TEXT NOT NULL,
    backed_up INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT
  );
  CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);

  -- Outstanding ceremony challenges: single use (deleted when presented), short-lived.
  CREATE TABLE webauthn_challenges (
    challenge TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    user_id TEXT,
    expires_at TEXT NOT NULL
  );
  CREATE INDEX webauthn_challenges_expiry ON webauthn_challenges (expires_at);

  -- Projection of identity.user.mfa_enrolled/mfa_removed (kind webauthn): every passkey a user
  -- has, whether registered with the CA (device_id NULL) or on a device and reported by sync.
  CREATE TABLE user_passkeys (
    credential_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT,
    enrolled_at TEXT NOT NULL
  );
  CREATE INDEX user_passkeys_user ON user_passkeys (user_id);
  `,
  `
  -- Projections ask whether an event was a device's report (store/device-receipts.ts).
  CREATE INDEX device_event_receipts_event ON device_event_receipts (event_id);
  `,
  `
  -- Issuing-CA rotation: which issuing CA signed each certificate (its SKI, hex), so each
  -- issuer's CRL lists its own revoked certificates, and which issuer each cached CRL is of.
  ALTER TABLE certificates ADD COLUMN issuer_key_id TEXT;
  CREATE INDEX certificates_issuer ON certificates (issuer_key_id, revoked_position);
  ALTER TABLE crls ADD COLUMN issuer_key_id TEXT NOT NULL DEFAULT '';
  `,
  `
  -- The envelope fields of the identity event schemas, stamped at append. NULL on rows stored
  -- before them: those rows are hashed without them, so their chain still verifies.
  ALTER TABLE events ADD COLUMN schema_uri TEXT;
  ALTER TABLE events ADD COLUMN source TEXT;
  ALTER TABLE events ADD COLUMN ingested_at TEXT;
  ALTER TABLE events ADD COLUMN retention_class TEXT;
  ALTER TABLE events ADD COLUMN data_residency TEXT;
  `,
];

export class SchemaTooNewError extends Error {}

export function migrate(db: Database, appliedAt: string): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
  );
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as {
    version: number | null;
  };
  const current = row.version ?? 0;
  if (current > MIGRATIONS.length) {
    throw new SchemaTooNewError(
      `database schema v${current} is newer than this lantern-ca (knows v${MIGRATIONS.length})`,
    );
  }
  MIGRATIONS.slice(current).forEach((sql, index) => {
    db.transaction(() => {
      db.exec(sql);
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(
        current + index + 1,
        appliedAt,
      );
    })();
  });
}
