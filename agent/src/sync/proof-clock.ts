import type { TrustedTime } from '../time/trusted-time.js';

/**
 * The time a device proof claims. A device clock that drifted while offline makes every proof
 * look stale or early to the CA (`device_proof_expired`); its answer's Date header then gives
 * the offset to claim instead. That header is unsigned, so it only ever sets the iat we claim
 * in a proof (the CA checks that itself): trusted time moves on signed server time alone.
 */
export class ProofClock {
  private skewMs = 0;

  constructor(private readonly trustedTime: Pick<TrustedTime, 'trustedNow'>) {}

  /** The `iat` for the next proof, in epoch seconds. */
  nowSeconds(): number {
    return Math.floor((this.trustedTime.trustedNow() + this.skewMs) / 1000);
  }

  /**
   * After a refusal: true when it was a stale proof and the CA said what time it is, so one
   * more try with a fresh proof can succeed. Callers retry at most once per request, so a CA
   * that keeps refusing (or lies in its Date header) cannot make them loop.
   */
  learn(caCode: string | undefined, dateHeader: string | null): boolean {
    if (caCode !== 'device_proof_expired' || dateHeader === null) return false;
    const serverMs = Date.parse(dateHeader);
    if (Number.isNaN(serverMs)) return false;
    this.skewMs = serverMs - this.trustedTime.trustedNow();
    return true;
  }
}
