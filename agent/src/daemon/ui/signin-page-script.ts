/**
 * The page's script, inlined under the CSP nonce: no framework and no external file, so the
 * page works with no network at all. WebAuthn JSON travels as base64url strings; the browser
 * API wants ArrayBuffers, hence the two small converters (not every Chromium the shell may
 * embed has `PublicKeyCredential.parseCreationOptionsFromJSON`).
 */
export const SIGNIN_PAGE_SCRIPT = String.raw`
'use strict';
const $ = (id) => document.getElementById(id);
const messages = JSON.parse($('messages').textContent);
let session = null;

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

async function api(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
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
  if (!response.ok) throw { code: data.code || 'unknown', message: data.message };
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
  session = answer;
  $('signin-panel').hidden = true;
  $('signed-in').hidden = false;
  const until = new Date(answer.expiresAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const how = answer.mode === 'online' ? 'connected to the school network' : 'offline, on this device';
  $('who').textContent = 'You are signed in as ' + (username || answer.username || answer.userId) +
    ' (' + how + ') until ' + until + '.';
  setState('signed-in');
  $('signed-in-heading').focus();
}

function signedOut(note) {
  session = null;
  $('signed-in').hidden = true;
  $('signin-panel').hidden = false;
  setState('idle');
  $('status').textContent = note;
  $('username').focus();
}

$('signin-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const username = $('username').value.trim();
  const password = $('password').value;
  const totp = $('totp').value.trim();
  if (!username || !password) {
    clearMessages();
    showError({ code: 'missing_fields' });
    (username ? $('password') : $('username')).focus();
    return;
  }
  void run(async () => {
    try {
      const body = totp ? { username, password, totp } : { username, password };
      signedIn(await api('/v1/signin', body), username);
    } finally {
      $('password').value = '';
      $('totp').value = '';
    }
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

$('register-passkey').addEventListener('click', () => {
  void run(async () => {
    if (!session) return;
    if (!window.PublicKeyCredential) throw { code: 'webauthn_unavailable' };
    const options = await api('/v1/passkeys/register/options', { sessionToken: session.token });
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

$('signout').addEventListener('click', () => {
  void run(async () => {
    if (session) await api('/v1/signout', { sessionId: session.sessionId });
    signedOut('You are signed out.');
  });
});
`;
