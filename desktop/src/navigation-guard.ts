/**
 * Where the sign-in window may go (issue 23): the agent's own origin only, exactly (scheme,
 * host and port; `127.0.0.1` is another origin than `localhost`, and passkeys are bound to the
 * latter). Everything else — another local port, a web site, `file:`, `data:`, `javascript:` —
 * is refused, in the window and in any new window the page tries to open.
 */
export class NavigationGuard {
  private readonly origin: string;

  constructor(agentOrigin: string) {
    const parsed = new URL(agentOrigin);
    if (parsed.protocol !== 'http:' || parsed.hostname !== 'localhost') {
      throw new Error(`the agent origin must be http://localhost:PORT, not ${agentOrigin}`);
    }
    this.origin = parsed.origin;
  }

  /** For `will-navigate`, `will-redirect` and `will-frame-navigate`. */
  allows(target: string): boolean {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return false;
    }
    return url.origin === this.origin && url.username === '' && url.password === '';
  }

  /** For `setWindowOpenHandler`: the page has no reason to open a window, so none opens. */
  windowOpen(): { action: 'deny' } {
    return { action: 'deny' };
  }
}
