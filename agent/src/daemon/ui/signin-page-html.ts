import { SIGNIN_PAGE_SCRIPT } from './signin-page-script.js';

export interface SigninPageContent {
  /** CSP nonce of this response, for the inline style and script. */
  nonce: string;
  /** People who can sign in offline here: suggestions for the user field. */
  usernames: readonly string[];
  messages: Record<string, string>;
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] ?? char);
/** JSON inside a script element: `<` escaped so no value can close the element. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

/**
 * Colours meet WCAG AA (text 4.5:1 and more, focus ring 3:1 against white); every control has
 * a visible label, the tab order follows the reading order, errors go to a `role="alert"`
 * region and progress notes to a polite live region.
 */
const STYLE = `
:root { color-scheme: light; font-family: system-ui, sans-serif; font-size: 112.5%; }
body { margin: 0; background: #f4f5f7; color: #1b1f24; line-height: 1.5; }
main { max-width: 26rem; margin: 2rem auto; padding: 1.5rem 1.75rem; background: #fff;
  border: 1px solid #c9ced6; border-radius: 0.75rem; }
h1 { font-size: 1.6rem; margin: 0 0 1rem; }
h2 { font-size: 1.25rem; margin: 0 0 0.5rem; }
label { display: block; font-weight: 600; margin-top: 1rem; }
.hint { font-weight: 400; color: #4a525c; }
input { box-sizing: border-box; width: 100%; margin-top: 0.25rem; padding: 0.6rem 0.7rem;
  font: inherit; color: inherit; background: #fff; border: 2px solid #5f6873; border-radius: 0.4rem; }
button { display: block; width: 100%; margin-top: 1.25rem; padding: 0.7rem; font: inherit;
  font-weight: 600; border-radius: 0.4rem; cursor: pointer; }
.primary { background: #0b4f8a; color: #fff; border: 2px solid #0b4f8a; }
.secondary { background: #fff; color: #0b4f8a; border: 2px solid #0b4f8a; }
button:disabled { opacity: 0.6; cursor: progress; }
input:focus-visible, button:focus-visible, h2:focus-visible { outline: 3px solid #b34700; outline-offset: 2px; }
.or { text-align: center; margin: 1.25rem 0 0; color: #4a525c; }
#error { margin: 0 0 1rem; padding: 0.75rem 1rem; background: #fdecea; color: #7a1212;
  border: 2px solid #b3261e; border-radius: 0.4rem; }
#status:empty { display: none; }
#status { margin: 0 0 1rem; padding: 0.75rem 1rem; background: #e8f3ec; color: #14532d;
  border: 2px solid #2e7d4f; border-radius: 0.4rem; }
[hidden] { display: none !important; }
`;

export function renderSigninPage(content: SigninPageContent): string {
  const nonce = escapeHtml(content.nonce);
  const options = content.usernames
    .map((username) => `<option value="${escapeHtml(username)}"></option>`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Lantern</title>
<link rel="icon" href="data:,">
<style nonce="${nonce}">${STYLE}</style>
</head>
<body data-state="idle">
<main>
  <h1>Sign in</h1>
  <div id="error" role="alert" hidden></div>
  <p id="status" role="status" aria-live="polite"></p>
  <section id="signin-panel" aria-label="Sign in">
    <form id="signin-form" novalidate>
      <label for="username">User name</label>
      <input id="username" name="username" list="known-users" autocomplete="username"
        autocapitalize="none" spellcheck="false" maxlength="64" required>
      <datalist id="known-users">${options}</datalist>
      <label for="password">Password or PIN</label>
      <input id="password" name="password" type="password" autocomplete="current-password"
        maxlength="1024" required>
      <label for="totp">Code from your authenticator app <span class="hint">(only if you use one)</span></label>
      <input id="totp" name="totp" inputmode="numeric" autocomplete="one-time-code" maxlength="10">
      <button type="submit" id="signin" class="primary">Sign in</button>
    </form>
    <p class="or">or</p>
    <button type="button" id="passkey-signin" class="secondary">Sign in with a passkey</button>
  </section>
  <section id="signed-in" hidden>
    <h2 id="signed-in-heading" tabindex="-1">Signed in</h2>
    <p id="who"></p>
    <button type="button" id="register-passkey" class="secondary">Register a passkey on this device</button>
    <button type="button" id="signout" class="primary">Sign out</button>
  </section>
</main>
<script type="application/json" id="messages">${scriptJson(content.messages)}</script>
<script nonce="${nonce}">${SIGNIN_PAGE_SCRIPT}</script>
</body>
</html>
`;
}
