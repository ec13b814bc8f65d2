/**
 * Where the sign-in window may go (issue 23): the agent's own origin only, exactly (scheme,
 * host and port; `127.0.0.1` is another origin than `localhost`, and passkeys are bound to the
 * latter). Everything else — another local port, a web site, `file:`, `data:`, `javascript:` —
 * is refused, in the window and in any new window the page tries to open (an `https:` link
 * opens in the system browser instead).
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

  /**
   * For `setWindowOpenHandler`: no window opens inside the shell. The one link the page opens
   * (the school's sign-in page, for single sign-on) goes to the system browser, where the person
   * has their school account and password manager; only `https:` goes there, since handing the
   * system any other scheme (`file:`, `smb:`, an app's own) can run a program.
   */
  windowOpen(target: string): { action: 'deny'; openExternally?: string } {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return { action: 'deny' };
    }
    return url.protocol === 'https:' && url.username === '' && url.password === ''
      ? { action: 'deny', openExternally: url.href }
      : { action: 'deny' };
  }
}
