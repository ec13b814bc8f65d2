import { randomBytes, timingSafeEqual } from 'node:crypto';
import { sha256 } from '@lantern/shared';

export const UI_COOKIE = 'lantern_ui';

/**
 * The sign-in page's credential: a random token per daemon run, handed out as an HttpOnly,
 * SameSite=Strict cookie when `/` is served, so the page's own API calls need no secret in
 * its script. Script on the page cannot read it, and another site's page cannot make the
 * browser send it. Other local apps keep using the per-install secret.
 */
export class UiSession {
  private readonly token = randomBytes(32).toString('base64url');
  private readonly digest = sha256(this.token);

  /** The `Set-Cookie` value; no Max-Age, so it ends with the browser session. */
  setCookieHeader(): string {
    return `${UI_COOKIE}=${this.token}; Path=/; HttpOnly; SameSite=Strict`;
  }

  /** Whether a `Cookie` header carries this run's token. Constant time, as for the secret. */
  presentedIn(cookieHeader: string | undefined): boolean {
    if (cookieHeader === undefined) return false;
    for (const part of cookieHeader.split(';')) {
      const [name, value] = part.trim().split('=', 2);
      if (
        name === UI_COOKIE &&
        value !== undefined &&
        timingSafeEqual(sha256(value), this.digest)
      ) {
        return true;
      }
    }
    return false;
  }
}
