import { useState } from 'preact/hooks';
import type { Tenant } from '../api';
import { api } from '../api';
import { ErrorBox, PageTitle, useLoad } from '../components';
import type { ConsoleContext } from '../context';

/** Schools (tenants): only the installation admin sees and creates them. */
export function TenantsPage({ ctx }: { ctx: ConsoleContext }) {
  const { data, error, reload } = useLoad(
    () => api<{ tenants: Tenant[] }>('GET', '/v1/admin/tenants'),
    [],
  );
  const [failure, setFailure] = useState<unknown>(undefined);
  const [created, setCreated] = useState<Tenant | undefined>(undefined);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const values = new FormData(form);
    const slug = String(values.get('slug') ?? '').trim();
    setFailure(undefined);
    try {
      const tenant = await api<Tenant>('POST', '/v1/admin/tenants', {
        name: String(values.get('name') ?? '').trim(),
        ...(slug ? { slug } : {}),
      });
      setCreated(tenant);
      form.reset();
      reload();
      await ctx.refreshTenants(tenant.tenantId);
    } catch (problem) {
      setFailure(problem);
    }
  };
  return (
    <section>
      <PageTitle>Schools</PageTitle>
      <ErrorBox error={error} />
      <form class="card" onSubmit={submit}>
        <h2>Create a school</h2>
        <label for="tenant-name">School name</label>
        <input id="tenant-name" name="name" required maxLength={200} />
        <label for="tenant-slug">Short name (optional)</label>
        <input id="tenant-slug" name="slug" aria-describedby="slug-hint" />
        <p id="slug-hint" class="hint">
          Lower-case letters, digits and dashes; school admins type it to sign in.
        </p>
        <ErrorBox error={failure} />
        <button type="submit">Create school</button>
        {created && (
          <p role="status" class="ok">
            Created {created.name} ({created.slug}).
          </p>
        )}
      </form>
      <table>
        <caption>All schools</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Short name</th>
            <th scope="col">Id</th>
          </tr>
        </thead>
        <tbody>
          {(data?.tenants ?? []).map((t) => (
            <tr key={t.tenantId}>
              <td>{t.name}</td>
              <td>{t.slug}</td>
              <td>
                <code>{t.tenantId}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
