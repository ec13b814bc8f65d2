import { encodeEnrollmentUri } from '@lantern/shared';
import type { CaContext } from '../context/ca-context.js';

/** What an admin hands a device with a new token: everything it needs, the root pin included. */
export interface EnrollmentHandout {
  /** `lantern-enroll:?ca=…&token=…&fp=…`, for a QR code (CLI, admin console). */
  enrollmentUri: string;
  /** The whole `lantern-agent enroll` command line, ready to paste. */
  enrollCommand: string;
}

const PLAIN_WORD = /^[A-Za-z0-9_.,:/=@%+-]+$/;

/** One shell word, quoted only when it has to be. */
function shellWord(text: string): string {
  return PLAIN_WORD.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

export function enrollmentHandout(
  ctx: Pick<CaContext, 'ca' | 'publicUrl' | 'publicUrls'>,
  token: string,
): EnrollmentHandout {
  const caUrl = ctx.publicUrls[0] ?? ctx.publicUrl;
  const fingerprint = ctx.ca.rootFingerprint;
  return {
    enrollmentUri: encodeEnrollmentUri({ caUrl, token, rootFingerprint: fingerprint }),
    enrollCommand: [
      'lantern-agent enroll',
      `--ca ${shellWord(caUrl)}`,
      `--token ${shellWord(token)}`,
      `--root-fingerprint ${fingerprint}`,
    ].join(' '),
  };
}
