/** Where the mailed links lead (reset, verification, invitation): tiny pages that post the fragment's token to the API. */
export const SELF_SERVICE_PAGES = {
  reset: '/account/reset-password',
  verify: '/account/verify-email',
  accept: '/account/accept-invitation',
} as const;

export const SELF_SERVICE_CSP =
  "default-src 'none'; script-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

const SCRIPT_PATH = '/account/self-service.js';

// The token is read from the fragment and the fragment cleared at once, so it is not left in
// the address bar or the history.
const SOURCE = `const fragment = new URLSearchParams(location.hash.slice(1));
const token = fragment.get('token') || '';
const tenant = fragment.get('tenant') || '';
history.replaceState(null, '', location.pathname);
const out = document.getElementById('out');
const post = async (path, body) => {
  const answer = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = await answer.json();
  out.textContent = answer.ok ? 'Done.' : json.message;
};
const form = document.getElementById('reset');
const accept = document.getElementById('accept');
if (form) {
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void post('/v1/self-service/password-reset/complete', { token, password: document.getElementById('password').value });
  });
} else if (accept) {
  accept.addEventListener('submit', (e) => {
    e.preventDefault();
    void post('/v1/invitations/accept', { tenant, token, username: document.getElementById('username').value, password: document.getElementById('password').value });
  });
} else {
  void post('/v1/self-service/email-verification/confirm', { token });
}
`;

function page(path: string): string {
  const body =
    path === SELF_SERVICE_PAGES.reset
      ? `<h1>Choose a new password</h1>
<form id="reset"><label>New password <input id="password" type="password" autocomplete="new-password" required></label>
<button type="submit">Set password</button></form>`
      : path === SELF_SERVICE_PAGES.accept
        ? `<h1>Accept your invitation</h1>
<form id="accept"><label>Username <input id="username" autocomplete="username" required></label>
<label>Password <input id="password" type="password" autocomplete="new-password" required></label>
<button type="submit">Join</button></form>`
        : '<h1>Confirming your email address…</h1>';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Lantern</title>
<meta name="viewport" content="width=device-width"></head><body>${body}<p id="out" role="status"></p>
<script type="module" src="${SCRIPT_PATH}"></script></body></html>`;
}

export const SELF_SERVICE_SCRIPT = { path: SCRIPT_PATH, source: SOURCE, page };
