/** A refusal from the CA, carrying its stable code and the human message the page shows. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: Record<string, unknown> | undefined,
  ) {
    super(message);
  }
}

let csrfToken = '';

export const SESSION_ENDED = 'lantern:session-ended';

/** Every state-changing call carries the session's CSRF token (see console-auth.ts on the CA). */
export function useCsrfToken(token: string): void {
  csrfToken = token;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-lantern-csrf'] = csrfToken;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(
      0,
      'network',
      'The CA did not answer. Check the network and try again.',
      undefined,
    );
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!response.ok) {
    const refusal = (data ?? {}) as { code?: string; message?: string };
    // Anywhere but the sign-in itself, a 401 means the console session is over (idle timeout,
    // sign-out elsewhere, sessions ended by another admin): the app goes back to sign-in.
    if (response.status === 401 && !path.startsWith('/admin/session')) {
      dispatchEvent(new CustomEvent(SESSION_ENDED, { detail: refusal.message }));
    }
    throw new ApiError(
      response.status,
      refusal.code ?? 'error',
      refusal.message ?? `The CA answered ${response.status}.`,
      data as Record<string, unknown> | undefined,
    );
  }
  return data as T;
}

/** `path?tenant=…&k=v`, leaving out empty values. */
export function withQuery(
  path: string,
  query: Record<string, string | number | undefined>,
): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export interface SessionView {
  csrfToken: string;
  kind: 'api_key' | 'user';
  tenantId: string | null;
  username: string | null;
  idleTimeoutSeconds: number;
  caUrl: string;
  rootFingerprint: string;
}

export interface Tenant {
  tenantId: string;
  name: string;
  slug: string;
}

export interface Device {
  deviceId: string;
  tenantId: string;
  name: string | null;
  status: 'active' | 'revoked';
  assurance: string;
  currentSerial: string | null;
  certExpiresAt: string | null;
  enrolledAt: string;
  revokedAt: string | null;
  revokeReason: string | null;
}

export interface DeviceActivity {
  deviceId: string;
  lastSeenAt: string;
  users: string[];
}

export interface User {
  userId: string;
  tenantId: string;
  username: string;
  role: 'learner' | 'teacher' | 'admin';
  displayName: string | null;
  status: string;
  lockedUntil: string | null;
  createdAt: string;
}

export interface LanternEvent {
  position: number;
  eventId: string;
  eventType: string;
  aggregateType: string;
  aggregateId: string;
  tenantId: string;
  actor: { type: string; id: string };
  occurredAt: string;
  payload: Record<string, unknown>;
  quarantined?: boolean;
}
