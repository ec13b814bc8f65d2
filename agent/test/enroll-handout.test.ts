import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandIo } from '@lantern/shared';
import { runCli } from '@lantern/shared';
import { PNG } from 'pngjs';
import QRCode from 'qrcode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands } from '../src/cli/commands.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIo = {
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    readStdin: async () => '',
    env: {},
  };
  const code = await runCli('lantern-agent', commands, argv, io);
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

/** Issue 25: the enrollment URI (and its QR code) from the admin API, read by the agent. */
describe('lantern-agent enroll --uri / --qr', () => {
  let ca: TestCa;
  let tenantId = '';
  const handout = async () => {
    const response = await ca.admin('POST', '/v1/admin/enrollment-tokens', { tenant: tenantId });
    expect(response.statusCode, response.body).toBe(201);
    return response.json() as { token: string; enrollmentUri: string; enrollCommand: string };
  };

  beforeAll(async () => {
    ca = await startTestCa({ now: Date.now() });
    const url = await ca.app.listen({ port: 0, host: '127.0.0.1' });
    // Where devices reach it (`serve --public-url`): what the URI and command carry.
    ca.ctx.publicUrls = [url];
    tenantId = await createTenant(ca, 'Lakeside');
  });
  afterAll(async () => {
    await ca.close();
  });

  it('enrolls from a PNG of the QR code, with the root pinned', async () => {
    const { enrollmentUri, enrollCommand } = await handout();
    expect(enrollCommand).toContain(`--root-fingerprint ${ca.rootFingerprint}`);
    const png = join(tempDir(), 'enroll.png');
    await QRCode.toFile(png, enrollmentUri, { type: 'png' });
    const enrolled = await cli(['enroll', '--qr', png, '--data-dir', tempDir(), '--json']);
    expect(enrolled.code, enrolled.stdout + enrolled.stderr).toBe(0);
    expect(JSON.parse(enrolled.stdout)).toMatchObject({
      rootTrust: 'pinned',
      rootFingerprint: ca.rootFingerprint,
      caUrl: ca.ctx.publicUrls[0],
    });
  });

  it('enrolls from --uri; a URI pinning another root is refused before the token is sent', async () => {
    const { enrollmentUri } = await handout();
    const forged = enrollmentUri.replace(/fp=[0-9a-f]{64}/, `fp=${'ab'.repeat(32)}`);
    const refused = await cli(['enroll', '--uri', forged, '--data-dir', tempDir(), '--json']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ code: 'root_fingerprint_mismatch' });
    const enrolled = await cli(['enroll', '--uri', enrollmentUri, '--data-dir', tempDir()]);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    expect(enrolled.stdout).toContain('the root is pinned');
  });

  it('refuses a PNG without a QR code, a foreign URI and --uri mixed with --ca', async () => {
    const blank = new PNG({ width: 64, height: 64 });
    blank.data.fill(255);
    const png = join(tempDir(), 'blank.png');
    writeFileSync(png, PNG.sync.write(blank));
    const noCode = await cli(['enroll', '--qr', png, '--data-dir', tempDir()]);
    expect(noCode.code).toBe(1);
    expect(noCode.stderr).toContain(`no QR code found in ${png}`);

    const text = join(tempDir(), 'not.png');
    writeFileSync(text, 'hello');
    expect((await cli(['enroll', '--qr', text, '--data-dir', tempDir()])).stderr).toContain(
      'is not a PNG image',
    );

    const foreign = await cli(['enroll', '--uri', 'https://example.com/', '--data-dir', tempDir()]);
    expect(foreign.code).toBe(2);
    expect(foreign.stderr).toContain('--uri is not a Lantern enrollment URI');

    const { enrollmentUri } = await handout();
    const mixed = await cli([
      ...['enroll', '--uri', enrollmentUri, '--ca', 'http://127.0.0.1:1'],
      ...['--data-dir', tempDir()],
    ]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('drop --ca');
  });
});
