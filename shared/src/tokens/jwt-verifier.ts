import { KeyObject, verify } from 'node:crypto';
import type { JwtKeySet } from './jwk-set.js';
import { keyAlgorithm } from './key-algorithm.js';
import type { JwsAlgorithm, JwsHeader, VerifiedJwtClaims } from './jwt-types.js';
import { decodeJsonObjectSegment } from './strict-json.js';
import { UnusableKeyError } from '../errors/errors.js';

/** Stable: callers map these to their own reason codes, logs and metrics key on them. */
export type JwtRejectReason =
  | 'malformed'
  | 'alg_not_allowed'
  | 'header_not_allowed'
  | 'wrong_type'
  | 'missing_kid'
  | 'unknown_kid'
  | 'bad_signature'
  | 'missing_claim'
  | 'expired'
  | 'not_yet_valid'
  | 'issued_in_future'
  | 'wrong_issuer'
  | 'wrong_audience';

export type JwtVerdict =
  /** `header` is frozen: it may be shared by every verdict for tokens with the same header. */
  | { ok: true; header: Readonly<JwsHeader>; claims: VerifiedJwtClaims }
  /** `detail` is always one of our own fixed strings, never text taken from the token. */
  | { ok: false; reason: JwtRejectReason; detail?: string };

export interface JwtVerifierOptions {
  /**
   * A key set (every token must name its key by `kid`), or the one key a token must be signed
   * with, e.g. a device key taken from an `x5c` chain that has already been validated.
   */
  keys: JwtKeySet | KeyObject;
  /** Default: ES256 only. */
  algorithms?: readonly JwsAlgorithm[];
  issuer?: string | readonly string[];
  /** The token passes when its `aud` (string or array) names at least one of these. */
  audience?: string | readonly string[];
  /** Compared as RFC 7515 §4.1.9 says: case-insensitive, `application/` prefix optional. */
  typ?: string;
  requiredClaims?: readonly string[];
  /** Allowed clock difference for `exp`, `nbf` and `iat`. Default 60 s. */
  clockToleranceSeconds?: number;
  /** Longer input is refused before it is decoded. Default 16 KiB. */
  maxTokenLength?: number;
  /**
   * Accept only tokens whose protected header is exactly this segment, refusing any other as
   * `header_not_allowed` (detail `header`). For a key that came from that header's own `x5c`:
   * the header is then matched by its bytes and decoded once, not per token.
   */
  header?: string;
}

export interface JwtVerifier {
  /** Never throws on any token, whatever its type or content; `now` is in epoch seconds. */
  verify(token: unknown, now: number): JwtVerdict;
}

interface VerificationKey {
  key: KeyObject;
  alg: JwsAlgorithm;
}

interface AcceptedHeader {
  header: Readonly<JwsHeader>;
  key: VerificationKey;
}

interface PinnedHeader {
  segment: string;
  /** The segment and its dot, as the signing input starts. */
  bytes: Buffer;
  accepted?: AcceptedHeader | JwtVerdict;
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
// What follows a header already known to be in the alphabet: claims and signature segments.
const AFTER_HEADER = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const SEGMENT = /^[A-Za-z0-9_-]+$/;
const DOT = 0x2e;
// Header parameters that tell a verifier where to fetch or find its key, or that it must
// understand an extension: honouring any of them hands key choice to whoever wrote the token.
const REFUSED_HEADER_PARAMETERS = ['crit', 'jku', 'x5u', 'jwk'] as const;
const SIGNATURE_BYTES = 64;
const STRING_CLAIMS = ['iss', 'sub', 'jti'] as const;
// Tokens from one issuer share a handful of headers; decoding one per token would cost as much
// as everything else the verifier does besides the signature.
const HEADER_CACHE_SIZE = 64;
// Anything above this is milliseconds passed where seconds were meant (year 5138 in seconds).
const MAX_NOW_SECONDS = 1e11;

const reject = (reason: JwtRejectReason, detail?: string): JwtVerdict =>
  detail === undefined ? { ok: false, reason } : { ok: false, reason, detail };

// Signing inputs are written here rather than into a fresh Buffer per token: with ~2 KB x5c
// headers the allocation cost more than the copy. verify() is synchronous, so one suffices.
let scratch = Buffer.allocUnsafe(0);

/**
 * The first `end` characters of `token` as bytes, or null when they are not all ASCII (UTF-8
 * then takes more bytes than characters): a byte comparison must never match a string that a
 * string comparison would not.
 */
function asciiPrefix(token: string, end: number): Buffer | null {
  if (scratch.length < 3 * end) scratch = Buffer.allocUnsafe(Math.max(3 * end, 3 * 4096));
  const written = scratch.write(token.slice(0, end), 0, 'utf8');
  return written === end ? scratch.subarray(0, end) : null;
}

/**
 * A strict compact-JWS/JWT verifier whose cost is one `crypto.verify`: keys are imported and
 * bound to their algorithm once, here, and the per-token path does no key parsing, no async hop
 * and no copying beyond the three segments.
 */
export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  const algorithms = options.algorithms ?? ['ES256'];
  const tolerance = options.clockToleranceSeconds ?? 60;
  const maxLength = options.maxTokenLength ?? 16 * 1024;
  const issuers = toList(options.issuer);
  const audiences = toList(options.audience);
  const requiredClaims = options.requiredClaims ?? [];
  const expectedType = options.typ === undefined ? undefined : normaliseType(options.typ);
  const singleKey = options.keys instanceof KeyObject ? bindKey(options.keys, algorithms) : null;
  const pinned: PinnedHeader | null =
    options.header === undefined
      ? null
      : { segment: options.header, bytes: Buffer.from(`${options.header}.`, 'latin1') };
  const keySet = new Map<string, VerificationKey>();
  // Filled only after a signature verified, so forged headers cannot push real ones out.
  const acceptedHeaders = new Map<string, AcceptedHeader>();
  if (!(options.keys instanceof KeyObject)) {
    for (const [kid, key] of options.keys) keySet.set(kid, bindKey(key, algorithms));
  }

  function verifyToken(token: unknown, now: number): JwtVerdict {
    if (typeof token !== 'string' || token.length > maxLength) return reject('malformed');
    if (pinned !== null) return verifyPinned(token, pinned, now);
    const firstDot = token.indexOf('.');
    if (firstDot < 1) return reject('malformed');
    const headerSegment = token.slice(0, firstDot);
    const cached = acceptedHeaders.get(headerSegment);
    // A cached header passed the alphabet check when it was accepted.
    if (
      cached === undefined
        ? !COMPACT_JWS.test(token)
        : !AFTER_HEADER.test(token.slice(firstDot + 1))
    )
      return reject('malformed');
    const accepted = cached ?? acceptHeader(headerSegment);
    if (!('key' in accepted)) return accepted;
    const secondDot = token.lastIndexOf('.');
    const signingInput = asciiPrefix(token, secondDot);
    if (signingInput === null) return reject('malformed');
    const verdict = verifySignedToken(token, signingInput, accepted);
    if (verdict !== null) return verdict;
    if (cached === undefined) {
      if (acceptedHeaders.size >= HEADER_CACHE_SIZE) acceptedHeaders.clear();
      acceptedHeaders.set(headerSegment, accepted);
    }
    return checkClaimsSegment(token, firstDot, secondDot, accepted.header, now);
  }

  function verifyPinned(token: string, pin: PinnedHeader, now: number): JwtVerdict {
    const headerLength = pin.segment.length;
    if (token.charCodeAt(headerLength) !== DOT) return reject('header_not_allowed', 'header');
    if (!AFTER_HEADER.test(token.slice(headerLength + 1))) return reject('malformed');
    const secondDot = token.lastIndexOf('.');
    const signingInput = asciiPrefix(token, secondDot);
    if (
      signingInput === null ||
      signingInput.compare(pin.bytes, 0, headerLength + 1, 0, headerLength + 1) !== 0
    ) {
      return reject('header_not_allowed', 'header');
    }
    pin.accepted ??= SEGMENT.test(pin.segment) ? acceptHeader(pin.segment) : reject('malformed');
    const accepted = pin.accepted;
    if (!('key' in accepted)) return accepted;
    return (
      verifySignedToken(token, signingInput, accepted) ??
      checkClaimsSegment(token, headerLength, secondDot, accepted.header, now)
    );
  }

  /** Null when the signature over `signingInput` verifies with the header's key. */
  function verifySignedToken(
    token: string,
    signingInput: Buffer,
    accepted: AcceptedHeader,
  ): JwtVerdict | null {
    const encodedSignature = token.slice(signingInput.length + 1);
    const signature = Buffer.from(encodedSignature, 'base64url');
    // Re-encoding catches the spare bits of the last character: without it one signature has
    // several spellings, and a token could be replayed under a string no cache has seen.
    if (
      signature.length !== SIGNATURE_BYTES ||
      signature.toString('base64url') !== encodedSignature
    ) {
      return reject('bad_signature');
    }
    const { key } = accepted;
    const valid =
      key.alg === 'ES256'
        ? verify('sha256', signingInput, { key: key.key, dsaEncoding: 'ieee-p1363' }, signature)
        : verify(null, signingInput, key.key, signature);
    return valid ? null : reject('bad_signature');
  }

  function checkClaimsSegment(
    token: string,
    firstDot: number,
    secondDot: number,
    header: Readonly<JwsHeader>,
    now: number,
  ): JwtVerdict {
    const claims = decodeJsonObjectSegment(token.slice(firstDot + 1, secondDot));
    if (claims === null) return reject('malformed', 'claims');
    return checkClaims(header, claims, now);
  }

  function acceptHeader(segment: string): AcceptedHeader | JwtVerdict {
    const header = decodeJsonObjectSegment(segment);
    if (header === null) return reject('malformed', 'header');
    const alg = header['alg'];
    if (typeof alg !== 'string' || !(algorithms as readonly string[]).includes(alg)) {
      return reject('alg_not_allowed');
    }
    for (const parameter of REFUSED_HEADER_PARAMETERS) {
      if (Object.hasOwn(header, parameter)) return reject('header_not_allowed', parameter);
    }
    const headerShape = checkHeaderShape(header);
    if (headerShape !== null) return reject('malformed', headerShape);
    if (expectedType !== undefined) {
      const typ = header['typ'];
      if (typeof typ !== 'string' || normaliseType(typ) !== expectedType) {
        return reject('wrong_type');
      }
    }
    let key = singleKey;
    if (key === null) {
      const kid = header['kid'];
      if (kid === undefined) return reject('missing_kid');
      key = keySet.get(kid as string) ?? null;
      if (key === null) return reject('unknown_kid');
    }
    if (key.alg !== alg) return reject('alg_not_allowed', 'key is for another alg');
    if (Array.isArray(header['x5c'])) Object.freeze(header['x5c']);
    return { header: Object.freeze(header as JwsHeader), key };
  }

  function checkClaims(
    header: Readonly<JwsHeader>,
    claims: Record<string, unknown>,
    now: number,
  ): JwtVerdict {
    const { exp, nbf, iat, iss, aud } = claims;
    if (exp === undefined) return reject('missing_claim', 'exp');
    if (!isNumericDate(exp)) return reject('malformed', 'exp');
    if (nbf !== undefined && !isNumericDate(nbf)) return reject('malformed', 'nbf');
    if (iat !== undefined && !isNumericDate(iat)) return reject('malformed', 'iat');
    for (const name of STRING_CLAIMS) {
      if (claims[name] !== undefined && typeof claims[name] !== 'string') {
        return reject('malformed', name);
      }
    }
    if (aud !== undefined && typeof aud !== 'string' && !isStringArray(aud)) {
      return reject('malformed', 'aud');
    }
    if (now >= exp + tolerance) return reject('expired');
    if (nbf !== undefined && (nbf as number) > now + tolerance) return reject('not_yet_valid');
    if (iat !== undefined && (iat as number) > now + tolerance) return reject('issued_in_future');
    if (issuers !== null) {
      if (iss === undefined) return reject('missing_claim', 'iss');
      if (!issuers.includes(iss as string)) return reject('wrong_issuer');
    }
    if (audiences !== null) {
      if (aud === undefined) return reject('missing_claim', 'aud');
      const named = typeof aud === 'string' ? [aud] : (aud as string[]);
      if (!named.some((audience) => audiences.includes(audience))) return reject('wrong_audience');
    }
    for (const name of requiredClaims) {
      if (claims[name] === undefined) return reject('missing_claim', name);
    }
    return { ok: true, header, claims: claims as VerifiedJwtClaims };
  }

  return {
    verify(token, now) {
      if (!Number.isFinite(now) || now > MAX_NOW_SECONDS) {
        throw new RangeError('verify() takes the current time in epoch seconds');
      }
      try {
        return verifyToken(token, now);
      } catch {
        // Every known bad shape is rejected above; this keeps a missed one a rejection too.
        return reject('malformed');
      }
    },
  };
}

function bindKey(key: KeyObject, algorithms: readonly JwsAlgorithm[]): VerificationKey {
  const alg = keyAlgorithm(key);
  if (key.type !== 'public' || alg === null || !algorithms.includes(alg)) {
    throw new UnusableKeyError(
      `Verification keys are public keys for ${algorithms.join(' or ')}; got a ${key.type} ${key.asymmetricKeyType ?? 'secret'} key.`,
    );
  }
  return { key, alg };
}

/** The header members the verifier or its callers read must have the types they assume. */
function checkHeaderShape(header: Record<string, unknown>): string | null {
  for (const name of ['kid', 'typ', 'cty'] as const) {
    if (header[name] !== undefined && typeof header[name] !== 'string') return name;
  }
  const x5c = header['x5c'];
  if (x5c !== undefined && !(isStringArray(x5c) && x5c.length > 0)) return 'x5c';
  return null;
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function normaliseType(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}

function toList(value: string | readonly string[] | undefined): readonly string[] | null {
  if (value === undefined) return null;
  return typeof value === 'string' ? [value] : value;
}
