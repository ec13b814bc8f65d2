/** Every bound a session must stay inside, in epoch milliseconds of trusted time. */
export interface SessionBounds {
  nowMs: number;
  ttlMs: number;
  grantExpiresAtMs: number;
  bindingValidUntilMs: number;
  /** Absent for sessions started online: the CA was just reached, so no window is running. */
  offlineWindowEndMs?: number;
}

/**
 * `exp` (epoch seconds) of a new session: the earliest of the TTL, the grant, the binding path
 * and the offline window (invariant 2). Rounded down, so the token dies no later than any bound.
 */
export function sessionExpiry(bounds: SessionBounds): number {
  const end = Math.min(
    bounds.nowMs + bounds.ttlMs,
    bounds.grantExpiresAtMs,
    bounds.bindingValidUntilMs,
    bounds.offlineWindowEndMs ?? Number.POSITIVE_INFINITY,
  );
  return Math.floor(end / 1000);
}
