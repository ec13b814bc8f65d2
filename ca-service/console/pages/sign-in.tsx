import { useRef, useState } from 'preact/hooks';
import type { SessionView } from '../api';
import { ApiError, api } from '../api';
import { ErrorBox } from '../components';

/**
 * One form for both kinds of admin: the installation admin pastes the API key `lantern-ca init`
 * printed; a school admin gives school, username, password and, per the MFA policy, a code.
 */
export function SignInPage(props: { notice: string; onSignedIn: (view: SessionView) => void }) {
  const { notice, onSignedIn } = props;
  const [error, setError] = useState<unknown>(undefined);
  const [needsCode, setNeedsCode] = useState(false);
  const [busy, setBusy] = useState(false);
  const codeRef = useRef<HTMLInputElement>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const value = (name: string) => String(form.get(name) ?? '').trim();
    const body = value('apiKey')
      ? { apiKey: value('apiKey') }
      : {
          tenant: value('tenant'),
          username: value('username'),
          password: String(form.get('password') ?? ''),
          ...(value('totp') ? { totp: value('totp') } : {}),
        };
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await api<SessionView>('POST', '/admin/session', body));
    } catch (failure) {
      if (failure instanceof ApiError && failure.code === 'mfa_required') {
        setNeedsCode(true);
        setTimeout(() => codeRef.current?.focus());
      }
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="signin">
      <p class="brand">
        <span aria-hidden="true">◆</span> Lantern <span class="muted">admin</span>
      </p>
      <h1>Sign in to the admin console</h1>
      <p role="status" class="notice">
        {notice}
      </p>
      <form onSubmit={submit} noValidate>
        <fieldset>
          <legend>Installation admin</legend>
          <label for="apiKey">API key</label>
          <input
            id="apiKey"
            name="apiKey"
            type="password"
            autocomplete="off"
            aria-describedby="apiKey-hint"
          />
          <p id="apiKey-hint" class="hint">
            The key <code>lantern-ca init</code> printed. Leave empty to sign in as a school admin.
          </p>
        </fieldset>
        <fieldset>
          <legend>School admin</legend>
          <label for="tenant">School</label>
          <input
            id="tenant"
            name="tenant"
            autocomplete="organization"
            aria-describedby="tenant-hint"
          />
          <p id="tenant-hint" class="hint">
            The school&apos;s short name (slug) or id.
          </p>
          <label for="username">Username</label>
          <input id="username" name="username" autocomplete="username" />
          <label for="password">Password</label>
          <input id="password" name="password" type="password" autocomplete="current-password" />
          <label for="totp">
            Authentication code{needsCode ? '' : ' (if your account has one)'}
          </label>
          <input
            id="totp"
            name="totp"
            ref={codeRef}
            inputMode="numeric"
            autocomplete="one-time-code"
            pattern="[0-9]*"
            aria-required={needsCode ? 'true' : undefined}
          />
        </fieldset>
        <ErrorBox error={error} />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}
