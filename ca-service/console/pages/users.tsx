import { useState } from 'preact/hooks';
import type { User } from '../api';
import { api, withQuery } from '../api';
import {
  ConfirmDialog,
  ErrorBox,
  PageTitle,
  formatTime,
  generateSecret,
  messageOf,
  useLoad,
} from '../components';
import type { ConsoleContext } from '../context';
import { parseRoster } from '../csv';

interface Issued {
  username: string;
  displayName: string;
  role: string;
  secret: string;
  outcome: string;
}

/** Generated passwords and PINs, shown once, printable as a sheet to hand out. */
function CredentialSheet({ issued, school }: { issued: Issued[]; school: string }) {
  return (
    <section class="sheet" aria-labelledby="credentials-title">
      <div class="sheet-head">
        <h2 id="credentials-title">New sign-in details for {school}</h2>
        <button type="button" class="secondary no-print" onClick={() => print()}>
          Print credentials
        </button>
      </div>
      <p class="hint no-print">
        Shown once only: print or copy them now. The CA stores only a hash.
      </p>
      <table>
        <caption>Accounts created</caption>
        <thead>
          <tr>
            <th scope="col">Username</th>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">Password or PIN</th>
            <th scope="col">Result</th>
          </tr>
        </thead>
        <tbody>
          {issued.map((row) => (
            <tr key={row.username}>
              <td>{row.username}</td>
              <td>{row.displayName}</td>
              <td>{row.role}</td>
              <td>
                <code class="secret">{row.outcome === 'created' ? row.secret : '—'}</code>
              </td>
              <td>{row.outcome}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function UsersPage({ ctx }: { ctx: ConsoleContext }) {
  const users = useLoad(
    () => api<{ users: User[] }>('GET', withQuery('/v1/admin/users', { tenant: ctx.tenantQuery })),
    [],
  );
  const [issued, setIssued] = useState<Issued[]>([]);
  const [error, setError] = useState<unknown>(undefined);
  const [roster, setRoster] = useState('');
  const [busy, setBusy] = useState(false);
  const [filter, setFilter] = useState('');

  const createAll = async (
    rows: { username: string; displayName: string; role: string; secret?: string }[],
  ) => {
    setBusy(true);
    setError(undefined);
    const results: Issued[] = [];
    for (const row of rows) {
      const secret = row.secret || generateSecret(row.role);
      try {
        await api('POST', '/v1/admin/users', {
          ...(ctx.tenantQuery ? { tenant: ctx.tenantQuery } : {}),
          username: row.username,
          role: row.role,
          password: secret,
          ...(row.displayName ? { displayName: row.displayName } : {}),
        });
        results.push({ ...row, secret, outcome: 'created' });
      } catch (failure) {
        results.push({ ...row, secret: '', outcome: messageOf(failure) });
      }
    }
    setIssued(results);
    setBusy(false);
    users.reload();
  };

  const createOne = async (event: Event) => {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const values = new FormData(form);
    await createAll([
      {
        username: String(values.get('username') ?? '').trim(),
        displayName: String(values.get('displayName') ?? '').trim(),
        role: String(values.get('role') ?? 'learner'),
        secret: String(values.get('secret') ?? ''),
      },
    ]);
    form.reset();
  };

  const importRoster = async (event: Event) => {
    event.preventDefault();
    const { rows, problems } = parseRoster(roster);
    if (problems.length > 0 || rows.length === 0) {
      setError(new Error(problems.join(' ') || 'The roster has no rows.'));
      return;
    }
    await createAll(rows);
    setRoster('');
  };

  const readFile = async (event: Event) => {
    const file = (event.target as HTMLInputElement).files?.[0];
    if (file) setRoster(await file.text());
  };

  const needle = filter.trim().toLowerCase();
  const shown = (users.data?.users ?? []).filter(
    (u) =>
      !needle ||
      u.username.toLowerCase().includes(needle) ||
      (u.displayName ?? '').toLowerCase().includes(needle),
  );
  return (
    <section>
      <PageTitle>Users</PageTitle>
      <ErrorBox error={users.error} />
      <div class="two no-print">
        <form class="card" onSubmit={createOne}>
          <h2>Add one user</h2>
          <label for="new-username">New username</label>
          <input id="new-username" name="username" required autocomplete="off" />
          <label for="new-display">Display name</label>
          <input id="new-display" name="displayName" autocomplete="off" />
          <label for="new-role">Role</label>
          <select id="new-role" name="role">
            <option value="learner">Learner</option>
            <option value="teacher">Teacher</option>
            <option value="admin">Admin</option>
          </select>
          <label for="new-secret">Password or PIN (leave empty to generate one)</label>
          <input id="new-secret" name="secret" type="password" autocomplete="new-password" />
          <button type="submit" disabled={busy}>
            Add user
          </button>
        </form>
        <form class="card" onSubmit={importRoster}>
          <h2>Import a class roster</h2>
          <p class="hint" id="roster-hint">
            CSV with one line per person: <code>username,display name,role</code>. Learners get a
            6-digit PIN, teachers and admins a password.
          </p>
          <label for="roster-file">Roster CSV file</label>
          <input id="roster-file" type="file" accept=".csv,text/csv" onChange={readFile} />
          <label for="roster-text">Roster CSV</label>
          <textarea
            id="roster-text"
            rows={5}
            aria-describedby="roster-hint"
            value={roster}
            onInput={(e) => setRoster((e.target as HTMLTextAreaElement).value)}
          />
          <button type="submit" disabled={busy || roster.trim() === ''}>
            Import roster
          </button>
        </form>
      </div>
      <ErrorBox error={error} />
      {issued.length > 0 && <CredentialSheet issued={issued} school={ctx.tenantName} />}
      <div class="no-print">
        <label class="inline">
          Filter users{' '}
          <input
            type="search"
            value={filter}
            onInput={(e) => setFilter((e.target as HTMLInputElement).value)}
          />
        </label>
        <div class="scroll">
          <table>
            <caption>
              {shown.length} users of {ctx.tenantName}
            </caption>
            <thead>
              <tr>
                <th scope="col">Username</th>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((u) => (
                <tr key={u.userId}>
                  <th scope="row">
                    <a href={`#/users/${u.userId}`}>{u.username}</a>
                  </th>
                  <td>{u.displayName ?? '—'}</td>
                  <td>{u.role}</td>
                  <td>
                    <span class={`badge ${u.status}`}>{u.status}</span>
                    {u.lockedUntil && Date.parse(u.lockedUntil) > Date.now() && (
                      <span class="badge revoked">locked</span>
                    )}
                  </td>
                  <td>{formatTime(u.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
    </section>
  );
}

interface MfaView {
  totp?: 'active' | 'none';
  passkeys?: { credentialId: string; deviceId: string | null; enrolledAt: string }[];
}

export function UserPage({ ctx, userId }: { ctx: ConsoleContext; userId: string }) {
  const { data, error, reload } = useLoad(async () => {
    const [user, mfa] = await Promise.all([
      api<User>('GET', `/v1/admin/users/${userId}`),
      api<MfaView>('GET', `/v1/admin/users/${userId}/mfa`).catch(() => ({}) as MfaView),
    ]);
    return { user, mfa };
  }, [userId]);
  const [failure, setFailure] = useState<unknown>(undefined);
  const [notice, setNotice] = useState('');
  const [confirmErase, setConfirmErase] = useState(false);
  const [newSecret, setNewSecret] = useState('');
  const act = async (what: string, method: string, path: string, body: unknown = {}) => {
    setFailure(undefined);
    setNotice('');
    try {
      await api(method, path, body);
      setNotice(what);
      reload();
      return true;
    } catch (problem) {
      setFailure(problem);
      return false;
    }
  };
  const user = data?.user;
  const locked = user?.lockedUntil ? Date.parse(user.lockedUntil) > Date.now() : false;
  const base = `/v1/admin/users/${userId}`;
  const resetPassword = async () => {
    if (!user) return;
    const secret = generateSecret(user.role);
    if (await act('Password reset.', 'POST', `${base}/password`, { password: secret }))
      setNewSecret(secret);
  };
  return (
    <section>
      <p>
        <a href="#/users">← All users</a>
      </p>
      <PageTitle>{user ? user.username : 'User'}</PageTitle>
      <ErrorBox error={error} />
      {user && (
        <>
          <dl class="details">
            <dt>School</dt>
            <dd>{ctx.tenantName}</dd>
            <dt>Name</dt>
            <dd>{user.displayName ?? '—'}</dd>
            <dt>Role</dt>
            <dd>{user.role}</dd>
            <dt>Status</dt>
            <dd>
              {user.status}
              {locked && ` · locked until ${formatTime(user.lockedUntil)}`}
            </dd>
            <dt>Authenticator app (TOTP)</dt>
            <dd>{data?.mfa.totp === 'active' ? 'set up' : 'none'}</dd>
            <dt>Passkeys</dt>
            <dd>{data?.mfa.passkeys?.length ?? 0}</dd>
          </dl>
          <p>
            <a href={`#/events/${user.userId}`}>Timeline of {user.username}</a>
          </p>
          <ErrorBox error={failure} />
          <p role="status" class="ok">
            {notice}
          </p>
          {newSecret && (
            <p class="card">
              New {user.role === 'learner' ? 'PIN' : 'password'} (shown once):{' '}
              <code class="secret">{newSecret}</code>
            </p>
          )}
          <div class="actions wrap-actions">
            {locked ? (
              <button type="button" onClick={() => act('Unlocked.', 'POST', `${base}/unlock`)}>
                Unlock
              </button>
            ) : (
              <button
                type="button"
                class="secondary"
                onClick={() => act('Locked.', 'POST', `${base}/lock`)}
              >
                Lock
              </button>
            )}
            {user.status === 'suspended' ? (
              <button
                type="button"
                onClick={() => act('Reactivated.', 'POST', `${base}/reactivate`)}
              >
                Reactivate
              </button>
            ) : (
              <button
                type="button"
                class="secondary"
                onClick={() => act('Suspended.', 'POST', `${base}/suspend`)}
              >
                Suspend
              </button>
            )}
            <button type="button" class="secondary" onClick={resetPassword}>
              Reset password
            </button>
            <button
              type="button"
              class="secondary"
              onClick={() => act('Authenticator app removed.', 'POST', `${base}/mfa/reset`)}
            >
              Remove authenticator app
            </button>
            {(data?.mfa.passkeys ?? []).map((credential) => (
              <button
                key={credential.credentialId}
                type="button"
                class="secondary"
                onClick={() =>
                  act(
                    'Passkey removed.',
                    'DELETE',
                    `${base}/mfa/webauthn/${credential.credentialId}`,
                    undefined,
                  )
                }
              >
                Remove passkey {credential.credentialId.slice(0, 8)}
              </button>
            ))}
            <button
              type="button"
              class="secondary"
              onClick={() => act('Sessions ended.', 'POST', `${base}/sessions/revoke`)}
            >
              End sessions
            </button>
            <button type="button" class="danger" onClick={() => setConfirmErase(true)}>
              Erase
            </button>
          </div>
          {confirmErase && (
            <ConfirmDialog
              title={`Erase ${user.username}?`}
              confirm="Erase user"
              onCancel={() => setConfirmErase(false)}
              onConfirm={async () => {
                setConfirmErase(false);
                if (await act('Erased.', 'POST', `${base}/erase`)) location.hash = '#/users';
              }}
            >
              <p>
                Erasing deletes {user.username}&apos;s name, email and credentials for good, ends
                every session and offline grant on every device, and frees nothing else: the event
                history stays, with the personal data removed. This is the answer to a deletion
                request; it cannot be undone.
              </p>
            </ConfirmDialog>
          )}
        </>
      )}
    </section>
  );
}
