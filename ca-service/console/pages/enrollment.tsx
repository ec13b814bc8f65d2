import { useState } from 'preact/hooks';
import { api, withQuery } from '../api';
import { ErrorBox, PageTitle, QrCode, formatTime, useLoad } from '../components';
import type { ConsoleContext } from '../context';

interface CreatedToken {
  tokenId: string;
  token: string;
  expiresAt: string;
  deviceName?: string;
}

interface TokenRow {
  tokenId: string;
  deviceName: string | null;
  expiresAt: string;
  status: string;
}

/**
 * What the agent reads from the QR code (`lantern-agent enroll --qr FILE`, or its own page): the
 * CA's URL, the one-time token and the root fingerprint it pins.
 */
export function enrollmentUri(caUrl: string, token: string, rootFingerprint: string): string {
  return `lantern-enroll:?ca=${encodeURIComponent(caUrl)}&token=${encodeURIComponent(token)}&fp=${rootFingerprint}`;
}

const TTLS = [
  [3600, '1 hour'],
  [8 * 3600, '8 hours (a school day)'],
  [86_400, '1 day'],
  [7 * 86_400, '7 days'],
] as const;

export function EnrollmentPage({ ctx }: { ctx: ConsoleContext }) {
  const [created, setCreated] = useState<CreatedToken[]>([]);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const existing = useLoad(
    () =>
      api<{ tokens: TokenRow[] }>(
        'GET',
        withQuery('/v1/admin/enrollment-tokens', { tenant: ctx.tenantQuery }),
      ),
    [],
  );
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const count = Math.max(1, Math.min(100, Number(form.get('count')) || 1));
    const prefix = String(form.get('prefix') ?? '').trim();
    const ttlSeconds = Number(form.get('ttl'));
    setBusy(true);
    setError(undefined);
    const made: CreatedToken[] = [];
    try {
      for (let i = 1; i <= count; i++) {
        const deviceName = prefix ? (count === 1 ? prefix : `${prefix} ${i}`) : undefined;
        const token = await api<CreatedToken>('POST', '/v1/admin/enrollment-tokens', {
          ...(ctx.tenantQuery ? { tenant: ctx.tenantQuery } : {}),
          ttlSeconds,
          ...(deviceName ? { deviceName } : {}),
        });
        made.push({ ...token, ...(deviceName ? { deviceName } : {}) });
      }
    } catch (failure) {
      setError(failure);
    } finally {
      setCreated(made);
      setBusy(false);
      existing.reload();
    }
  };
  return (
    <section>
      <PageTitle>Enrollment</PageTitle>
      <form class="card no-print" onSubmit={submit}>
        <h2>Create enrollment tokens</h2>
        <p class="hint">
          Each token enrolls one device, once. Scan its QR code on the device, or type the token
          into <code>lantern-agent enroll</code>.
        </p>
        <div class="row">
          <div>
            <label for="token-count">Number of devices</label>
            <input id="token-count" name="count" type="number" min={1} max={100} value={1} />
          </div>
          <div>
            <label for="token-prefix">Device name (optional)</label>
            <input id="token-prefix" name="prefix" maxLength={90} aria-describedby="prefix-hint" />
            <p id="prefix-hint" class="hint">
              With several devices they are numbered: “Class 4B tablet 1”, “… 2”.
            </p>
          </div>
          <div>
            <label for="token-ttl">Valid for</label>
            <select id="token-ttl" name="ttl">
              {TTLS.map(([seconds, text]) => (
                <option key={seconds} value={seconds}>
                  {text}
                </option>
              ))}
            </select>
          </div>
        </div>
        <ErrorBox error={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Creating…' : 'Create tokens'}
        </button>
      </form>
      {created.length > 0 && (
        <section class="sheet" aria-labelledby="sheet-title">
          <div class="sheet-head">
            <h2 id="sheet-title">
              {created.length} enrollment {created.length === 1 ? 'code' : 'codes'} for{' '}
              {ctx.tenantName}
            </h2>
            <button type="button" class="secondary no-print" onClick={() => print()}>
              Print sheet
            </button>
          </div>
          <p class="hint">
            Shown once: the CA keeps only a hash of each token. Root fingerprint{' '}
            <code class="wrap">{ctx.session.rootFingerprint}</code>
          </p>
          <ul class="tokens">
            {created.map((token, index) => {
              const uri = enrollmentUri(
                ctx.session.caUrl,
                token.token,
                ctx.session.rootFingerprint,
              );
              const name = token.deviceName ?? `Device ${index + 1}`;
              return (
                <li key={token.tokenId} class="token">
                  <QrCode text={uri} label={`Enrollment QR code for ${name}`} />
                  <p class="token-name">{name}</p>
                  <p>
                    Token: <code class="wrap token-value">{token.token}</code>
                  </p>
                  <p class="small">Use before {formatTime(token.expiresAt)}</p>
                  <details class="no-print">
                    <summary>Enrollment link</summary>
                    <code class="wrap small enrollment-uri">{uri}</code>
                  </details>
                </li>
              );
            })}
          </ul>
        </section>
      )}
      <div class="scroll no-print">
        <table>
          <caption>Enrollment tokens of {ctx.tenantName}</caption>
          <thead>
            <tr>
              <th scope="col">Token id</th>
              <th scope="col">Device name</th>
              <th scope="col">Status</th>
              <th scope="col">Expires</th>
            </tr>
          </thead>
          <tbody>
            {(existing.data?.tokens ?? []).map((t) => (
              <tr key={t.tokenId}>
                <td>
                  <code class="small">{t.tokenId}</code>
                </td>
                <td>{t.deviceName ?? '—'}</td>
                <td>{t.status}</td>
                <td>{formatTime(t.expiresAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
