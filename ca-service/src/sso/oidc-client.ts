import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import { SsoCodeRejectedError, SsoProviderUnavailableError } from '../errors.js';

/** The fields of OpenID Connect Discovery 1.0 that the code flow uses. */
export interface OidcDiscovery {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  keys: JWTVerifyGetKey;
}

const TIMEOUT_MS = 5_000;
const DISCOVERY_TTL_MS = 3_600_000;
/** Google and Entra sign ID tokens with RS256; `none` and HMAC are never accepted. */
const ID_TOKEN_ALGORITHMS = ['RS256', 'PS256', 'ES256'];

const discovered = new Map<string, { at: number; discovery: OidcDiscovery }>();

/** Plain http only to loopback (tests, a local provider); a real provider is https. */
function endpoint(value: unknown, name: string): string {
  if (typeof value !== 'string') throw new SsoProviderUnavailableError(`discovery lacks ${name}`);
  const url = new URL(value);
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new SsoProviderUnavailableError(`${name} is not https`);
  }
  return value;
}

/**
 * The provider's discovery document, fetched from the issuer and cached for an hour. The
 * document must name exactly the configured issuer (Discovery §4.3): a document served for
 * another issuer would let its tokens pass the issuer check. The key set is jose's remote set:
 * fetched when needed, refetched (with a cooldown) when a token names a key it does not know,
 * which is how a provider's key rotation arrives.
 */
export async function discoverProvider(issuer: string, nowMs: number): Promise<OidcDiscovery> {
  const cached = discovered.get(issuer);
  if (cached && nowMs - cached.at < DISCOVERY_TTL_MS) return cached.discovery;
  let document: Record<string, unknown>;
  try {
    const response = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, {
      signal: AbortSignal.timeout(TIMEOUT_MS),
      headers: { accept: 'application/json' },
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    document = (await response.json()) as Record<string, unknown>;
  } catch (error) {
    throw new SsoProviderUnavailableError(
      `OpenID Connect discovery failed: ${error instanceof Error ? error.message : 'error'}`,
    );
  }
  if (document['issuer'] !== issuer) {
    throw new SsoProviderUnavailableError('the discovery document names another issuer');
  }
  const discovery: OidcDiscovery = {
    issuer,
    authorizationEndpoint: endpoint(document['authorization_endpoint'], 'authorization_endpoint'),
    tokenEndpoint: endpoint(document['token_endpoint'], 'token_endpoint'),
    keys: createRemoteJWKSet(new URL(endpoint(document['jwks_uri'], 'jwks_uri')), {
      timeoutDuration: TIMEOUT_MS,
    }),
  };
  discovered.set(issuer, { at: nowMs, discovery });
  return discovery;
}

export interface CodeExchange {
  clientId: string;
  clientSecret: string;
  code: string;
  redirectUri: string;
  codeVerifier: string;
}

/**
 * The token request of the code flow (client_secret_basic, PKCE verifier). `invalid_grant` is
 * the provider's word that the code is spent, expired, or that the verifier does not match.
 * Returns the raw ID token; nothing else of the answer is kept (no provider access token).
 */
export async function exchangeCode(
  discovery: OidcDiscovery,
  exchange: CodeExchange,
): Promise<string> {
  const basic = Buffer.from(
    `${encodeURIComponent(exchange.clientId)}:${encodeURIComponent(exchange.clientSecret)}`,
  ).toString('base64');
  let response: Response;
  try {
    response = await fetch(discovery.tokenEndpoint, {
      method: 'POST',
      signal: AbortSignal.timeout(TIMEOUT_MS),
      headers: {
        authorization: `Basic ${basic}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: exchange.code,
        redirect_uri: exchange.redirectUri,
        code_verifier: exchange.codeVerifier,
      }),
    });
  } catch (error) {
    throw new SsoProviderUnavailableError(
      `the token endpoint did not answer: ${error instanceof Error ? error.message : 'error'}`,
    );
  }
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) {
    const error = typeof body['error'] === 'string' ? body['error'] : `HTTP ${response.status}`;
    if (error === 'invalid_grant') throw new SsoCodeRejectedError();
    throw new SsoProviderUnavailableError(`the token endpoint refused the exchange: ${error}`);
  }
  const idToken = body['id_token'];
  if (typeof idToken !== 'string') {
    throw new SsoProviderUnavailableError('the token answer carries no id_token');
  }
  return idToken;
}

export interface IdTokenExpectation {
  issuer: string;
  clientId: string;
  nonce: string;
  nowMs: number;
}

export interface IdTokenIdentity {
  subject: string;
  email?: string;
  emailVerified: boolean;
}

export type IdTokenRefusal =
  | 'bad_signature'
  | 'unknown_key'
  | 'keys_unavailable'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'wrong_authorized_party'
  | 'expired'
  | 'not_yet_valid'
  | 'nonce_mismatch'
  | 'malformed';

export type IdTokenVerdict =
  { ok: true; identity: IdTokenIdentity } | { ok: false; reason: IdTokenRefusal };

const CLOCK_TOLERANCE_SECONDS = 60;

/**
 * OpenID Connect Core §3.1.3.7: signature by a key of the provider's set (asymmetric algorithms
 * only), `iss` = the configured issuer, `aud` holds our client id, `azp` = our client id when
 * present (and required when there are several audiences), `exp`/`iat` on the CA's clock, and
 * `nonce` = the one this CA put in the authorization request.
 */
export async function verifyIdToken(
  idToken: string,
  keys: JWTVerifyGetKey,
  expected: IdTokenExpectation,
): Promise<IdTokenVerdict> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, keys, {
      issuer: expected.issuer,
      audience: expected.clientId,
      algorithms: ID_TOKEN_ALGORITHMS,
      currentDate: new Date(expected.nowMs),
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['sub', 'exp', 'iat'],
    }));
  } catch (error) {
    return { ok: false, reason: refusalOf(error) };
  }
  const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  const azp = payload['azp'];
  if ((azp !== undefined || audiences.length > 1) && azp !== expected.clientId) {
    return { ok: false, reason: 'wrong_authorized_party' };
  }
  if (payload['nonce'] !== expected.nonce) return { ok: false, reason: 'nonce_mismatch' };
  const { sub } = payload;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 255) {
    return { ok: false, reason: 'malformed' };
  }
  const email = payload['email'];
  return {
    ok: true,
    identity: {
      subject: sub,
      ...(typeof email === 'string' && email.length <= 254 ? { email } : {}),
      // Google sends a boolean; some providers a string. Anything else is not verified.
      emailVerified: payload['email_verified'] === true || payload['email_verified'] === 'true',
    },
  };
}

function refusalOf(error: unknown): IdTokenRefusal {
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'iss') return 'wrong_issuer';
    if (error.claim === 'aud') return 'wrong_audience';
    if (error.claim === 'nbf' || error.claim === 'iat') return 'not_yet_valid';
    return 'malformed';
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad_signature';
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys)
    return 'unknown_key';
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid)
    return 'keys_unavailable';
  if (error instanceof TypeError) return 'keys_unavailable';
  return 'malformed';
}
