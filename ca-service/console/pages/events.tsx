import { useState } from 'preact/hooks';
import type { LanternEvent, User } from '../api';
import { api, withQuery } from '../api';
import { ErrorBox, PageTitle, download, formatTime, messageOf, useLoad } from '../components';
import type { ConsoleContext } from '../context';
import { toCsv } from '../csv';

interface Audit {
  chain: { ok: boolean; checked: number; headPosition: number; brokenAt?: number; reason?: string };
  lastCheckpoint: { position: number; time: string; verified: boolean; reason?: string } | null;
}

const AGGREGATES = [
  '',
  'user',
  'device',
  'session',
  'grant',
  'tenant',
  'enrollment_token',
  'api_key',
];
const FIELDS = ['type', 'aggregate', 'actor', 'device', 'from', 'to'] as const;
type Filters = Partial<Record<(typeof FIELDS)[number], string>>;

const PAGE = 200;

const isoOf = (local: string | undefined) =>
  local ? new Date(`${local}Z`).toISOString() : undefined;

function AuditStatus({ ctx }: { ctx: ConsoleContext }) {
  const { data, error } = useLoad(
    () => api<Audit>('GET', withQuery('/v1/admin/audit', { tenant: ctx.tenantQuery })),
    [],
  );
  return (
    <section class="card" aria-labelledby="audit-title">
      <h2 id="audit-title">Audit chain</h2>
      <ErrorBox error={error} />
      {data && (
        <dl class="details">
          <dt>Hash chain</dt>
          <dd class={data.chain.ok ? 'ok' : 'error'}>
            {data.chain.ok
              ? `Intact: ${data.chain.checked} events verified`
              : `Broken at position ${data.chain.brokenAt}: ${data.chain.reason}`}
          </dd>
          <dt>Last signed checkpoint</dt>
          <dd>
            {data.lastCheckpoint
              ? `Position ${data.lastCheckpoint.position}, signed ${formatTime(data.lastCheckpoint.time)} · ${
                  data.lastCheckpoint.verified
                    ? 'signature and hash verified'
                    : `does not verify: ${data.lastCheckpoint.reason}`
                }`
              : 'None signed yet'}
          </dd>
        </dl>
      )}
    </section>
  );
}

export function EventsPage({ ctx, userId }: { ctx: ConsoleContext; userId: string | undefined }) {
  const [filters, setFilters] = useState<Filters>({});
  const [exportError, setExportError] = useState<unknown>(undefined);
  const users = useLoad(
    () => api<{ users: User[] }>('GET', withQuery('/v1/admin/users', { tenant: ctx.tenantQuery })),
    [],
  );
  const query = {
    tenant: ctx.tenantQuery,
    type: filters.type,
    aggregate: filters.aggregate,
    actor: filters.actor,
    device: filters.device,
    from: isoOf(filters.from),
    to: isoOf(filters.to),
  };
  const [more, setMore] = useState<{ events: LanternEvent[]; next: number } | undefined>();
  const [moreError, setMoreError] = useState<unknown>(undefined);
  const { data: first, error } = useLoad(async () => {
    setMore(undefined);
    if (userId) {
      return api<{ events: LanternEvent[]; next: number }>(
        'GET',
        withQuery(`/v1/users/${userId}/timeline`, { tenant: ctx.tenantQuery, limit: PAGE }),
      );
    }
    return api<{ events: LanternEvent[]; next: number }>(
      'GET',
      withQuery('/v1/events', { ...query, limit: PAGE }),
    );
  }, [userId, JSON.stringify(filters)]);
  const data = first && [...first.events, ...(more?.events ?? [])];
  const next = more?.next ?? first?.next;
  const full = (more?.events.length ?? first?.events.length ?? 0) % PAGE === 0 && !!data?.length;
  const loadMore = async () => {
    setMoreError(undefined);
    try {
      const page = await api<{ events: LanternEvent[]; next: number }>(
        'GET',
        userId
          ? withQuery(`/v1/users/${userId}/timeline`, {
              tenant: ctx.tenantQuery,
              after: next,
              limit: PAGE,
            })
          : withQuery('/v1/events', { ...query, after: next, limit: PAGE }),
      );
      setMore({ events: [...(more?.events ?? []), ...page.events], next: page.next });
    } catch (failure) {
      setMoreError(failure);
    }
  };
  const submit = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const next: Filters = {};
    for (const field of FIELDS) {
      const value = String(form.get(field) ?? '').trim();
      if (value) next[field] = value;
    }
    setFilters(next);
  };
  const exportCsv = async () => {
    setExportError(undefined);
    try {
      const rows: (string | number)[][] = [
        [
          'position',
          'occurredAt',
          'eventType',
          'aggregateType',
          'aggregateId',
          'actorType',
          'actorId',
          'payload',
        ],
      ];
      let after = 0;
      for (;;) {
        const page = await api<{ events: LanternEvent[]; next: number }>(
          'GET',
          withQuery('/v1/events', { ...query, after, limit: 1000 }),
        );
        for (const e of page.events) {
          rows.push([
            e.position,
            e.occurredAt,
            e.eventType,
            e.aggregateType,
            e.aggregateId,
            e.actor.type,
            e.actor.id,
            JSON.stringify(e.payload),
          ]);
        }
        if (page.events.length < 1000) break;
        after = page.next;
      }
      download('events.csv', 'text/csv', toCsv(rows));
    } catch (failure) {
      setExportError(new Error(`The export failed: ${messageOf(failure)}`));
    }
  };
  const timelineUser = users.data?.users.find((u) => u.userId === userId);
  return (
    <section>
      <PageTitle>{userId ? `Timeline of ${timelineUser?.username ?? userId}` : 'Events'}</PageTitle>
      <AuditStatus ctx={ctx} />
      <label class="inline">
        Timeline of user{' '}
        <select
          value={userId ?? ''}
          onChange={(e) => {
            const id = (e.target as HTMLSelectElement).value;
            location.hash = id ? `#/events/${id}` : '#/events';
          }}
        >
          <option value="">All events</option>
          {(users.data?.users ?? []).map((u) => (
            <option key={u.userId} value={u.userId}>
              {u.username}
            </option>
          ))}
        </select>
      </label>
      {!userId && (
        <form class="filters" onSubmit={submit} aria-label="Event filters">
          <label>
            Event type
            <input name="type" placeholder="identity.user.login_failed" />
          </label>
          <label>
            Aggregate
            <select name="aggregate">
              {AGGREGATES.map((a) => (
                <option key={a} value={a}>
                  {a || 'Any'}
                </option>
              ))}
            </select>
          </label>
          <label>
            Actor id
            <input name="actor" />
          </label>
          <label>
            Device id
            <input name="device" pattern="dev_[0-9A-Z]{26}" />
          </label>
          <label>
            From (UTC)
            <input name="from" type="datetime-local" />
          </label>
          <label>
            To (UTC)
            <input name="to" type="datetime-local" />
          </label>
          <button type="submit">Apply filters</button>
        </form>
      )}
      <div class="actions">
        <a
          class="button secondary"
          href={withQuery('/v1/events/export', query)}
          download="events.ndjson"
        >
          Export NDJSON
        </a>
        <button type="button" class="secondary" onClick={exportCsv}>
          Export CSV
        </button>
      </div>
      <ErrorBox error={exportError ?? moreError ?? error} />
      <div class="scroll">
        <table>
          <caption>{data ? `${data.length} events` : 'Loading events'}</caption>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">When</th>
              <th scope="col">Event</th>
              <th scope="col">Subject</th>
              <th scope="col">Actor</th>
            </tr>
          </thead>
          <tbody>
            {(data ?? []).map((e) => (
              <tr key={e.eventId}>
                <td>{e.position}</td>
                <td>{formatTime(e.occurredAt)}</td>
                <td>
                  {e.eventType}
                  {e.quarantined && <span class="badge revoked">quarantined</span>}
                </td>
                <td>
                  <code class="small">{e.aggregateId}</code>
                </td>
                <td>
                  {e.actor.type} <code class="small">{e.actor.id}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {full && (
        <button type="button" class="secondary" onClick={loadMore}>
          Load {PAGE} more
        </button>
      )}
    </section>
  );
}
