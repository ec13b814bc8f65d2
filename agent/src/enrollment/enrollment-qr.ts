import { readFileSync } from 'node:fs';
import jsQRModule from 'jsqr';
import { PNG } from 'pngjs';
import { InvalidRequestError } from '@lantern/shared';

// A CommonJS package whose typings declare an ES default: the function sits on `.default` both
// in the types and at run time (the module object is the function and carries itself there).
const jsQR = jsQRModule.default;
const MAX_PNG_BYTES = 10 * 1024 * 1024;

/**
 * The text of the QR code in a PNG (a photo or screenshot of what `lantern-ca enroll-token
 * create` or the admin console shows), for `lantern-agent enroll --qr FILE`.
 */
export function readEnrollmentQr(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new InvalidRequestError(`cannot read ${file}: ${(error as Error).message}`);
  }
  if (bytes.length > MAX_PNG_BYTES) throw new InvalidRequestError(`${file} is larger than 10 MiB`);
  let image: PNG;
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
