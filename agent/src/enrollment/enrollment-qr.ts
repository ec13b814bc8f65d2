import { readFileSync } from 'node:fs';
import { InvalidRequestError } from '@lantern/shared';

const MAX_PNG_BYTES = 10 * 1024 * 1024;

/**
 * The text of the QR code in a PNG (a photo or screenshot of what `lantern-ca enroll-token
 * create` or the admin console shows), for `lantern-agent enroll --qr FILE`.
 */
export async function readEnrollmentQr(file: string): Promise<string> {
  // Loaded here, not with the CLI: every other command would pay for the decoder at start-up.
  const [{ PNG }, jsQRModule] = await Promise.all([import('pngjs'), import('jsqr')]);
  const jsQR = jsQRModule.default;
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new InvalidRequestError(`cannot read ${file}: ${(error as Error).message}`);
  }
  if (bytes.length > MAX_PNG_BYTES) throw new InvalidRequestError(`${file} is larger than 10 MiB`);
  let image: InstanceType<typeof PNG>;
  try {
    image = PNG.sync.read(bytes);
  } catch (error) {
    throw new InvalidRequestError(`${file} is not a PNG image: ${(error as Error).message}`);
  }
  const code = jsQR(new Uint8ClampedArray(image.data), image.width, image.height, {
    inversionAttempts: 'attemptBoth',
  });
  if (code === null) throw new InvalidRequestError(`no QR code found in ${file}`);
  return code.data;
}
