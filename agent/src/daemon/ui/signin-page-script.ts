/**
 * The page's script, inlined under the CSP nonce: no framework and no external file, so the
 * page works with no network at all. WebAuthn JSON travels as base64url strings; the browser
 * API wants ArrayBuffers, hence the two small converters (not every Chromium the shell may
 * embed has `PublicKeyCredential.parseCreationOptionsFromJSON`).
 */
export const SIGNIN_PAGE_SCRIPT = String.raw`
'use strict';
const $ = (id) => document.getElementById(id);
const config = JSON.parse($('config').textContent);
const messages = config.messages;
let session = null;
// What /v1/signin/methods said for the username typed (null: not asked yet).
let methods = null;

function fromB64url(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

function toB64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// body undefined: a GET.
async function api(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: body === undefined ? 'GET' : 'POST',
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw { code: 'agent_unreachable' };
  }
  let data = {};
  try {
    data = await response.json();
  } catch {
    data = {};
  }
  if (!response.ok) {
    // A refusal from the CA says which: show its words when the page has them.
    const caCode = data.details && data.details.caCode;
    const code = caCode && Object.hasOwn(messages, caCode) ? caCode : data.code || 'unknown';
    throw { code, message: data.message };
  }
  return data;
}

function setState(state) {
  document.body.dataset.state = state;
}

function showError(error) {
  const code = error && typeof error.code === 'string' ? error.code : 'unknown';
  const box = $('error');
  box.textContent = messages[code] || (error && error.message) || messages.unknown;
  box.dataset.code = code;
  box.hidden = false;
  setState('error');
}

function clearMessages() {
  const box = $('error');
  box.hidden = true;
  box.textContent = '';
  delete box.dataset.code;
  $('status').textContent = '';
}

function setBusy(busy) {
  for (const button of document.querySelectorAll('button')) button.disabled = busy;
  document.body.setAttribute('aria-busy', busy ? 'true' : 'false');
}

async function run(task) {
  clearMessages();
  setBusy(true);
  try {
    await task();
  } catch (error) {
    showError(error);
  } finally {
    setBusy(false);
  }
}

function signedIn(answer, username) {
  session = { ...answer, username: username || answer.username || answer.userId };
  $('signin-panel').hidden = true;
  $('signed-in').hidden = false;
  const until = new Date(answer.expiresAt).toLocaleTimeString(config.locale, { hour: '2-digit', minute: '2-digit' });
  const how = answer.mode === 'online' ? 'connected to the school network' : 'offline, on this device';
  $('who').textContent = 'You are signed in as ' + session.username + ' (' + how + ') until ' + until + '.';
  $('reauth-totp-step').hidden = !(methods && methods.secondFactor);
  $('heading').textContent = 'Signed in';
  setState('signed-in');
  $('heading').focus();
}

function showUsernameStep() {
  methods = null;
  $('password-step').hidden = true;
  $('totp-step').hidden = true;
  $('signin').textContent = 'Next';
  $('passkey-option').hidden = $('passkey-option').dataset.here !== 'true';
}

function showPasswordStep(found) {
  methods = found;
  $('password-step').hidden = false;
  $('totp-step').hidden = !found.secondFactor;
  $('signin').textContent = 'Sign in';
  $('passkey-option').hidden = !found.passkey;
  $('password').focus();
}

function signedOut(note) {
  session = null;
  $('signed-in').hidden = true;
  $('signin-panel').hidden = false;
  $('heading').textContent = 'Sign in';
  $('password').value = '';
  showUsernameStep();
  setState('idle');
  $('status').textContent = note;
  $('username').focus();
}

$('passkey-option').dataset.here = String(!$('passkey-option').hidden);

// Another name means other methods: ask again.
$('username').addEventListener('input', () => {
  if (methods) showUsernameStep();
});

$('signin-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const username = $('username').value.trim();
  if (!username) {
    clearMessages();
    showError({ code: 'missing_fields' });
    $('username').focus();
    return;
  }
  if (!methods) {
    void run(async () => {
      showPasswordStep(await api('/v1/signin/methods', { username }));
    });
    return;
  }
  const password = $('password').value;
  const totp = $('totp').value.trim();
  if (!password) {
    clearMessages();
    showError({ code: 'missing_fields' });
    $('password').focus();
    return;
  }
  void run(async () => {
    try {
      const body = totp ? { username, password, totp } : { username, password };
      signedIn(await api('/v1/signin', body), username);
    } catch (error) {
      // The CA's policy asked for a code this device did not know about.
      if (error && error.code === 'mfa_required') $('totp-step').hidden = false;
      throw error;
    } finally {
      $('password').value = '';
      $('totp').value = '';
    }
  }).then(() => {
    if (session) return;
    const code = $('error').dataset.code;
    if (code === 'mfa_required' || code === 'mfa_failed') $('totp').focus();
    else $('password').focus();
  });
});

$('passkey-signin').addEventListener('click', () => {
  void run(async () => {
    if (!window.PublicKeyCredential) throw { code: 'webauthn_unavailable' };
    const username = $('username').value.trim();
    const options = await api('/v1/passkeys/authenticate/options', username ? { username } : {});
    let credential;
    try {
      credential = await navigator.credentials.get({
        publicKey: {
          challenge: fromB64url(options.challenge),
          rpId: options.rpId,
          timeout: options.timeout,
          userVerification: options.userVerification,
          allowCredentials: (options.allowCredentials || []).map((item) => ({
            type: 'public-key',
            id: fromB64url(item.id),
            transports: item.transports,
          })),
        },
      });
    } catch (error) {
      throw { code: error && error.name === 'NotAllowedError' ? 'webauthn_cancelled' : 'webauthn_failed' };
    }
    const response = credential.response;
    const answer = await api('/v1/passkeys/authenticate/verify', {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {
        clientDataJSON: toB64url(response.clientDataJSON),
        authenticatorData: toB64url(response.authenticatorData),
        signature: toB64url(response.signature),
        userHandle: response.userHandle ? toB64url(response.userHandle) : undefined,
      },
    });
    signedIn(answer, answer.username);
  });
});

const CANCEL_REASONS = { NotAllowedError: 'not_allowed', AbortError: 'user_canceled', InvalidStateError: 'invalid_state' };

$('register-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const password = $('reauth-password').value;
  const totp = $('reauth-totp').value.trim();
  if (!password) {
    clearMessages();
    showError({ code: 'reauth_required' });
    $('reauth-password').focus();
    return;
  }
  void run(async () => {
    if (!session) return;
    if (!window.PublicKeyCredential) throw { code: 'webauthn_unavailable' };
    let options;
    try {
      const proof = totp ? { password, totp } : { password };
      options = await api('/v1/passkeys/register/options', { sessionToken: session.token, ...proof });
    } catch (error) {
      // The user's policy needs a code with the password: ask for it, next to the password.
      if (error && (error.code === 'mfa_required' || error.code === 'mfa_failed')) {
        $('reauth-totp-step').hidden = false;
      }
      throw error;
    } finally {
      $('reauth-password').value = '';
      $('reauth-totp').value = '';
    }
    let credential;
    try {
      credential = await navigator.credentials.create({
        publicKey: {
          ...options,
          challenge: fromB64url(options.challenge),
          user: { ...options.user, id: fromB64url(options.user.id) },
          excludeCredentials: (options.excludeCredentials || []).map((item) => ({
            type: 'public-key',
            id: fromB64url(item.id),
            transports: item.transports,
          })),
        },
      });
    } catch (error) {
      const reason = (error && CANCEL_REASONS[error.name]) || 'other';
      await api('/v1/passkeys/register/cancel', { challenge: options.challenge, reason }).catch(() => undefined);
      throw { code: 'registration_cancelled' };
    }
    const response = credential.response;
    await api('/v1/passkeys/register/verify', {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {
        clientDataJSON: toB64url(response.clientDataJSON),
        attestationObject: toB64url(response.attestationObject),
        transports: response.getTransports ? response.getTransports() : [],
      },
    });
    $('status').textContent = 'Passkey added. Next time you can sign in with it, even offline.';
  });
});

// The single sign-on waiting in the daemon: its id, and the timer of the next question.
let sso = null;

function closeSso() {
  if (sso) clearTimeout(sso.timer);
  sso = null;
  $('sso-panel').hidden = true;
  $('signin-panel').hidden = false;
}

function askSso(id) {
  sso.timer = setTimeout(() => {
    api('/v1/signin/sso/' + encodeURIComponent(id)).then(
      (answer) => {
        if (!sso || sso.id !== id) return;
        if (answer.state === 'pending') return askSso(id);
        closeSso();
        clearMessages();
        signedIn(answer, answer.username);
      },
      (error) => {
        if (!sso || sso.id !== id) return;
        closeSso();
        clearMessages();
        showError(error);
        $('sso-signin').focus();
      },
    );
  }, 2000);
}

$('sso-signin').addEventListener('click', () => {
  clearMessages();
  $('signin-panel').hidden = true;
  $('sso-panel').hidden = false;
  $('sso-form').hidden = false;
  $('sso-handoff').hidden = true;
  setState('sso');
  $('sso-offline-password').focus();
});

$('sso-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const offlinePassword = $('sso-offline-password').value;
  void run(async () => {
    let started;
    try {
      started = await api('/v1/signin/sso', offlinePassword ? { offlinePassword } : {});
    } catch (error) {
      // No single sign-on here, or no CA: back to the form that works offline too.
      closeSso();
      throw error;
    } finally {
      $('sso-offline-password').value = '';
    }
    // Only a web page may sit behind the link (the shell opens https: links in the browser).
    if (!/^https?:\/\//i.test(started.authorizationUrl)) {
      void api('/v1/signin/sso/' + encodeURIComponent(started.attemptId) + '/cancel', {}).catch(() => undefined);
      closeSso();
      throw { code: 'unknown' };
    }
    sso = { id: started.attemptId, timer: null };
    $('sso-form').hidden = true;
    $('sso-handoff').hidden = false;
    $('sso-link').href = started.authorizationUrl;
    $('sso-code').textContent = started.userCode || '';
    $('sso-device').textContent = started.deviceId;
    $('status').textContent = 'Waiting for you to finish on the school sign-in page.';
    setState('sso-waiting');
    $('sso-link').focus();
    askSso(started.attemptId);
  });
});

$('sso-cancel').addEventListener('click', () => {
  if (sso) void api('/v1/signin/sso/' + encodeURIComponent(sso.id) + '/cancel', {}).catch(() => undefined);
  closeSso();
  clearMessages();
  setState('idle');
  $('username').focus();
});

$('signout').addEventListener('click', () => {
  void run(async () => {
    if (session) await api('/v1/signout', { sessionId: session.sessionId });
    signedOut('You are signed out.');
  });
});
`;
