import { LanternError, withDeadline } from '@lantern/shared';
import { CaUnreachableError, EnrollmentFailedError } from '../errors.js';

export const DEFAULT_CA_TIMEOUT_MS = 30_000;
const ERROR_CODE = /^[a-z][a-z0-9_]{0,63}$/;

export interface EnrollRequestBody {
  enrollmentToken: string;
  csr: string;
  name?: string;
  /** The tier this agent's key store claims; the CA records `software` unless attested. */
  keyAssurance?: 'software' | 'hardware';
  /** TPM attestation evidence (hardware tier); see `attestTpm`. */
  tpmAttestation?: {
    challenge: string;
    secret: string;
    devicePublic: string;
    certifyInfo: string;
    signature: string;
  };
}

export interface TpmChallengeAnswer {
  challenge: string;
  credential: string;
}

/**
 * The CA base URL in the form stored in the binding (no trailing slash), or null when it is
 * not an http(s) URL. A path is kept, for a CA behind a reverse proxy; credentials, a query or
 * a fragment are refused because every request URL is built by appending to it.
 */
export function parseCaUrl(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  const usable =
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    url.username === '' &&
    url.password === '' &&
    url.search === '' &&
    url.hash === '';
  return usable ? url.href.replace(/\/+$/, '') : null;
}

/**
 * The few CA calls enrollment makes. Failures come back in two kinds the caller can act on:
 * `ca_unreachable` when no HTTP answer arrived (retry later, nothing happened at the CA), and
 * the CA's own `{ code, message }` as a LanternError when it refused.
 */
export class CaClient {
  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = DEFAULT_CA_TIMEOUT_MS,
  ) {}

  /** The root certificate PEM the CA serves, fetched to check a pin before the token is sent. */
  async rootPem(): Promise<string> {
    const { status, text } = await this.request('GET', '/v1/ca/root');
    if (status !== 200) throw this.refusal(status, text);
    return text;
  }

  /** The parsed 201 body; its shape is for the caller to check. */
  async enroll(body: EnrollRequestBody): Promise<unknown> {
    const { status, text } = await this.request('POST', '/v1/devices/enroll', body);
    if (status !== 201) throw this.refusal(status, text);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new EnrollmentFailedError(
        'the CA answered the enrollment with a body that is not JSON',
      );
    }
  }

  /** `POST /v1/devices/attestation/challenge`: a credential only the EK's TPM can release. */
  async tpmChallenge(body: {
    enrollmentToken: string;
    ekCertificate: string;
    akPublic: string;
  }): Promise<TpmChallengeAnswer> {
    const { status, text } = await this.request('POST', '/v1/devices/attestation/challenge', body);
    if (status !== 200) throw this.refusal(status, text);
    const parsed = JSON.parse(text) as Partial<TpmChallengeAnswer>;
    if (typeof parsed.challenge !== 'string' || typeof parsed.credential !== 'string') {
      throw new EnrollmentFailedError('the CA answered the attestation challenge without one');
    }
    return { challenge: parsed.challenge, credential: parsed.credential };
  }

  /**
   * `GET /v1/ca/jwks.jws`: the token keys as the issuing CA signed them, for the caller to verify.
   * Anything but such an answer is an empty string, which verifies as nothing.
   */
  async signedJwks(): Promise<{ jwks: string; jwksEtag: unknown }> {
    const { status, text } = await this.request('GET', '/v1/ca/jwks.jws');
    let parsed: unknown;
    try {
      parsed = status === 200 ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    const { jwks, jwksEtag } = (parsed ?? {}) as Record<string, unknown>;
    return { jwks: typeof jwks === 'string' ? jwks : '', jwksEtag };
  }

  private async request(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ): Promise<{ status: number; text: string }> {
    const url = `${this.baseUrl}${path}`;
    try {
      return await withDeadline(this.timeoutMs, async (signal) => {
        const response = await fetch(url, {
          method,
          redirect: 'error',
          signal,
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return { status: response.status, text: await response.text() };
      });
    } catch (error) {
      throw new CaUnreachableError(`cannot reach the CA at ${url}: ${describe(error)}`, {
        cause: error,
      });
    }
  }

  private refusal(status: number, text: string): LanternError {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const { code, message } = (parsed ?? {}) as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && ERROR_CODE.test(code)) {
      return new LanternError(
        code,
        status,
        typeof message === 'string' ? message : `the CA refused with ${code}`,
      );
    }
    return new EnrollmentFailedError(
      `the CA at ${this.baseUrl} answered HTTP ${status} without a Lantern error code`,
    );
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'TimeoutError') return 'no answer in time';
  const cause = error.cause instanceof Error ? error.cause.message : undefined;
  return cause ?? error.message;
}
