import type { CaCall } from './ca-call.js';
import { postWithDeviceProof } from './ca-call.js';
import type { OnlineSigninOutcome } from './online-signin.js';
import { acceptLoginAnswer, bindingToAskWith } from './online-signin.js';
import type { SigninAgent, SigninOptions } from './signin-agent.js';
import { DEFAULT_SIGNIN_TIMEOUT_MS } from './signin-agent.js';

/** What the person needs to finish a device's SSO sign-in in a browser. */
export interface SsoHandoffShown {
  authorizationUrl: string;
  /** To type on the CA's page after the provider's; absent from a CA that asks for none. */
  userCode?: string;
  /** The id that page names, so the person can see it is this device. */
  deviceId: string;
}

export interface SsoSigninInput {
  /** Tenant id or slug; the binding's tenant when absent. */
  tenant?: string;
  /**
   * Shows the person the provider's sign-in page (the CLI prints it; a shell opens it) and the
   * device's code, which the CA's page asks for after the provider's: it is what keeps a person
   * sent a hand-off link by someone else from signing that someone's device in.
   */
  open(handoff: SsoHandoffShown): void | Promise<void>;
  /**
   * The offline password the person chooses for this device: the device-side credential the
   * offline grant's `password` method is then checked against (docs/sso.md). Absent: this
   * sign-in is online only and the device keeps no grant for the user.
   */
  offlinePassword?: string;
  /** How long to wait for the browser part. Default 5 minutes. */
  waitMs?: number;
  pollIntervalMs?: number;
  /** Stops waiting (the sign-in page started another one, or closed): the call throws its reason. */
  signal?: AbortSignal;
}

const DEFAULT_WAIT_MS = 300_000;
const DEFAULT_POLL_MS = 2_000;

/**
 * Sign-in through the tenant's OpenID Connect provider from a device (docs/sso.md): the agent
 * starts a hand-off at the CA with its device proof, the person completes the provider's page in
 * a browser, and the agent redeems the hand-off with the same key. The CA's answer is a password
 * sign-in's (session, device-bound tokens, offline grant), stored by the same code. There is no
 * offline fallback: without the CA there is no provider either.
 */
export async function signInWithSso(
  agent: SigninAgent,
  input: SsoSigninInput,
  options: SigninOptions = {},
): Promise<OnlineSigninOutcome> {
  const asking = bindingToAskWith(agent);
  if ('refused' in asking) return asking.refused;
  const { binding, facts } = asking;
  const timeoutMs = options.caTimeoutMs ?? DEFAULT_SIGNIN_TIMEOUT_MS;
  const post = (url: string): Promise<CaCall> =>
    postWithDeviceProof(agent, facts.x5c, { url, body: '{}' }, timeoutMs);
  const refused = (call: Extract<CaCall, { kind: 'answered' }>): OnlineSigninOutcome => {
    const caCode = (call.body as { code?: unknown } | undefined)?.code;
    return {
      kind: 'answered',
      verdict: {
        ok: false,
        mode: 'online',
        code: 'ca_refused',
        caCode: typeof caCode === 'string' ? caCode : `http_${call.status}`,
      },
    };
  };

  const tenant = encodeURIComponent(input.tenant ?? facts.tenantId);
  const started = await post(`${facts.caUrl}/v1/sso/${tenant}/handoffs`);
  if (started.kind === 'unreachable') return started;
  if (started.status !== 201) return refused(started);
  const { handoffId, authorizationUrl, userCode } = started.body as {
    handoffId: string;
    authorizationUrl: string;
    userCode?: string;
  };
  input.signal?.throwIfAborted();
  await input.open({
    authorizationUrl,
    ...(typeof userCode === 'string' ? { userCode } : {}),
    deviceId: binding.deviceId,
  });

  const deadline = Date.now() + (input.waitMs ?? DEFAULT_WAIT_MS);
  const redeemUrl = `${facts.caUrl}/v1/sso/handoffs/${encodeURIComponent(handoffId)}`;
  for (;;) {
    input.signal?.throwIfAborted();
    const call = await post(redeemUrl);
    if (call.kind === 'answered' && call.status === 200) {
      input.signal?.throwIfAborted();
      return acceptLoginAnswer(agent, call.body, { secret: input.offlinePassword, options });
    }
    // A CA that is busy (429) or failing (5xx) has not decided: wait on, as for no answer.
    const pending =
      call.kind === 'unreachable' ||
      call.status === 429 ||
      call.status >= 500 ||
      (call.body as { code?: unknown } | undefined)?.code === 'sso_handoff_pending';
    if (!pending) return refused(call as Extract<CaCall, { kind: 'answered' }>);
    if (Date.now() >= deadline) {
      return call.kind === 'unreachable' ? call : refused(call);
    }
    await pause(input.pollIntervalMs ?? DEFAULT_POLL_MS, input.signal);
  }
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
