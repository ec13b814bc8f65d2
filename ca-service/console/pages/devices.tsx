import { useState } from 'preact/hooks';
import type { Device, DeviceActivity, LanternEvent } from '../api';
import { api, withQuery } from '../api';
import { ConfirmDialog, ErrorBox, PageTitle, formatTime, useLoad } from '../components';
import type { ConsoleContext } from '../context';

const REASONS = [
  ['lost', 'Lost'],
  ['stolen', 'Stolen'],
  ['compromised', 'Compromised (tampered with or key exposed)'],
  ['decommissioned', 'Decommissioned (retired)'],
  ['admin', 'Other admin decision'],
] as const;
const DAY = 86_400_000;

const deviceLabel = (device: Device) => device.name ?? device.deviceId;

/** Revocation with a reason, in a dialog that names the device so the wrong row is not revoked. */
function RevokeDialog(props: { device: Device; onDone: (revoked: boolean) => void }) {
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const label = deviceLabel(props.device);
  const submit = async (form: HTMLFormElement) => {
    const reason = new FormData(form).get('reason');
    setBusy(true);
    try {
      await api('POST', `/v1/admin/devices/${props.device.deviceId}/revoke`, { reason });
      props.onDone(true);
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  };
  return (
    <ConfirmDialog
      title={`Revoke ${label}?`}
      confirm="Revoke device"
      onCancel={() => props.onDone(false)}
      onConfirm={submit}
      busy={busy}
      error={error}
    >
      <p>
        <strong>{label}</strong> (<code>{props.device.deviceId}</code>) will stop signing anyone in
        as soon as it next syncs, and its certificate goes on the revocation list. This cannot be
        undone: the device must be enrolled again.
      </p>
      <label for="revoke-reason">Reason</label>
      <select id="revoke-reason" name="reason">
        {REASONS.map(([value, text]) => (
          <option key={value} value={value}>
            {text}
          </option>
        ))}
      </select>
    </ConfirmDialog>
  );
}

export function DevicesPage({ ctx }: { ctx: ConsoleContext }) {
  const { data, error, reload } = useLoad(async () => {
    const [list, activity] = await Promise.all([
      api<{ devices: Device[] }>(
        'GET',
        withQuery('/v1/admin/devices', { tenant: ctx.tenantQuery }),
      ),
      api<{ devices: DeviceActivity[] }>(
        'GET',
        withQuery('/v1/admin/device-activity', { tenant: ctx.tenantQuery }),
      ),
    ]);
    const byId = new Map(activity.devices.map((a) => [a.deviceId, a]));
    return list.devices.map((device) => ({ device, activity: byId.get(device.deviceId) }));
  }, []);
  const [search, setSearch] = useState('');
  const [status, setStatus] = useState('all');
  const [seen, setSeen] = useState('any');
  const [expiry, setExpiry] = useState('any');
  const [revoking, setRevoking] = useState<Device | undefined>(undefined);
  const [notice, setNotice] = useState('');
  const now = Date.now();
  const needle = search.trim().toLowerCase();
  const rows = (data ?? []).filter(({ device, activity }) => {
    if (status !== 'all' && device.status !== status) return false;
    const lastSeen = Date.parse(activity?.lastSeenAt ?? device.enrolledAt);
    if (seen !== 'any' && now - lastSeen < Number(seen) * DAY) return false;
    const expires = device.certExpiresAt ? Date.parse(device.certExpiresAt) : Infinity;
    if (expiry === 'expired' && expires > now) return false;
    if (expiry === 'soon' && (expires <= now || expires > now + 7 * DAY)) return false;
    if (!needle) return true;
    return [device.deviceId, device.name ?? '', ...(activity?.users ?? [])].some((text) =>
      text.toLowerCase().includes(needle),
    );
  });
  const select = (label: string, value: string, set: (v: string) => void, options: string[][]) => (
    <label>
      {label}
      <select value={value} onChange={(e) => set((e.target as HTMLSelectElement).value)}>
        {options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <section>
      <PageTitle>Devices</PageTitle>
      <ErrorBox error={error} />
      <div class="filters" role="search">
        <label>
          Search devices
          <input
            type="search"
            value={search}
            placeholder="Id, name or user"
            onInput={(e) => setSearch((e.target as HTMLInputElement).value)}
          />
        </label>
        {select('Status', status, setStatus, [
          ['all', 'All'],
          ['active', 'Active'],
          ['revoked', 'Revoked'],
        ])}
        {select('Last sync', seen, setSeen, [
          ['any', 'Any time'],
          ['1', 'Not for 1 day'],
          ['7', 'Not for 7 days'],
          ['30', 'Not for 30 days'],
        ])}
        {select('Certificate', expiry, setExpiry, [
          ['any', 'Any'],
          ['soon', 'Expires within 7 days'],
          ['expired', 'Expired'],
        ])}
      </div>
      <p role="status" class="ok">
        {notice}
      </p>
      <div class="scroll">
        <table>
          <caption>
            {rows.length} of {data?.length ?? 0} devices
          </caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">Users</th>
              <th scope="col">Last sync</th>
              <th scope="col">Certificate expires</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map(({ device, activity }) => (
              <tr key={device.deviceId}>
                <th scope="row">
                  <a href={`#/devices/${device.deviceId}`}>{device.name ?? 'Unnamed device'}</a>
                  <br />
                  <code class="small">{device.deviceId}</code>
                </th>
                <td>
                  <span class={`badge ${device.status}`}>{device.status}</span>
                </td>
                <td>{activity?.users.join(', ') || '—'}</td>
                <td>{formatTime(activity?.lastSeenAt)}</td>
                <td>{formatTime(device.certExpiresAt)}</td>
                <td>
                  <button
                    type="button"
                    class="danger small"
                    disabled={device.status !== 'active'}
                    onClick={() => setRevoking(device)}
                  >
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {revoking && (
        <RevokeDialog
          device={revoking}
          onDone={(revoked) => {
            if (revoked) {
              setNotice(`${deviceLabel(revoking)} was revoked.`);
              reload();
            }
            setRevoking(undefined);
          }}
        />
      )}
    </section>
  );
}

interface Certificate {
  serial: string;
  issuer: string;
  subject: string;
  notBefore: string;
  notAfter: string;
  fingerprint: string;
  current: boolean;
  revokedAt: string | null;
  revokeReason: string | null;
}

export function DevicePage({ ctx, deviceId }: { ctx: ConsoleContext; deviceId: string }) {
  const [revoking, setRevoking] = useState(false);
  const { data, error, reload } = useLoad(async () => {
    const tenant = ctx.tenantQuery;
    const [device, certs, activity, own, pushed] = await Promise.all([
      api<Device>('GET', `/v1/admin/devices/${deviceId}`),
      api<{ certificates: Certificate[] }>('GET', `/v1/admin/devices/${deviceId}/certificates`),
      api<{ devices: DeviceActivity[] }>('GET', withQuery('/v1/admin/device-activity', { tenant })),
      api<{ events: LanternEvent[] }>(
        'GET',
        withQuery('/v1/events', { tenant, aggregateId: deviceId, limit: 1000 }),
      ),
      api<{ events: LanternEvent[] }>(
        'GET',
        withQuery('/v1/events', { tenant, device: deviceId, limit: 1000 }),
      ),
    ]);
    const events = new Map([...own.events, ...pushed.events].map((e) => [e.position, e]));
    return {
      device,
      certificates: certs.certificates,
      activity: activity.devices.find((a) => a.deviceId === deviceId),
      events: [...events.values()].sort((a, b) => b.position - a.position).slice(0, 20),
    };
  }, [deviceId]);
  const current = data?.certificates.find((c) => c.current) ?? data?.certificates[0];
  return (
    <section>
      <p>
        <a href="#/devices">← All devices</a>
      </p>
      <PageTitle>{data ? (data.device.name ?? 'Unnamed device') : 'Device'}</PageTitle>
      <ErrorBox error={error} />
      {data && (
        <>
          <dl class="details">
            <dt>Device id</dt>
            <dd>
              <code>{data.device.deviceId}</code>
            </dd>
            <dt>Status</dt>
            <dd>
              <span class={`badge ${data.device.status}`}>{data.device.status}</span>
              {data.device.revokedAt &&
                ` since ${formatTime(data.device.revokedAt)} (${data.device.revokeReason})`}
            </dd>
            <dt>Key assurance</dt>
            <dd>{data.device.assurance}</dd>
            <dt>Enrolled</dt>
            <dd>{formatTime(data.device.enrolledAt)}</dd>
            <dt>Last sync</dt>
            <dd>{formatTime(data.activity?.lastSeenAt)}</dd>
            <dt>Users signed in here</dt>
            <dd>{data.activity?.users.join(', ') || '—'}</dd>
          </dl>
          {data.device.status === 'active' && (
            <button type="button" class="danger" onClick={() => setRevoking(true)}>
              Revoke
            </button>
          )}
          <h2>Certificate</h2>
          {current ? (
            <dl class="details">
              <dt>Serial</dt>
              <dd>
                <code>{current.serial}</code>
              </dd>
              <dt>Issuer</dt>
              <dd>{current.issuer}</dd>
              <dt>Subject</dt>
              <dd>{current.subject}</dd>
              <dt>Valid from</dt>
              <dd>{formatTime(current.notBefore)}</dd>
              <dt>Valid until</dt>
              <dd>{formatTime(current.notAfter)}</dd>
              <dt>SHA-256 fingerprint</dt>
              <dd>
                <code class="wrap">{current.fingerprint}</code>
              </dd>
            </dl>
          ) : (
            <p>No certificate issued yet.</p>
          )}
          <h2>Recent events</h2>
          <div class="scroll">
            <table>
              <caption>The 20 newest events of this device</caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Event</th>
                  <th scope="col">Actor</th>
                </tr>
              </thead>
              <tbody>
                {data.events.map((event) => (
                  <tr key={event.eventId}>
                    <td>{formatTime(event.occurredAt)}</td>
                    <td>{event.eventType}</td>
                    <td>
                      {event.actor.type} <code class="small">{event.actor.id}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      {revoking && data && (
        <RevokeDialog
          device={data.device}
          onDone={(revoked) => {
            setRevoking(false);
            if (revoked) reload();
          }}
        />
      )}
    </section>
  );
}
