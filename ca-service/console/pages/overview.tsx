import { useState } from 'preact/hooks';
import { api, withQuery } from '../api';
import { ErrorBox, PageTitle, useLoad } from '../components';
import type { ConsoleContext } from '../context';

interface Overview {
  devices: { enrolled: number; active: number; revoked: number };
  certificatesExpiringSoon: number;
  expiringWithinDays: number;
  notSeen: number;
  staleDays: number;
  outbox: {
    relayRunning: boolean;
    depth: number | null;
    lagSeconds: number | null;
    deadLetters: number;
  };
  failedSignInsLastHour: number;
}

function Stat(props: { label: string; value: string | number; warn?: boolean; href?: string }) {
  return (
    <div class={props.warn ? 'stat warn' : 'stat'}>
      <dt>{props.href ? <a href={props.href}>{props.label}</a> : props.label}</dt>
      <dd>{props.value}</dd>
    </div>
  );
}

export function OverviewPage({ ctx }: { ctx: ConsoleContext }) {
  const [staleDays, setStaleDays] = useState(7);
  const { data, error } = useLoad(
    () =>
      api<Overview>('GET', withQuery('/v1/admin/overview', { tenant: ctx.tenantQuery, staleDays })),
    [staleDays],
  );
  return (
    <section>
      <PageTitle>Overview · {ctx.tenantName}</PageTitle>
      <ErrorBox error={error} />
      <label class="inline">
        Not seen for{' '}
        <select
          value={staleDays}
          onChange={(e) => setStaleDays(Number((e.target as HTMLSelectElement).value))}
        >
          {[1, 3, 7, 14, 30].map((n) => (
            <option key={n} value={n}>
              {n} {n === 1 ? 'day' : 'days'}
            </option>
          ))}
        </select>
      </label>
      {data && (
        <>
          <h2>Devices</h2>
          <dl class="stats">
            <Stat label="Enrolled" value={data.devices.enrolled} href="#/devices" />
            <Stat label="Active" value={data.devices.active} />
            <Stat label="Revoked" value={data.devices.revoked} />
            <Stat
              label={`Certificates expiring within ${data.expiringWithinDays} days`}
              value={data.certificatesExpiringSoon}
              warn={data.certificatesExpiringSoon > 0}
            />
            <Stat
              label={`Not seen for ${data.staleDays} days`}
              value={data.notSeen}
              warn={data.notSeen > 0}
            />
          </dl>
          <h2>Service (whole installation)</h2>
          <dl class="stats">
            <Stat
              label="Outbox waiting"
              value={data.outbox.relayRunning ? `${data.outbox.depth} events` : 'relay not running'}
            />
            <Stat
              label="Outbox lag"
              value={
                data.outbox.lagSeconds === null ? '—' : `${Math.round(data.outbox.lagSeconds)} s`
              }
              warn={(data.outbox.lagSeconds ?? 0) > 60}
            />
            <Stat
              label="Dead letters"
              value={data.outbox.deadLetters}
              warn={data.outbox.deadLetters > 0}
            />
            <Stat
              label="Failed sign-ins in the last hour"
              value={data.failedSignInsLastHour}
              warn={data.failedSignInsLastHour > 0}
              href="#/events"
            />
          </dl>
        </>
      )}
    </section>
  );
}
