export interface Migration {
  /** 1, 2, 3 … with no gaps; a store records each one it applied in `schema_migrations`. */
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * Append only: a shipped migration is never edited, because devices that applied it will not
 * run it again. Conventions: times are INTEGER epoch milliseconds (trusted time where it
 * matters), booleans are INTEGER 0/1, JSON columns end in `_json`, and every secret column
 * holds a `DataKey.seal` blob whose AAD is `<table>/<primary key parts joined by '/'>/<column>`
 * (e.g. `verifiers/usr_…/password//sealed`), so a blob copied to another row does not open.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
-- The device's binding to its CA (docs/architecture.md §3). One row once enrolled, none before.
CREATE TABLE binding (
  id               INTEGER PRIMARY KEY CHECK (id = 1),
  device_id        TEXT    NOT NULL,
  tenant_id        TEXT    NOT NULL,
  certificate_pem  TEXT    NOT NULL,  -- current binding (leaf) certificate; replaced on renewal
  chain_pems_json  TEXT    NOT NULL CHECK (json_valid(chain_pems_json)),  -- PEM array, issuing CA first, root excluded
  root_pem         TEXT    NOT NULL,
  root_fingerprint TEXT    NOT NULL,  -- lowercase hex SHA-256 of the root DER, pinned at enrollment, never changed
  ca_url           TEXT    NOT NULL,
  policy_json      TEXT    NOT NULL CHECK (json_valid(policy_json)),  -- offline policy as last received
  enrolled_at      INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL   -- last renewal or policy change
) STRICT;

-- The CA's token signing keys, to verify access tokens and grants offline.
CREATE TABLE jwks (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  keys_json  TEXT    NOT NULL CHECK (json_valid(keys_json)),  -- the JWKS document as served: {"keys":[...]}
  fetched_at INTEGER NOT NULL
) STRICT;

-- Offline grants (docs/architecture.md §4): user U may sign in offline on this device until offline_until.
CREATE TABLE grants (
  grant_id      TEXT    PRIMARY KEY,
  user_id       TEXT    NOT NULL,
  username      TEXT    NOT NULL,
  grant_jws     TEXT    NOT NULL,  -- compact JWS exactly as received; verify again before trusting a column
  offline_until INTEGER NOT NULL,
  methods_json  TEXT    NOT NULL CHECK (json_valid(methods_json)),  -- e.g. ["password","totp"]
  revoked       INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
  revoked_at    INTEGER,
  received_at   INTEGER NOT NULL,
  CHECK ((revoked = 0) = (revoked_at IS NULL))
) STRICT;
CREATE INDEX grants_by_user ON grants (user_id, offline_until);
CREATE INDEX grants_by_username ON grants (username, offline_until);

-- Local credential verifiers. Password hashes never come from the CA: the agent derives its
-- own verifier from the plaintext of a successful online sign-in.
CREATE TABLE verifiers (
  user_id       TEXT    NOT NULL,
  kind          TEXT    NOT NULL CHECK (kind IN ('password', 'pin', 'totp', 'passkey')),
  credential_id TEXT    NOT NULL DEFAULT '',  -- WebAuthn credential id (base64url) for passkeys, '' otherwise
  sealed        BLOB    NOT NULL,  -- sealed verifier, TOTP secret or passkey public key (sealing also stops key swaps)
  params_json   TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(params_json)),  -- KDF name, cost and salt; TOTP digits/period; passkey sign count
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  PRIMARY KEY (user_id, kind, credential_id)
) STRICT;

-- Local lockout counters, kept per user on this device.
CREATE TABLE lockout (
  user_id       TEXT    PRIMARY KEY,
  failure_count INTEGER NOT NULL DEFAULT 0 CHECK (failure_count >= 0),
  window_start  INTEGER,  -- trusted time of the first failure counted in the current window
  locked_until  INTEGER,  -- trusted time; NULL when not locked
  updated_at    INTEGER NOT NULL
) STRICT;

-- Sessions minted here, online and offline; ended rows stay as history until pruned.
CREATE TABLE sessions (
  session_id     TEXT    PRIMARY KEY,
  user_id        TEXT    NOT NULL,
  grant_id       TEXT,  -- grant an offline session was minted under; no FK: a dropped grant keeps its history
  offline        INTEGER NOT NULL CHECK (offline IN (0, 1)),
  amr_json       TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(amr_json)),  -- e.g. ["pwd","otp"]
  refresh_sealed BLOB,  -- online sessions: the CA's rotating refresh token, sealed
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL,
  ended_at       INTEGER,
  end_reason     TEXT,  -- a revocation reason of the event catalogue: logout, expired, user_revoked, ...
  CHECK ((ended_at IS NULL) = (end_reason IS NULL)),
  CHECK (expires_at >= created_at)
) STRICT;
CREATE INDEX sessions_active_by_user ON sessions (user_id) WHERE ended_at IS NULL;

-- The tenant's revocation feed as far as this device has applied it (docs/architecture.md §5).
CREATE TABLE revocations (
  kind        TEXT    NOT NULL CHECK (kind IN ('device', 'user', 'session', 'grant', 'key', 'certificate')),
  subject_id  TEXT    NOT NULL,  -- the id of that kind; a key's kid; a certificate's serial in lowercase hex
  revoked_at  INTEGER NOT NULL,
  reason      TEXT    NOT NULL,
  feed_seq    INTEGER,  -- position in the tenant's feed; NULL when learned otherwise (e.g. an online login answer)
  received_at INTEGER NOT NULL,
  PRIMARY KEY (kind, subject_id)
) STRICT;

-- Delta sync progress. Always exactly one row.
CREATE TABLE sync_state (
  id                INTEGER PRIMARY KEY CHECK (id = 1),
  revocation_cursor INTEGER NOT NULL DEFAULT 0 CHECK (revocation_cursor >= 0),  -- highest feed seq applied
  last_sync_at      INTEGER,  -- trusted time at the end of the last complete round
  last_server_time  INTEGER,  -- the signed server time of that round
  jwks_etag         TEXT      -- version of the cached JWKS, so the server sends it only when it changed
) STRICT;
INSERT INTO sync_state (id) VALUES (1);

-- Trusted time (docs/architecture.md §4). Always exactly one row; see TrustedTime.
CREATE TABLE trusted_time (
  id             INTEGER PRIMARY KEY CHECK (id = 1),
  mark_ms        INTEGER NOT NULL,  -- high-water mark of time seen; never decreases
  anchor_wall_ms INTEGER NOT NULL,  -- the wall clock reading when the mark was last set
  source         TEXT    NOT NULL CHECK (source IN ('none', 'wall_clock', 'server')),
  CHECK (mark_ms >= anchor_wall_ms)
) STRICT;
INSERT INTO trusted_time (id, mark_ms, anchor_wall_ms, source) VALUES (1, 0, 0, 'none');

-- Events waiting to be pushed (docs/architecture.md §5, invariant 3). seq is the per-device sequence.
CREATE TABLE outbox (
  seq           INTEGER PRIMARY KEY CHECK (seq >= 1),
  event_id      TEXT    NOT NULL UNIQUE,
  event_type    TEXT    NOT NULL,
  envelope_json TEXT    NOT NULL CHECK (json_valid(envelope_json)),  -- the full, validated EventEnvelope
  created_at    INTEGER NOT NULL,
  acked         INTEGER NOT NULL DEFAULT 0 CHECK (acked IN (0, 1)),
  acked_at      INTEGER,
  CHECK ((acked = 0) = (acked_at IS NULL))
) STRICT;
CREATE INDEX outbox_pending ON outbox (seq) WHERE acked = 0;

-- The outbox's counters, kept apart from its rows so that pruning acked rows can never make a
-- sequence number come round again. Always exactly one row.
CREATE TABLE outbox_state (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  last_seq  INTEGER NOT NULL CHECK (last_seq >= 0),  -- highest sequence ever assigned
  acked_seq INTEGER NOT NULL CHECK (acked_seq >= 0 AND acked_seq <= last_seq)  -- all <= this are acked
) STRICT;
INSERT INTO outbox_state (id, last_seq, acked_seq) VALUES (1, 0, 0);
`,
  },
  {
    version: 2,
    name: 'sync_enforcement',
    sql: `
-- Device revocation as enforced on sync (docs/architecture.md §5). The binding row stays, so status and
-- sign-in can say device_revoked, when and why, after everything else was wiped.
ALTER TABLE binding ADD COLUMN revoked_at INTEGER;   -- the CA's revokedAt, epoch ms; NULL while not revoked
ALTER TABLE binding ADD COLUMN revoke_reason TEXT;   -- the feed entry's reason (lost, stolen, ...)
-- Trusted time at which the data key and the device key were shredded. NULL after revoked_at is
-- set while the outbox is still being handed over: the device key must sign those sync proofs.
ALTER TABLE binding ADD COLUMN keys_destroyed_at INTEGER;

-- Events the CA refused for good (ack covers them, they are never sent again), kept for inspection.
ALTER TABLE outbox ADD COLUMN rejected_code TEXT;     -- e.g. schema_violation, event_not_allowed
ALTER TABLE outbox ADD COLUMN rejected_message TEXT;  -- the CA's message, at most 500 characters
`,
  },
  {
    version: 3,
    name: 'offline_totp',
    sql: `
-- Offline TOTP (docs/architecture.md §4). The secret itself is a verifiers row of kind 'totp'; this table keeps
-- the highest time step accepted per user, apart from the secret so that a re-sealed secret from a
-- newer grant can never make an old step acceptable again.
CREATE TABLE totp_steps (
  user_id     TEXT    PRIMARY KEY,
  last_step   INTEGER NOT NULL CHECK (last_step >= 0),  -- floor(trusted time / period) of the last accepted code
  updated_at  INTEGER NOT NULL
) STRICT;
`,
  },
  {
    version: 4,
    name: 'passkeys',
    sql: `
-- Passkeys registered through this agent's own page (WebAuthn rpId 'localhost'), so that a user
-- can sign in offline with a platform authenticator. Its own table rather than verifiers rows:
-- a passkey is found by credential id (discoverable sign-in names no user) and its counter
-- changes on every use. The public key is sealed, like a verifier, so that writing one's own key
-- into the file needs the data key too, and crypto-shredding the device makes it unusable.
CREATE TABLE passkeys (
  credential_id     TEXT    PRIMARY KEY,  -- base64url, as the authenticator created it
  user_id           TEXT    NOT NULL,
  public_key_sealed BLOB    NOT NULL,  -- COSE public key; AAD passkeys/<credential_id>/public_key_sealed
  sign_count        INTEGER NOT NULL CHECK (sign_count >= 0),  -- highest authenticator counter seen
  transports_json   TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(transports_json)),
  user_verified     INTEGER NOT NULL CHECK (user_verified IN (0, 1)),  -- UV at registration
  created_at        INTEGER NOT NULL,
  last_used_at      INTEGER
) STRICT;
CREATE INDEX passkeys_by_user ON passkeys (user_id);
`,
  },
  {
    version: 5,
    name: 'trusted_time_monotonic',
    sql: `
-- Issue 11: elapsed time the wall clock cannot move, recorded with the trusted-time anchor, so a
-- clock set back after a long idle is caught on the same boot. NULL: no monotonic evidence.
ALTER TABLE trusted_time ADD COLUMN anchor_boot_id TEXT;  -- the system's boot id at the anchor
ALTER TABLE trusted_time ADD COLUMN anchor_uptime_ms INTEGER CHECK (anchor_uptime_ms >= 0);  -- system uptime at the anchor
`,
  },
  {
    version: 6,
    name: 'state_seal',
    sql: `
-- Issue 15: with the TPM key store, the trusted-time mark, revocation cursor and lockout rows are
-- sealed by one MAC bound to a TPM NV monotonic counter (StateSeal): a restored older copy of
-- this file carries an older counter and is refused. No row: the software tier, nothing sealed.
CREATE TABLE state_seal (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  seal BLOB    NOT NULL  -- counter (8 bytes, big-endian) || HMAC-SHA256
) STRICT;
  `,
  },
  {
    version: 7,
    name: 'ca_identity',
    sql: `
-- Issue 24: the CA's name for itself (the \`iss\` of its tokens) is an identity, not the address
-- the device reaches it by. Learned from the enrollment answer, then from every signed sync
-- answer. NULL in stores enrolled before this column: ca_url until the next sync fills it.
ALTER TABLE binding ADD COLUMN issuer TEXT;
-- The CA's public URLs as it states them (JSON array of strings); NULL until it has said.
ALTER TABLE binding ADD COLUMN ca_public_urls_json TEXT CHECK (ca_public_urls_json IS NULL OR json_valid(ca_public_urls_json));
`,
  },
  {
    version: 8,
    name: 'former_device_keys',
    sql: `
-- Issue 16: keys this device held before a re-keying renewal. The private keys are destroyed;
-- only their thumbprints stay, so offline grants the CA bound to an earlier key (cnf.jkt) keep
-- working on this device until they expire, as sessions minted under the old certificate do.
CREATE TABLE former_device_keys (
  thumbprint      TEXT    PRIMARY KEY,  -- RFC 7638 thumbprint of the retired device key
  certificate_pem TEXT    NOT NULL,     -- the binding certificate that certified it
  not_after       INTEGER NOT NULL,     -- that certificate's notAfter: no grant outlives it
  retired_at      INTEGER NOT NULL
) STRICT;
`,
  },
  {
    version: 9,
    name: 'binding_names',
    sql: `
-- Issue 25: the sign-in page shows the school and the device by name before sign-in. Both come
-- from the CA's enrollment (and renewal) answer; NULL in stores enrolled before, and shown as nothing.
ALTER TABLE binding ADD COLUMN tenant_name TEXT;
ALTER TABLE binding ADD COLUMN device_name TEXT;
`,
  },
  {
    version: 10,
    name: 'jwks_signed_at',
    sql: `
-- When the CA signed the key set stored (its iat, seconds). A key set fetched on its own that is
-- older is refused: replayed, it could bring back a key the CA has revoked since. The etag is
-- forgotten so that the next sync brings a signed set and with it the time.
ALTER TABLE jwks ADD COLUMN signed_at INTEGER;
UPDATE sync_state SET jwks_etag = NULL;
`,
  },
];
