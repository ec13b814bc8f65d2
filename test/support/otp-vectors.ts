import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type OtpVectorAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

/** RFC 6238 Appendix B and RFC 4226 Appendix D, as `shared/vectors/otp-rfc6238-rfc4226.json` holds them. */
export interface OtpVectors {
  totp: {
    t0: number;
    period: number;
    digits: number;
    secrets_ascii: Record<OtpVectorAlgorithm, string>;
    cases: ({ time: number } & Record<OtpVectorAlgorithm, string>)[];
  };
  hotp: { secret_ascii: string; digits: number; codes_by_counter: string[] };
}

/** The vectors live beside the repository in a checkout and inside it in CI. */
export function loadOtpVectors(): OtpVectors {
  const candidates = [
    '../../../shared/vectors/otp-rfc6238-rfc4226.json',
    '../../shared/vectors/otp-rfc6238-rfc4226.json',
  ].map((relative) => fileURLToPath(new URL(relative, import.meta.url)));
  const found = candidates.find((path) => existsSync(path));
  if (!found) throw new Error(`otp-rfc6238-rfc4226.json not found in ${candidates.join(', ')}`);
  return JSON.parse(readFileSync(found, 'utf8')) as OtpVectors;
}
