import QRCode from 'qrcode';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, createUser, startTestCa } from '../../test/support/ca-fixture.js';

/** pngjs comes with qrcode and has no types of its own: just what this test reads. */
interface PngReader {
  PNG: { sync: { read(data: Buffer): { width: number; height: number; data: Buffer } } };
}

let ca: TestCa;
let tenantId: string;
const PASSWORD = 'correct horse battery';

beforeEach(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Hillside');
  await createUser(ca, tenantId, 'tom', PASSWORD, 'teacher');
});
afterEach(async () => ca.close());

async function signedIn(): Promise<string> {
  const response = await ca.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { tenant: tenantId, username: 'tom', password: PASSWORD },
  });
  expect(response.statusCode).toBe(200);
  return (response.json() as { accessToken: string }).accessToken;
}

const asUser = (method: 'GET' | 'POST', url: string, token: string, payload?: object) =>
  ca.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });

interface Enrollment {
  otpauthUri: string;
  qrCodeDataUrl: string;
  secret: string;
}

describe('TOTP enrolment QR code', () => {
  it('is a PNG whose modules are exactly the QR code of the otpauth URI', async () => {
    const response = await asUser('POST', '/v1/mfa/totp/enroll', await signedIn(), {});
    expect(response.statusCode).toBe(201);
    const { otpauthUri, qrCodeDataUrl } = response.json() as Enrollment;
    const prefix = 'data:image/png;base64,';
    expect(qrCodeDataUrl.startsWith(prefix)).toBe(true);
    const png = Buffer.from(qrCodeDataUrl.slice(prefix.length), 'base64');
    expect(png.subarray(0, 8)).toEqual(
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    );

    const pngjs = 'pngjs';
    const { PNG } = (await import(pngjs)) as PngReader;
    const image = PNG.sync.read(png);
    const { modules } = QRCode.create(otpauthUri, { errorCorrectionLevel: 'M' });
    const margin = 4;
    const scale = image.width / (modules.size + 2 * margin);
    expect(Number.isInteger(scale) && scale >= 4).toBe(true);
    expect(image.height).toBe(image.width);
    const dark = (row: number, column: number) => {
      const x = (margin + column) * scale + Math.floor(scale / 2);
      const y = (margin + row) * scale + Math.floor(scale / 2);
      return (image.data[(y * image.width + x) * 4] ?? 255) < 128;
    };
    let mismatches = 0;
    for (let row = 0; row < modules.size; row++) {
      for (let column = 0; column < modules.size; column++) {
        if (dark(row, column) !== Boolean(modules.get(row, column))) mismatches++;
      }
    }
    expect(mismatches).toBe(0);
    // The quiet zone is light: scanners need it.
    expect(image.data[0]).toBeGreaterThan(128);
  });

  it('shows the secret once: never again in the status, a restart draws a new one', async () => {
    const token = await signedIn();
    const first = (await asUser('POST', '/v1/mfa/totp/enroll', token, {})).json() as Enrollment;
    const status = await asUser('GET', '/v1/mfa', token);
    expect(status.statusCode).toBe(200);
    expect(status.body).not.toContain(first.secret);
    expect(status.body).not.toContain('qrCode');
    const second = (await asUser('POST', '/v1/mfa/totp/enroll', token, {})).json() as Enrollment;
    expect(second.secret).not.toBe(first.secret);
    expect(second.qrCodeDataUrl).not.toBe(first.qrCodeDataUrl);
    expect(new URL(second.otpauthUri).searchParams.get('secret')).toBe(second.secret);
  });
});
