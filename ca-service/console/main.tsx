import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { SessionView, Tenant } from './api';
import { ApiError, SESSION_ENDED, api, useCsrfToken } from './api';
import { ErrorBox } from './components';
import type { ConsoleContext } from './context';
import { DevicePage, DevicesPage } from './pages/devices';
import { EnrollmentPage } from './pages/enrollment';
import { EventsPage } from './pages/events';
import { OverviewPage } from './pages/overview';
import { SignInPage } from './pages/sign-in';
import { TenantsPage } from './pages/tenants';
import { UserPage, UsersPage } from './pages/users';
import './styles.css';

const PAGES = [
  ['overview', 'Overview'],
  ['devices', 'Devices'],
  ['enrollment', 'Enrollment'],
  ['users', 'Users'],
  ['events', 'Events'],
] as const;

function useHashRoute(): string[] {
  const read = () => (location.hash.replace(/^#\/?/, '') || 'overview').split('/');
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = () => setRoute(read());
    addEventListener('hashchange', onChange);
    // Effects run after paint: a hash change between the first render and this line fired no
    // listener, and the page would stay on the old route.
    onChange();
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

function Page({ route, ctx }: { route: string[]; ctx: ConsoleContext }) {
  const [name, id] = route;
  if (name === 'tenants' && ctx.session.kind === 'api_key') return <TenantsPage ctx={ctx} />;
  if (ctx.tenant === undefined) {
    return (
      <section>
        <h1>No school yet</h1>
        <p>
          Create a school first on the <a href="#/tenants">Schools</a> page.
        </p>
      </section>
    );
  }
  if (name === 'devices' && id) return <DevicePage ctx={ctx} deviceId={id} />;
  if (name === 'devices') return <DevicesPage ctx={ctx} />;
  if (name === 'enrollment') return <EnrollmentPage ctx={ctx} />;
  if (name === 'users' && id) return <UserPage ctx={ctx} userId={id} />;
  if (name === 'users') return <UsersPage ctx={ctx} />;
  if (name === 'events') return <EventsPage ctx={ctx} userId={id} />;
  return <OverviewPage ctx={ctx} />;
}

function Console({ session, onSignOut }: { session: SessionView; onSignOut: () => void }) {
  const route = useHashRoute();
  const [tenants, setTenants] = useState<Tenant[]>([]);
  const [chosen, setChosen] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const refreshTenants = async (select?: string) => {
    const list = (await api<{ tenants: Tenant[] }>('GET', '/v1/admin/tenants')).tenants;
    setTenants(list);
    setChosen((current) => select ?? current ?? list[0]?.tenantId);
  };
  useEffect(() => {
    refreshTenants().catch(setError);
  }, []);
  const tenant = session.kind === 'user' ? (session.tenantId ?? undefined) : chosen;
  const current = tenants.find((t) => t.tenantId === tenant);
  const ctx: ConsoleContext = {
    session,
    tenant,
    tenantName: current?.name ?? '',
    tenantQuery: session.kind === 'api_key' ? tenant : undefined,
    refreshTenants,
  };
  const signOut = async () => {
    try {
      await api('DELETE', '/admin/session');
    } catch (failure) {
      // Already ended (timed out) is as good as signed out.
      if (!(failure instanceof ApiError && failure.status === 401)) return setError(failure);
    }
    onSignOut();
  };
  const pages = session.kind === 'api_key' ? [...PAGES, ['tenants', 'Schools'] as const] : PAGES;
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}
      >
        Skip to content
      </a>
      <header class="top">
        <p class="brand">
          <span aria-hidden="true">◆</span> Lantern <span class="muted">admin</span>
        </p>
        <nav aria-label="Main">
          <ul>
            {pages.map(([key, label]) => (
              <li key={key}>
                <a href={`#/${key}`} aria-current={route[0] === key ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          {session.kind === 'api_key' ? (
            <label>
              School{' '}
              <select
                value={tenant ?? ''}
                onChange={(e) => setChosen((e.target as HTMLSelectElement).value)}
              >
                {tenants.map((t) => (
                  <option key={t.tenantId} value={t.tenantId}>
                    {t.name}
                  </option>
                ))}
              </select>
            </label>
          ) : (
            <span>
              {session.username} · {current?.name}
            </span>
          )}
          <button type="button" class="secondary" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <ErrorBox error={error} />
        {/* A page starts afresh for another school; the schools page itself is not per school. */}
        <Page
          key={route[0] === 'tenants' ? 'tenants' : `${route.join('/')}|${tenant ?? ''}`}
          route={route}
          ctx={ctx}
        />
      </main>
    </>
  );
}

function App() {
  const [session, setSession] = useState<SessionView | null | undefined>(undefined);
  const [notice, setNotice] = useState('');
  useEffect(() => {
    api<SessionView>('GET', '/admin/session').then(
      (view) => (useCsrfToken(view.csrfToken), setSession(view)),
      () => setSession(null),
    );
    const onEnded = (event: Event) => {
      setNotice(String((event as CustomEvent<string | undefined>).detail ?? 'Sign in again.'));
      setSession(null);
    };
    addEventListener(SESSION_ENDED, onEnded);
    return () => removeEventListener(SESSION_ENDED, onEnded);
  }, []);
  if (session === undefined) return <p class="loading">Loading…</p>;
  if (session === null) {
    return (
      <SignInPage
        notice={notice}
        onSignedIn={(view) => {
          setNotice('');
          useCsrfToken(view.csrfToken);
          setSession(view);
        }}
      />
    );
  }
  return <Console session={session} onSignOut={() => setSession(null)} />;
}

const root = document.getElementById('app');
if (root) render(<App />, root);
