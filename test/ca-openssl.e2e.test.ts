import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateCertificatePath } from '@lantern/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CA_CLI, freePort, openssl, runNode, startNode } from './support/processes.js';

/**
 * The README's CA walk-through with real processes and an independent toolkit: the CA runs as
 * `lantern-ca serve`, the CSR comes from openssl, openssl verifies the chain and the CRL.
 */
describe('lantern-ca with openssl as the relying party', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-openssl-'));
  const dataDir = join(dir, 'ca');
  let url = '';
  let server: Awaited<ReturnType<typeof startNode>>;

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const init = runNode(CA_CLI, [
      'init',
      '--data-dir',
      dataDir,
      '--dev-root-in-data-dir',
      '--url',
      url,
      '--json',
    ]);
    expect(init.status, init.stderr).toBe(0);
    expect(init.json<{ rootFingerprint: string }>().rootFingerprint).toMatch(/^[0-9a-f]{64}$/);
    server = await startNode(
      CA_CLI,
      ['serve', '--data-dir', dataDir, '--port', String(port)],
      /listening on/,
    );
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('enrolls an openssl CSR, openssl verifies the chain, then the CRL reports it revoked', async () => {
    const cli = (...args: string[]) => runNode(CA_CLI, [...args, '--data-dir', dataDir, '--json']);
    const tenant = cli('tenant', 'create', 'Hillside Primary');
    expect(tenant.status, tenant.stdout + tenant.stderr).toBe(0);
    const tenantId = tenant.json<{ id: string }>().id;
    const token = cli(
      'enroll-token',
      'create',
      '--tenant',
      tenantId,
      '--ttl',
      '1h',
      '--name',
      'Tablet 7',
    );
    expect(token.status, token.stdout).toBe(0);

    const keyFile = join(dir, 'device.key');
    const csrFile = join(dir, 'device.csr');
    const req = openssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyFile,
      '-subj',
      '/CN=tablet-7',
      '-out',
      csrFile,
    ]);
    expect(req.status, req.stderr).toBe(0);

    const response = await fetch(`${url}/v1/devices/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        enrollmentToken: token.json<{ token: string }>().token,
        csr: readFileSync(csrFile, 'utf8'),
      }),
    });
    expect(response.status).toBe(201);
    const enrolled = (await response.json()) as {
      deviceId: string;
      certificate: string;
      chain: string[];
      root: string;
    };
    const files = {
      leaf: join(dir, 'leaf.pem'),
      issuing: join(dir, 'issuing.pem'),
      root: join(dir, 'root.pem'),
      crl: join(dir, 'crl.pem'),
      bundle: join(dir, 'bundle.pem'),
    };
    writeFileSync(files.leaf, enrolled.certificate);
    writeFileSync(files.issuing, enrolled.chain[1] ?? '');
    writeFileSync(files.root, enrolled.root);
    writeFileSync(files.bundle, `${enrolled.chain[1]}${enrolled.root}`);

    const verified = openssl([
      'verify',
      '-purpose',
      'sslclient',
      '-CAfile',
      files.root,
      '-untrusted',
      files.issuing,
      files.leaf,
    ]);
    expect(verified.stdout + verified.stderr).toContain(': OK');
    expect(verified.status).toBe(0);
    const wrongRoot = openssl([
      'verify',
      '-purpose',
      'sslclient',
      '-CAfile',
      files.issuing,
      files.leaf,
    ]);
    expect(wrongRoot.status).not.toBe(0);

    const listed = cli('device', 'list');
    expect(listed.json<{ devices: { deviceId: string; status: string }[] }>().devices).toEqual([
      expect.objectContaining({ deviceId: enrolled.deviceId, status: 'active' }),
    ]);

    const revoked = cli('device', 'revoke', enrolled.deviceId, '--reason', 'stolen');
    expect(revoked.status, revoked.stdout).toBe(0);
    expect(revoked.json<{ status: string }>().status).toBe('revoked');

    const crl = await fetch(`${url}/v1/crl`);
    expect(crl.headers.get('content-type')).toBe('application/pkix-crl');
    writeFileSync(join(dir, 'crl.der'), Buffer.from(await crl.arrayBuffer()));
    expect(
      openssl(['crl', '-inform', 'DER', '-in', join(dir, 'crl.der'), '-out', files.crl]).status,
    ).toBe(0);
    const crlCheck = openssl(['crl', '-in', files.crl, '-CAfile', files.bundle, '-noout', '-text']);
    expect(crlCheck.stderr).toContain('verify OK');
    expect(crlCheck.stdout).toMatch(/CRL Number: \n\s+\d+/);
    expect(crlCheck.stdout).toContain('Key Compromise');

    const afterRevoke = openssl([
      'verify',
      '-crl_check',
      '-CAfile',
      files.root,
      '-untrusted',
      files.issuing,
      '-CRLfile',
      files.crl,
      files.leaf,
    ]);
    expect(afterRevoke.status).not.toBe(0);
    expect(afterRevoke.stdout + afterRevoke.stderr).toContain('certificate revoked');

    const delta = await fetch(`${url}/v1/crl/delta`);
    writeFileSync(join(dir, 'delta.der'), Buffer.from(await delta.arrayBuffer()));
    const deltaText = openssl([
      'crl',
      '-inform',
      'DER',
      '-in',
      join(dir, 'delta.der'),
      '-noout',
      '-text',
    ]);
    expect(deltaText.stdout).toContain('Delta CRL Indicator: critical');
    // Lantern's own validator, asked for the leaf's status, reads the CA's CRLs as openssl does.
    const ours = (crls: Uint8Array[]) =>
      validateCertificatePath({
        leaf: enrolled.certificate,
        intermediates: [enrolled.chain[1] ?? ''],
        trustAnchors: [enrolled.root],
        at: new Date(),
        crls,
        revocationCheck: 'leaf',
      });
    const fullDer = readFileSync(join(dir, 'crl.der'));
    const deltaDer = readFileSync(join(dir, 'delta.der'));
    expect(ours([fullDer, deltaDer])).toMatchObject({ ok: false, reason: 'revoked' });
    expect(ours([deltaDer])).toMatchObject({ ok: false, reason: 'revocation_unknown' });

    const again = cli('device', 'revoke', enrolled.deviceId, '--reason', 'stolen');
    expect(again.status).toBe(1);
    expect(again.json<{ code: string }>().code).toBe('device_already_revoked');
  }, 90_000);

  it('manages users from the CLI: password on stdin, lock, events', () => {
    const cli = (args: string[], input?: string) =>
      runNode(
        CA_CLI,
        [...args, '--data-dir', dataDir, '--json'],
        input === undefined ? {} : { input },
      );
    const tenantId = cli(['tenant', 'create', 'Riverside']).json<{ id: string }>().id;
    const created = cli(
      ['user', 'create', '--tenant', tenantId, '--username', 'kofi', '--role', 'learner'],
      '482913\n',
    );
    expect(created.status, created.stdout + created.stderr).toBe(0);
    const userId = created.json<{ id: string }>().id;
    expect(created.stdout).not.toContain('482913');
    const weak = cli(
      ['user', 'create', '--tenant', tenantId, '--username', 'abena', '--role', 'learner'],
      '1234\n',
    );
    expect(weak.status).toBe(1);
    expect(weak.json<{ code: string }>().code).toBe('credential_rejected');
    const locked = cli(['user', 'lock', userId]);
    expect(locked.json<{ lockedUntil: string }>().lockedUntil).toBeTruthy();
    const events = cli(['events', '--tenant', tenantId]).json<{ events: { eventType: string }[] }>()
      .events;
    expect(events.map((event) => event.eventType)).toEqual([
      'identity.tenant.created',
      'identity.user.registered',
      'identity.user.password_set',
      'identity.user.locked',
    ]);
  }, 90_000);

  it('prints usage and exits 2 for a bad command line', () => {
    expect(runNode(CA_CLI, ['device', 'revoke']).status).toBe(2);
    expect(runNode(CA_CLI, ['frobnicate']).status).toBe(2);
    const help = runNode(CA_CLI, ['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('enroll-token create');
  });
});
