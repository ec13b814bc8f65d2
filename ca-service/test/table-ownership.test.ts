import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../src/store/migrations.js';

/**
 * Each table belongs to one feature directory: only that feature's files hold SQL that names it,
 * and every other feature goes through the functions it exports. A second store (PostgreSQL,
 * issue 17) then replaces one module per feature instead of hunting SQL across the code base.
 */
const OWNER: Record<string, string> = {
  events: 'store',
  cursors: 'store',
  schema_migrations: 'store',
  tenants: 'tenants',
  api_keys: 'api-keys',
  enrollment_tokens: 'enrollment',
  devices: 'devices',
  certificates: 'devices',
  revocation_feed: 'revocation',
  crls: 'revocation',
  proof_jtis: 'device-proof',
  users: 'users',
  credentials: 'users',
  subject_keys: 'users',
  sessions: 'auth',
  grants: 'auth',
  refresh_tokens: 'auth',
  device_event_receipts: 'sync',
  device_sync_state: 'sync',
  quarantined_events: 'sync',
  dead_letters: 'outbox',
  inbox_processed: 'inbox',
  subject_request_exports: 'inbox',
  user_events: 'audit',
  audit_checkpoints: 'audit',
  totp_credentials: 'mfa',
  tenant_mfa_policies: 'mfa',
  webauthn_credentials: 'mfa',
  webauthn_challenges: 'mfa',
  user_passkeys: 'mfa',
  tenant_risk_policies: 'mfa',
  signin_history: 'mfa',
  signin_ip_failures: 'mfa',
  organizations: 'members',
  invitations: 'members',
  memberships: 'members',
  member_assignments: 'members',
  self_service_tokens: 'self-service',
  webhook_subscriptions: 'webhooks',
  webhook_deliveries: 'webhooks',
  idempotency_keys: 'http',
  tenant_sso_providers: 'sso',
  sso_client_secrets: 'sso',
  sso_identities: 'sso',
  sso_attempts: 'sso',
  sso_handoffs: 'sso',
  token_key_ring: 'tokens',
};

const src = fileURLToPath(new URL('../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** `file → table` for every SQL clause and projection `tables` list naming a table. */
function tableReferences(): string[] {
  const found = new Set<string>();
  for (const path of sourceFiles(src)) {
    const file = relative(src, path).replaceAll('\\', '/');
    if (file === 'store/migrations.ts') continue;
    const text = readFileSync(path, 'utf8');
    const named = [
      ...[...text.matchAll(/\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+([a-z_]+)\b/g)].map((m) => m[1]),
      ...[...text.matchAll(/tables:\s*\[([^\]]*)\]/g)].flatMap((m) =>
        [...(m[1] ?? '').matchAll(/'([a-z_]+)'/g)].map((t) => t[1]),
      ),
    ];
    for (const table of named) {
      if (table !== undefined && table in OWNER) found.add(`${file} → ${table}`);
    }
  }
  return [...found].sort();
}

describe('table ownership', () => {
  it('names an owner for every table the migrations create', () => {
    const created = new Set(
      MIGRATIONS.flatMap((sql) =>
        [...sql.matchAll(/CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)/g)].map((m) => m[1]),
      ),
    );
    created.add('schema_migrations');
    expect([...created].sort()).toEqual(Object.keys(OWNER).sort());
  });

  it('keeps SQL naming a table inside the feature that owns it', () => {
    const foreign = tableReferences().filter((reference) => {
      const [file = '', table = ''] = reference.split(' → ');
      return file.split('/')[0] !== OWNER[table];
    });
    expect(foreign).toEqual([]);
  });
});
