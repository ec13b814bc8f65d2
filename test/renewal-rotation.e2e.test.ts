import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger, systemClock } from '@lantern/shared';
import { initDataDir } from '@lantern/ca-service';
import { AGENT_CLI, CA_CLI, freePort, openssl, runNode, startNode } from './support/processes.js';

const DAY = 86_400_000;
/** Both CLIs shift their clocks by this (test only): days pass without anyone sleeping. */
const OFFSET_ENV = 'LANTERN_TEST_TIME_OFFSET_MS';

/**
 * Issue 16 end to end with real processes: a device enrolled today; while the CA is down for
 * its clock move the issuing CA is rotated (a rotation takes effect at the next start); the CA
 * and the agent then run 21 days on (past 2/3 of the 30-day certificate) and `lantern-agent
 * serve` renews in the background with a new key, onto the new issuer; the device is revoked,
 * the agent (enrolled under the retired issuer) syncs and learns it, and openssl reports the
 * renewed certificate revoked with the CRL at its distribution point, and the enrollment
 * certificate revoked with the retired issuer's CRL at its own. Six processes in all.
 */
describe('renewal in the background, issuing-CA rotation, revocation seen by openssl', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-renewal-e2e-'));
  const caDir = join(dir, 'ca');
  const agentDir = join(dir, 'agent');
  const stops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const at = (offsetMs: number) => ({ [OFFSET_ENV]: String(offsetMs) });
  const ok = (result: ReturnType<typeof runNode>) => {
    expect(result.status, result.stdout + result.stderr).toBe(0);
    return result.json();
  };
  const binding = () => {
    const db = new Database(join(agentDir, 'agent.db'), { readonly: true });
    try {
      const row = db
        .prepare('SELECT certificate_pem AS pem, chain_pems_json AS chain FROM binding')
        .get() as { pem: string; chain: string };
      return { pem: row.pem, issuingPem: (JSON.parse(row.chain) as string[])[0] ?? '' };
    } finally {
      db.close();
    }
  };
  const write = (name: string, content: string | Buffer): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  /** The CRL a certificate names in its distribution point, fetched and converted to PEM. */
  const crlOf = async (
    certificate: string,
    name: string,
  ): Promise<{ url: string; path: string }> => {
    const url =
      openssl(['x509', '-in', certificate, '-noout', '-ext', 'crlDistributionPoints']).stdout.match(
        /URI:(\S+)/,
      )?.[1] ?? '';
    const der = write(`${name}.der`, Buffer.from(await (await fetch(url)).arrayBuffer()));
    const path = join(dir, `${name}.pem`);
    expect(openssl(['crl', '-inform', 'DER', '-in', der, '-out', path]).status).toBe(0);
    return { url, path };
  };

  it(
    'rotates, renews in the background, revokes, and openssl -crl_check says revoked',
    { timeout: 90_000 },
    async () => {
      const port = await freePort();
      const caUrl = `http://127.0.0.1:${port}`;
      const init = await initDataDir({
        dataDir: caDir,
        clock: systemClock,
        publicUrl: caUrl,
        root: 'dev-in-data-dir',
        logger: createLogger({ service: 'lantern-ca-init', salt: 'test', level: 'silent' }),
      });
      const startCa = async (offsetMs: number) => {
        const server = await startNode(
          CA_CLI,
          ['serve', '--data-dir', caDir, '--port', String(port)],
          /listening on/,
          at(offsetMs),
        );
        stops.push(server.stop);
        return server;
      };
      const admin = async (path: string, body: Record<string, unknown>) => {
        const response = await fetch(`${caUrl}${path}`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${init.adminApiKey}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify(body),
        });
        expect(response.status, await response.clone().text()).toBeLessThan(300);
        return (await response.json()) as Record<string, string>;
      };

      let server = await startCa(0);
      const { tenantId } = await admin('/v1/admin/tenants', { name: 'Hillside' });
      const { token } = await admin('/v1/admin/enrollment-tokens', { tenant: tenantId });
      const enrolled = ok(
        runNode(AGENT_CLI, [
          ...['enroll', '--ca', caUrl, '--token', token ?? '', '--data-dir', agentDir],
          ...['--root-fingerprint', init.rootFingerprint, '--json'],
        ]),
      ) as { deviceId: string; keyThumbprint: string };
      const first = binding();
      await server.stop();

      const rotation = ok(
        runNode(
          CA_CLI,
          ['ca', 'rotate-issuing', '--data-dir', caDir, '--dev-root-in-data-dir', '--json'],
          {
            env: at(21 * DAY),
          },
        ),
      ) as { retiredKeyId: string; issuingKeyId: string };

      // Three weeks on, both sides: the daemon's first background run renews with a new key.
      server = await startCa(21 * DAY);
      const daemon = await startNode(
        AGENT_CLI,
        ['serve', '--data-dir', agentDir, '--port', '0'],
        /Renewed the binding/,
        at(21 * DAY),
      );
      stops.push(daemon.stop);
      expect(daemon.output()).toMatch(/new device key \S+/);
      expect(daemon.output()).not.toContain(enrolled.keyThumbprint);
      const renewed = binding();
      expect(renewed.pem).not.toBe(first.pem);
      expect(renewed.issuingPem).not.toBe(first.issuingPem);
      // Stopped so that the sync below, not a background run, is the one that meets the revocation.
      await daemon.stop();

      await admin(`/v1/admin/devices/${enrolled.deviceId}/revoke`, { reason: 'stolen' });
      const synced = ok(
        runNode(AGENT_CLI, ['sync', '--data-dir', agentDir, '--json'], { env: at(21 * DAY) }),
      ) as { deviceRevoked: boolean };
      expect(synced.deviceRevoked).toBe(true);

      const root = write('root.pem', await (await fetch(`${caUrl}/v1/ca/root`)).text());
      const attime = String(Math.floor((Date.now() + 21 * DAY) / 1000));
      const verify = (
        certificate: { pem: string; issuingPem: string },
        name: string,
        crl: string,
      ) =>
        openssl([
          ...['verify', '-attime', attime, '-crl_check', '-CAfile', root],
          ...['-untrusted', write(`${name}-issuing.pem`, certificate.issuingPem)],
          ...['-CRLfile', crl, write(`${name}.pem`, certificate.pem)],
        ]);

      const current = await crlOf(write('renewed-leaf.pem', renewed.pem), 'current');
      expect(current.url).toBe(`${caUrl}/v1/crl?issuer=${rotation.issuingKeyId}`);
      const revoked = verify(renewed, 'renewed', current.path);
      expect(revoked.stdout + revoked.stderr).toContain('certificate revoked');
      expect(revoked.status).not.toBe(0);

      const retired = await crlOf(write('first-leaf.pem', first.pem), 'retired');
      expect(retired.url).toBe(`${caUrl}/v1/crl?issuer=${rotation.retiredKeyId}`);
      const firstRevoked = verify(first, 'first', retired.path);
      expect(firstRevoked.stdout + firstRevoked.stderr).toContain('certificate revoked');
      // Each issuer's CRL is its own: the current one does not vouch for the retired one's.
      const crossed = verify(first, 'crossed', current.path);
      expect(crossed.stdout + crossed.stderr).toContain('unable to get certificate CRL');
    },
  );
});
