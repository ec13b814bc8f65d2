import type { SqlDatabase } from './sql-database.js';

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
  -- Projections ask whether an event was a device's report (sync/device-receipts.ts).
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
  -- Memberships (members/members-projection.ts): schools under a tenant, invitations (the
  -- accept token only as its SHA-256), who belongs where, and the roles and permissions held.
  CREATE TABLE organizations (
    organization_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX organizations_tenant ON organizations (tenant_id);
  CREATE TABLE invitations (
    invitation_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    email TEXT NOT NULL,
    roles TEXT NOT NULL,
    account_role TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    status TEXT NOT NULL,
    user_id TEXT,
    membership_id TEXT,
    invited_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    accepted_at TEXT
  );
  CREATE INDEX invitations_tenant ON invitations (tenant_id, created_at);
  CREATE TABLE memberships (
    membership_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    updated_at TEXT NOT NULL,
    UNIQUE (user_id, organization_id)
  );
  CREATE INDEX memberships_tenant ON memberships (tenant_id, user_id);
  CREATE TABLE member_assignments (
    assignment_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scope TEXT NOT NULL,
    kind TEXT NOT NULL,
    grant_name TEXT NOT NULL,
    assigned_at TEXT NOT NULL
  );
  CREATE INDEX member_assignments_subject ON member_assignments (subject, scope);
  `,
  `
  -- Self-service tokens (email verification, password reset): only the SHA-256 of the secret
  -- part is kept; the token id finds the row, the hash is compared in constant time.
  CREATE TABLE self_service_tokens (
    token_id TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
  );
  CREATE INDEX self_service_tokens_user ON self_service_tokens (user_id, purpose);

  -- Webhook subscriptions: the signing secret sealed by the CA's secret box.
  CREATE TABLE webhook_subscriptions (
    subscription_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    url TEXT NOT NULL,
    event_types TEXT NOT NULL,
    sealed_secret TEXT NOT NULL,
    status TEXT NOT NULL,
    -- Only events after this position go to the endpoint: subscribing sends no history.
    after_position INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    deleted_at TEXT
  );
  CREATE INDEX webhook_subscriptions_tenant ON webhook_subscriptions (tenant_id, status);

  -- One row per (subscription, event): the delivery log, and the retry schedule.
  CREATE TABLE webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    position INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_status_code INTEGER,
    last_error TEXT,
    delivered_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (subscription_id, event_id)
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
  CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, position);
  `,
  `
  -- Adaptive MFA (issue 20). Projection of identity.tenant.risk_policy_set.
  CREATE TABLE tenant_risk_policies (
    tenant_id TEXT PRIMARY KEY,
    policy TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  -- Not projections: what the risk rules remember of recent sign-ins, pruned by age. The
  -- successful online sign-ins of a user (device, hour, coarse location) ...
  CREATE TABLE signin_history (
    user_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    at TEXT NOT NULL,
    device_id TEXT,
    location TEXT,
    lat REAL,
    lon REAL
  );
  CREATE INDEX signin_history_user ON signin_history (user_id, at);
  -- ... and the failed password sign-ins per client address (the account as a hash).
  CREATE TABLE signin_ip_failures (
    ip TEXT NOT NULL,
    account TEXT NOT NULL,
    at TEXT NOT NULL
  );
  CREATE INDEX signin_ip_failures_ip ON signin_ip_failures (ip, at);
  CREATE INDEX signin_ip_failures_at ON signin_ip_failures (at);

  -- Idempotency-Key of admin POSTs: the first answer, sealed, replayed until expires_at.
  CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    status INTEGER,
    response TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (scope, idempotency_key)
  );
  CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
  `,
  `
  -- Single sign-on (ca-service/src/sso/). Projection of identity.tenant.sso_provider_set: one
  -- OpenID Connect provider per tenant. Its client secret is not in any event: it sits sealed
  -- (secret box) in sso_client_secrets, beside the events, like the TOTP seeds.
  CREATE TABLE tenant_sso_providers (
    tenant_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    verified_domains TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE sso_client_secrets (
    tenant_id TEXT PRIMARY KEY,
    sealed TEXT NOT NULL
  );
  -- Projection of identity.user.identity_linked: who an (issuer, subject) signs in as, per tenant.
  CREATE TABLE sso_identities (
    tenant_id TEXT NOT NULL,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL,
    linked_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, issuer, subject)
  );
  CREATE INDEX sso_identities_user ON sso_identities (user_id);
  -- Authorization requests in flight: single use (deleted when the callback presents the
  -- state), short-lived. The PKCE verifier is sealed: it is a secret until the code is spent.
  CREATE TABLE sso_attempts (
    state TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    handoff_id TEXT,
    expires_at TEXT NOT NULL
  );
  -- Device hand-offs: a device starts one (device proof), a browser completes the sign-in, and
  -- the same device key redeems it once for the login answer.
  CREATE TABLE sso_handoffs (
    handoff_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    user_id TEXT,
    expires_at TEXT NOT NULL
  );
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
  `
  -- An admin may withdraw an invitation before it is accepted (identity.invitation.revoked).
  ALTER TABLE invitations ADD COLUMN revoked_at TEXT;
  `,
  `
  -- A device hand-off completes only when the person types the device's code (docs/sso.md);
  -- hand-offs started before this have no code and cannot be confirmed (they expire in minutes).
  ALTER TABLE sso_handoffs ADD COLUMN user_code_hash TEXT;
  ALTER TABLE sso_handoffs ADD COLUMN pending_user_id TEXT;
  ALTER TABLE sso_handoffs ADD COLUMN confirm_hash TEXT;
  ALTER TABLE sso_handoffs ADD COLUMN confirm_failures INTEGER NOT NULL DEFAULT 0;
  `,
  `
  -- The token key ring (sealed under the CA passphrase, as keys/token-keys.json is) where CA
  -- instances share a PostgreSQL database: one ring for all of them. version orders the saves.
  CREATE TABLE token_key_ring (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    keys    TEXT NOT NULL
  );
  `,
  `
  -- When each device last pushed something new, kept with its ack: the console's device list
  -- read it as MAX(received_at) over all of a device's receipts, every receipt of 5,000 devices.
  ALTER TABLE device_sync_state ADD COLUMN last_received_at TEXT;
  UPDATE device_sync_state SET last_received_at =
    (SELECT MAX(receipt.received_at) FROM device_event_receipts AS receipt
     WHERE receipt.device_id = device_sync_state.device_id);
  `,
  `
  -- Who signed in on each device (the console's device list) read every session of the store.
  CREATE INDEX sessions_device ON sessions (device_id, user_id, created_at);
  `,
];

export class SchemaTooNewError extends Error {}

export async function migrate(db: SqlDatabase, appliedAt: string): Promise<void> {
  // One transaction for the whole upgrade: CA instances starting together on one PostgreSQL
  // database take turns (its writer lock), and the second finds the schema already current.
  await db.transaction(async () => {
    await db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
    );
    const row = (await db
      .prepare('SELECT MAX(version) AS version FROM schema_migrations')
      .get()) as {
      version: number | null;
    };
    const current = row.version ?? 0;
    if (current > MIGRATIONS.length) {
      throw new SchemaTooNewError(
        `database schema v${current} is newer than this lantern-ca (knows v${MIGRATIONS.length})`,
      );
    }
    for (const [index, sql] of MIGRATIONS.slice(current).entries()) {
      await db.exec(sql);
      await db
        .prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)')
        .run(current + index + 1, appliedAt);
    }
  })();
}
