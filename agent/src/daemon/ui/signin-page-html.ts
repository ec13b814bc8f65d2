import type { Connectivity } from '../sync-state.js';
import { SIGNIN_PAGE_SCRIPT } from './signin-page-script.js';

/** What the page shows: only `signin` has a form, and only a page session gets it. */
export type PageView =
  | { kind: 'locked'; reason: 'no_session' | 'launch_used' }
  | { kind: 'not_enrolled' }
  | { kind: 'revoked'; at: number }
  | {
      kind: 'signin';
      /** People who can sign in offline here: suggestions for the user field. */
      usernames: readonly string[];
      /** Some passkey is registered on this device: offer passkey sign-in before a username. */
      passkeysHere: boolean;
      /** As the CA named them at enrollment; null in stores enrolled before it did. */
      schoolName: string | null;
      deviceName: string | null;
    };

export interface SigninPageContent {
  /** CSP nonce of this response, for the inline style and script. */
  nonce: string;
  view: PageView;
  connectivity: Connectivity;
  /** The device's locale, for every time the page shows. */
  locale: string;
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
main { max-width: 26rem; margin: 1rem; padding: 1.25rem; background: #fff;
  border: 1px solid #c9ced6; border-radius: 0.75rem; }
@media (min-width: 30rem) { main { margin: 2rem auto; padding: 1.5rem 1.75rem; } }
.device { margin: 0 0 1rem; color: #4a525c; }
.notice { margin: 0 0 1rem; padding: 0.75rem 1rem; background: #fff4e5; color: #5c3200;
  border: 2px solid #b35c00; border-radius: 0.4rem; }
h1 { font-size: 1.6rem; margin: 0 0 0.5rem; }
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
input:focus-visible, button:focus-visible, h1:focus-visible { outline: 3px solid #b34700; outline-offset: 2px; }
.or { text-align: center; margin: 1.25rem 0 0; color: #4a525c; }
.code { font-size: 1.8rem; font-weight: 700; letter-spacing: 0.15em; text-align: center;
  margin: 0.5rem 0; font-family: ui-monospace, monospace; }
a { color: #0b4f8a; font-weight: 600; }
a:focus-visible { outline: 3px solid #b34700; outline-offset: 2px; }
#error { margin: 0 0 1rem; padding: 0.75rem 1rem; background: #fdecea; color: #7a1212;
  border: 2px solid #b3261e; border-radius: 0.4rem; }
#status:empty { display: none; }
#status { margin: 0 0 1rem; padding: 0.75rem 1rem; background: #e8f3ec; color: #14532d;
  border: 2px solid #2e7d4f; border-radius: 0.4rem; }
[hidden] { display: none !important; }
`;

const CONNECTIVITY: Record<Connectivity, string> = {
  online: 'Connected to the school network.',
  offline: 'Offline: you can sign in if you have signed in on this device before.',
  unknown: '',
};

function frame(content: SigninPageContent, state: string, body: string, script: string): string {
  const nonce = escapeHtml(content.nonce);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Lantern</title>
<link rel="icon" href="data:,">
<style nonce="${nonce}">${STYLE}</style>
</head>
<body data-state="${state}">
<main>
${body}
</main>
${script}
</body>
</html>
`;
}

/** No form, no script and nothing about the device's users: the page only says what to do. */
function lockedPage(content: SigninPageContent, reason: 'no_session' | 'launch_used'): string {
  const first =
    reason === 'launch_used'
      ? 'This sign-in link was already used or is too old. Each link opens the page once.'
      : 'Open the sign-in page from the Lantern app on this device.';
  return frame(
    content,
    'locked',
    `  <h1>Sign in</h1>
  <p class="notice" id="locked" role="alert">${first}</p>
  <p>On a computer without the app, use the link that <code>lantern-agent serve</code> printed
  when it started, or get a new one with <code>lantern-agent page</code>.</p>`,
    '',
  );
}

export function renderSigninPage(content: SigninPageContent): string {
  const { view } = content;
  if (view.kind === 'locked') return lockedPage(content, view.reason);
  const connection = CONNECTIVITY[content.connectivity];
  const device = `  <p class="device" id="connection" data-connectivity="${content.connectivity}">${connection}</p>`;
  if (view.kind === 'not_enrolled') {
    return frame(
      content,
      'not-enrolled',
      `  <h1>Sign in</h1>
  <p class="notice" id="device-state" role="alert">This device is not set up for Lantern yet. Ask your teacher to set it up.</p>`,
      '',
    );
  }
  if (view.kind === 'revoked') {
    const when = new Intl.DateTimeFormat(content.locale, {
      dateStyle: 'long',
      timeStyle: 'short',
    }).format(view.at);
    return frame(
      content,
      'revoked',
      `  <h1>This device is switched off</h1>
  <p class="notice" id="device-state" role="alert">Your school took this device out of Lantern on ${escapeHtml(when)}. Nobody can sign in on it. Give it back to your teacher.</p>`,
      '',
    );
  }
  const nonce = escapeHtml(content.nonce);
  // Text from the CA: escaped like everything else on the page.
  const names = [
    view.schoolName === null ? '' : `School: ${escapeHtml(view.schoolName)}`,
    view.deviceName === null ? '' : `Device: ${escapeHtml(view.deviceName)}`,
  ].filter((part) => part !== '');
  const named =
    names.length === 0 ? '' : `  <p class="device" id="device-names">${names.join(' · ')}</p>\n`;
  const options = view.usernames
    .map((username) => `<option value="${escapeHtml(username)}"></option>`)
    .join('');
  const config = { messages: content.messages, locale: content.locale };
  return frame(
    content,
    'idle',
    `  <h1 id="heading" tabindex="-1">Sign in</h1>
${named}${device}
  <div id="error" role="alert" hidden></div>
  <p id="status" role="status" aria-live="polite"></p>
  <section id="signin-panel" aria-label="Sign in">
    <form id="signin-form" novalidate>
      <label for="username">User name</label>
      <input id="username" name="username" list="known-users" autocomplete="username"
        autocapitalize="none" spellcheck="false" maxlength="64" required>
      <datalist id="known-users">${options}</datalist>
      <div id="password-step" hidden>
        <label for="password">Password or PIN</label>
        <input id="password" name="password" type="password" autocomplete="current-password"
          maxlength="1024" required>
        <div id="totp-step" hidden>
          <label for="totp">Code from your authenticator app</label>
          <input id="totp" name="totp" inputmode="numeric" autocomplete="one-time-code" maxlength="10">
        </div>
      </div>
      <button type="submit" id="signin" class="primary">Next</button>
    </form>
    <div id="passkey-option"${view.passkeysHere ? '' : ' hidden'}>
      <p class="or">or</p>
      <button type="button" id="passkey-signin" class="secondary">Sign in with a passkey</button>
    </div>
    <p class="or">or</p>
    <button type="button" id="sso-signin" class="secondary">Sign in with your school account</button>
  </section>
  <section id="sso-panel" aria-label="Sign in with your school account" hidden>
    <form id="sso-form" novalidate>
      <label for="sso-offline-password">Choose a password or PIN for this device
        <span class="hint">(to sign in here when offline; leave it empty to sign in only while connected)</span></label>
      <input id="sso-offline-password" type="password" autocomplete="new-password" maxlength="1024">
      <button type="submit" id="sso-start" class="primary">Continue</button>
    </form>
    <div id="sso-handoff" hidden>
      <p>1. <a id="sso-link" href="#" target="_blank" rel="noopener noreferrer">Open your school's sign-in page</a> and sign in there.</p>
      <p>2. When that page asks for this device's code, type:</p>
      <p id="sso-code" class="code"></p>
      <p class="hint">The page names this device: <span id="sso-device"></span>. Type the code only for a sign-in you started here yourself, never for a link someone sent you.</p>
    </div>
    <button type="button" id="sso-cancel" class="secondary">Back</button>
  </section>
  <section id="signed-in" hidden>
    <p id="who"></p>
    <form id="register-form" novalidate>
      <label for="reauth-password">Your password or PIN again <span class="hint">(to add a passkey)</span></label>
      <input id="reauth-password" type="password" autocomplete="current-password" maxlength="1024">
      <div id="reauth-totp-step" hidden>
        <label for="reauth-totp">Code from your authenticator app</label>
        <input id="reauth-totp" inputmode="numeric" autocomplete="one-time-code" maxlength="10">
      </div>
      <button type="submit" id="register-passkey" class="secondary">Register a passkey on this device</button>
    </form>
    <button type="button" id="signout" class="primary">Sign out</button>
  </section>`,
    `<script type="application/json" id="config">${scriptJson(config)}</script>
<script nonce="${nonce}">${SIGNIN_PAGE_SCRIPT}</script>`,
  );
}
