import { DEVICE_PROOF_HEADER, createDeviceProof, withDeadline } from '@lantern/shared';
import type { SigninAgent } from './signin-agent.js';
export type CaCall =
  /**
   * An HTTP answer; `body` is the parsed JSON, or undefined when it was not JSON. `date` is the
   * unsigned Date header: good for a proof's iat, never for trusted time.
   */
  | { kind: 'answered'; status: number; body: unknown; date: string | null }
  /** No HTTP answer: refused connection, DNS, TLS, a redirect, or no answer in time. */
  | { kind: 'unreachable'; detail: string };

export interface CaRequest {
  method: 'GET' | 'POST';
  /** Sent as is: a device proof signs these exact bytes. */
  body?: string;
  headers?: Record<string, string>;
}

/** One call to the CA that never throws for network trouble, so callers can fall back. */
export async function callCa(url: string, request: CaRequest, timeoutMs: number): Promise<CaCall> {
  let response: Response;
  let text: string;
  try {
    [response, text] = await withDeadline(timeoutMs, async (signal) => {
      const answer = await fetch(url, {
        method: request.method,
        redirect: 'error',
        signal,
        headers: {
          ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...request.headers,
        },
        ...(request.body === undefined ? {} : { body: request.body }),
      });
      return [answer, await answer.text()] as const;
    });
  } catch (error) {
    return { kind: 'unreachable', detail: describe(error) };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { kind: 'answered', status: response.status, body, date: response.headers.get('date') };
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'TimeoutError') return 'no answer in time';
  return error.cause instanceof Error ? error.cause.message : error.message;
}

/**
 * A POST the CA checks against the device's key: a fresh device proof over these exact bytes,
 * dated by the agent's proof clock (which has learned the CA's clock, see `ProofClock`).
 */
export function postWithDeviceProof(
  agent: Pick<SigninAgent, 'deviceKey' | 'proofClock'>,
  x5c: readonly string[],
  call: { url: string; body: string; headers?: Record<string, string> },
  timeoutMs: number,
): Promise<CaCall> {
  const proof = createDeviceProof({
    method: 'POST',
    url: call.url,
    body: call.body,
    x5c: [...x5c],
    nowSeconds: agent.proofClock.nowSeconds(),
    sign: (data) => agent.deviceKey.sign(data),
  });
  return callCa(
    call.url,
    {
      method: 'POST',
      body: call.body,
      headers: { ...call.headers, [DEVICE_PROOF_HEADER]: proof },
    },
    timeoutMs,
  );
}
