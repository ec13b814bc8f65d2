import { X509Certificate } from 'node:crypto';
import { CaSignedTokenVerifier, normalizeFingerprint } from '@lantern/agent';
import { certificateFingerprint, createJwtVerifier, importJwks } from '@lantern/shared';

/** The spec's synthetic probes (§9), plus the signed key set agents actually trust. */
export const PROBES = ['health', 'readiness', 'jwks', 'jwks_signed', 'login', 'sso'] as const;
export type ProbeName = (typeof PROBES)[number];

export interface ProbeResult {
  probe: ProbeName;
  ok: boolean;
  /** Wall time of the probe's requests, in milliseconds. */
  ms: number;
  /** Why it failed, or why it was skipped; never a token, a password or a response body. */
  reason?: string;
  skipped?: boolean;
}

export interface CanaryTarget {
  /** The CA's base URL, e.g. `https://ca.school.example`. */
  url: string;
  tenant: string;
  user: string;
  password: string;
  /** Pinned root (as `lantern-ca init` printed it): checks the signed key set when given. */
  rootFingerprint?: string;
  /** The canary tenant's OpenID Connect issuer: probes its discovery and the CA's SSO start. */
  ssoIssuer?: string;
  timeoutMs: number;
}

/** A probe's own failure: its message is the reason reported. */
class ProbeFailure extends Error {}

const fail = (reason: string): never => {
  throw new ProbeFailure(reason);
};

interface Answer {
  status: number;
  text: string;
}

async function call(
  target: CanaryTarget,
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<Answer & { location: string | null }> {
  let response: Response;
  try {
    // A path is the CA's; an absolute URL (the SSO provider's) stands as it is.
    response = await fetch(new URL(path, target.url), {
      method: init.method ?? 'GET',
      headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      signal: AbortSignal.timeout(target.timeoutMs),
      redirect: 'manual',
    });
  } catch (error) {
    // fetch says only "fetch failed"; the cause says why (ECONNREFUSED, a certificate, …).
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return fail(
      (error as Error).name === 'TimeoutError'
        ? `${path}: no answer within ${target.timeoutMs} ms`
        : `${path}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
    );
  }
  return {
    status: response.status,
    text: await response.text(),
    location: response.headers.get('location'),
  };
}

function json(answer: Answer, path: string): Record<string, unknown> {
  try {
    const value = JSON.parse(answer.text) as unknown;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // Reported below, without the body.
  }
  return fail(`${path}: the answer is not a JSON object`);
}

/** `HTTP 401 invalid_credentials`: the status and the CA's stable error code, if it sent one. */
function httpError(answer: Answer, path: string): string {
  let code = '';
  try {
    const parsed = JSON.parse(answer.text) as { code?: unknown };
    if (typeof parsed.code === 'string' && /^[a-z][a-z0-9_]{0,63}$/.test(parsed.code)) {
      code = ` ${parsed.code}`;
    }
  } catch {
    // No JSON body: the status says enough.
  }
  return `${path}: HTTP ${answer.status}${code}`;
}

async function expect200(target: CanaryTarget, path: string): Promise<Answer> {
  const answer = await call(target, path);
  if (answer.status !== 200) fail(httpError(answer, path));
  return answer;
}

type Jwks = { keys: Record<string, unknown>[] };

async function fetchJwks(target: CanaryTarget): Promise<Jwks> {
  const path = '/.well-known/jwks.json';
  const body = json(await expect200(target, path), path);
  const keys = body['keys'];
  if (!Array.isArray(keys) || keys.length === 0) fail(`${path}: no key in the set`);
  try {
    importJwks(body);
  } catch (error) {
    fail(`${path}: a key does not import (${(error as Error).message})`);
  }
  return body as Jwks;
}

const kids = (jwks: Jwks) =>
  jwks.keys
    .map((key) => String(key['kid']))
    .sort()
    .join(',');

/**
 * The signed key set (`/v1/ca/jwks.jws`) against the pinned root: the chain, the signature,
 * its etag, and the same keys as the public set, so a CA that serves stale keys to agents shows.
 */
async function checkSignedJwks(target: CanaryTarget, fingerprint: string, jwks: Jwks) {
  const rootPem = (await expect200(target, '/v1/ca/root')).text;
  let der: Uint8Array;
  try {
    der = new X509Certificate(rootPem).raw;
  } catch {
    return fail('/v1/ca/root: not a PEM certificate');
  }
  if (certificateFingerprint(der) !== fingerprint) {
    fail('/v1/ca/root: the root does not match the pinned fingerprint');
  }
  const path = '/v1/ca/jwks.jws';
  const body = json(await expect200(target, path), path);
  if (typeof body['jwks'] !== 'string') fail(`${path}: no signed key set`);
  const verdict = new CaSignedTokenVerifier(rootPem).verify(
    String(body['jwks']),
    'lantern-jwks+jws',
    Math.floor(Date.now() / 1000),
  );
  if (!verdict.ok) return fail(`${path}: ${verdict.detail}`);
  if (verdict.claims['typ'] !== 'jwks' || verdict.claims['etag'] !== body['jwksEtag']) {
    fail(`${path}: not a key set for the etag it names`);
  }
  const signed = { keys: verdict.claims['keys'] } as Jwks;
  if (!Array.isArray(signed.keys) || kids(signed) !== kids(jwks)) {
    fail(`${path}: the signed keys differ from /.well-known/jwks.json`);
  }
}

/** Signs the canary account in, checks the access token against the key set, signs it out. */
async function loginRoundTrip(target: CanaryTarget, jwks: Jwks | undefined) {
  const path = '/v1/auth/login';
  const answer = await call(target, path, {
    method: 'POST',
    body: { tenant: target.tenant, username: target.user, password: target.password },
  });
  if (answer.status !== 200) fail(httpError(answer, path));
  const body = json(answer, path);
  const accessToken = body['accessToken'];
  const refreshToken = body['refreshToken'];
  if (typeof accessToken !== 'string') {
    fail(`${path}: no access token (a second factor required for the canary account?)`);
  }
  const verifier = createJwtVerifier({
    keys: importJwks(jwks ?? (await fetchJwks(target))),
    requiredClaims: ['sub', 'exp'],
  });
  const verdict = verifier.verify(accessToken, Math.floor(Date.now() / 1000));
  if (!verdict.ok) fail(`${path}: the access token does not verify (${verdict.reason})`);
  if (typeof refreshToken === 'string') {
    const out = await call(target, '/v1/auth/logout', { method: 'POST', body: { refreshToken } });
    if (out.status !== 204) fail(httpError(out, '/v1/auth/logout'));
  }
}

/**
 * The spec's "SSO discovery": the provider's discovery document and key set answer and name the
 * issuer the canary was given, and the CA's SSO start for the canary tenant sends the browser to
 * that provider's authorization endpoint with a PKCE challenge. The provider's own answers are
 * fetched here, not the CA's hour-long cache of them, so a provider outage shows at once.
 */
async function ssoDiscovery(target: CanaryTarget, issuer: string) {
  const wellKnown = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const discovery = await call(target, wellKnown);
  if (discovery.status !== 200) fail(`${wellKnown}: HTTP ${discovery.status}`);
  const document = json(discovery, wellKnown);
  if (document['issuer'] !== issuer) fail(`${wellKnown}: it names another issuer`);
  const authorization = document['authorization_endpoint'];
  const jwksUri = document['jwks_uri'];
  if (typeof authorization !== 'string' || typeof jwksUri !== 'string') {
    fail(`${wellKnown}: no authorization_endpoint or jwks_uri`);
  }
  const keys = await call(target, String(jwksUri));
  if (keys.status !== 200) fail(`${String(jwksUri)}: HTTP ${keys.status}`);
  const keySet = json(keys, String(jwksUri))['keys'];
  if (!Array.isArray(keySet) || keySet.length === 0) fail(`${String(jwksUri)}: no key in the set`);
  const start = `/v1/sso/${encodeURIComponent(target.tenant)}/start`;
  const redirect = await call(target, start);
  if (redirect.status !== 302 || redirect.location === null) fail(httpError(redirect, start));
  let sent: URL;
  let endpoint: URL;
  try {
    sent = new URL(String(redirect.location));
    endpoint = new URL(String(authorization));
  } catch {
    return fail(`${start}: the redirect or the authorization endpoint is not a URL`);
  }
  if (sent.origin !== endpoint.origin || sent.pathname !== endpoint.pathname) {
    fail(`${start}: the CA sends browsers elsewhere than the provider's authorization endpoint`);
  }
  if (
    sent.searchParams.get('code_challenge_method') !== 'S256' ||
    !sent.searchParams.get('state')
  ) {
    fail(`${start}: the redirect has no state or S256 code challenge`);
  }
}

async function timed(probe: ProbeName, run: () => Promise<void>): Promise<ProbeResult> {
  const started = performance.now();
  try {
    await run();
    return { probe, ok: true, ms: Math.round(performance.now() - started) };
  } catch (error) {
    const ms = Math.round(performance.now() - started);
    if (error instanceof ProbeFailure) return { probe, ok: false, ms, reason: error.message };
    return { probe, ok: false, ms, reason: `canary error: ${(error as Error).message}` };
  }
}

/** One round of every probe, in order; a failing probe does not stop the others. */
export async function probeOnce(target: CanaryTarget): Promise<ProbeResult[]> {
  const results: ProbeResult[] = [];
  results.push(await timed('health', async () => void (await expect200(target, '/health/live'))));
  results.push(
    await timed('readiness', async () => void (await expect200(target, '/health/ready'))),
  );
  let jwks: Jwks | undefined;
  results.push(
    await timed('jwks', async () => {
      jwks = await fetchJwks(target);
    }),
  );
  const fingerprint =
    target.rootFingerprint === undefined ? undefined : normalizeFingerprint(target.rootFingerprint);
  if (fingerprint == null) {
    results.push({
      probe: 'jwks_signed',
      ok: true,
      ms: 0,
      skipped: true,
      reason: 'no --root-fingerprint',
    });
  } else {
    results.push(
      await timed('jwks_signed', async () =>
        checkSignedJwks(target, fingerprint, jwks ?? (await fetchJwks(target))),
      ),
    );
  }
  results.push(await timed('login', () => loginRoundTrip(target, jwks)));
  const { ssoIssuer } = target;
  results.push(
    ssoIssuer === undefined
      ? { probe: 'sso', ok: true, ms: 0, skipped: true, reason: 'no --sso-issuer' }
      : await timed('sso', () => ssoDiscovery(target, ssoIssuer)),
  );
  return results;
}
