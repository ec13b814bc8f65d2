/**
 * The metric tables of the identity-service observability spec (§2 and §10), copied as they
 * stand: the export is checked against this table (ca-service/test/metric-spec.test.ts), and a
 * family Lantern does not export must be listed, with its reason, in docs/observability.md.
 */
export interface MetricDefinition {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  labels: readonly string[];
}

export const SPEC_METRICS: readonly MetricDefinition[] = [
  // 2.1 RED
  {
    name: 'identity_http_requests_total',
    type: 'counter',
    labels: ['route', 'method', 'status_class'],
  },
  {
    name: 'identity_http_request_duration_seconds',
    type: 'histogram',
    labels: ['route', 'method'],
  },
  { name: 'identity_http_errors_total', type: 'counter', labels: ['route', 'method', 'code'] },
  // 2.2 Authentication
  {
    name: 'identity_login_attempts_total',
    type: 'counter',
    labels: ['method', 'result', 'tenant_id'],
  },
  { name: 'identity_login_failures_total', type: 'counter', labels: ['method', 'reason'] },
  { name: 'identity_login_duration_seconds', type: 'histogram', labels: ['method'] },
  { name: 'identity_mfa_challenges_total', type: 'counter', labels: ['factor', 'result'] },
  { name: 'identity_mfa_adoption_ratio', type: 'gauge', labels: ['tenant_id'] },
  { name: 'identity_adaptive_mfa_triggered_total', type: 'counter', labels: ['reason'] },
  { name: 'identity_sso_callbacks_total', type: 'counter', labels: ['provider', 'result'] },
  { name: 'identity_session_count_active', type: 'gauge', labels: ['tenant_id'] },
  { name: 'identity_session_refresh_total', type: 'counter', labels: ['result'] },
  { name: 'identity_rotation_reuse_detected_total', type: 'counter', labels: ['tenant_id'] },
  { name: 'identity_account_locks_total', type: 'counter', labels: ['reason'] },
  // 2.3 Device & offline
  { name: 'identity_device_registrations_total', type: 'counter', labels: ['tenant_id'] },
  { name: 'identity_offline_certs_issued_total', type: 'counter', labels: ['tenant_id'] },
  { name: 'identity_offline_certs_expiring_soon', type: 'gauge', labels: [] },
  { name: 'identity_device_revocations_total', type: 'counter', labels: ['reason'] },
  // 2.4 API keys
  {
    name: 'identity_api_key_uses_total',
    type: 'counter',
    labels: ['tenant_id', 'key_id_hash', 'scope'],
  },
  { name: 'identity_api_key_validation_duration_seconds', type: 'histogram', labels: [] },
  { name: 'identity_api_key_unauthorized_total', type: 'counter', labels: ['reason'] },
  // 2.5 Infrastructure
  { name: 'identity_outbox_depth', type: 'gauge', labels: [] },
  { name: 'identity_outbox_lag_seconds', type: 'gauge', labels: [] },
  { name: 'identity_outbox_publish_rate', type: 'counter', labels: ['topic'] },
  { name: 'identity_outbox_publish_failures_total', type: 'counter', labels: ['topic', 'reason'] },
  { name: 'identity_inbox_consume_rate', type: 'counter', labels: ['topic'] },
  { name: 'identity_dlq_depth', type: 'gauge', labels: ['stream'] },
  { name: 'identity_db_pool_active', type: 'gauge', labels: [] },
  { name: 'identity_db_pool_idle', type: 'gauge', labels: [] },
  { name: 'identity_redis_operations_duration_seconds', type: 'histogram', labels: ['operation'] },
  { name: 'identity_kms_operations_duration_seconds', type: 'histogram', labels: ['operation'] },
  // 2.6 AI risk classifier
  { name: 'identity_ai_risk_calls_total', type: 'counter', labels: ['result'] },
  { name: 'identity_ai_risk_fallback_total', type: 'counter', labels: ['reason'] },
  { name: 'identity_risk_score_distribution', type: 'histogram', labels: [] },
  // 10 Cost
  { name: 'identity_kms_cost_microusd_total', type: 'counter', labels: [] },
  { name: 'identity_ai_classifier_cost_microusd_total', type: 'counter', labels: [] },
];

/**
 * Lantern's own families beside the spec's: device sync (docs/architecture.md §6), the relay switch that
 * the outbox alert depends on, and the failure counters the spec's KMS and key-rotation
 * alerts need but its metric table lacks.
 */
export const LANTERN_METRICS: readonly MetricDefinition[] = [
  { name: 'identity_outbox_relay_enabled', type: 'gauge', labels: [] },
  { name: 'identity_kms_operation_failures_total', type: 'counter', labels: ['operation'] },
  { name: 'identity_jwks_rotations_total', type: 'counter', labels: ['result'] },
  { name: 'identity_api_keys_rotation_overdue', type: 'gauge', labels: [] },
  { name: 'identity_sync_rounds_total', type: 'counter', labels: [] },
  { name: 'identity_sync_events_accepted_total', type: 'counter', labels: [] },
  { name: 'identity_sync_events_duplicate_total', type: 'counter', labels: [] },
  { name: 'identity_sync_events_rejected_total', type: 'counter', labels: ['code'] },
  { name: 'identity_sync_request_bytes_total', type: 'counter', labels: [] },
  { name: 'identity_offline_signins_reconciled_total', type: 'counter', labels: [] },
];
