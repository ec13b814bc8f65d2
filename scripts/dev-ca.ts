/** `npm run dev-ca`: a throwaway root and issuing CA in certs/dev/ (git-ignored) for experiments. */
import { createCaHierarchy, profiles, sha256Hex } from '@lantern/ca-service';
import { systemClock, toPem } from '@lantern/shared';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../certs/dev/', import.meta.url));
mkdirSync(dir, { recursive: true, mode: 0o700 });
const hierarchy = await createCaHierarchy(systemClock, profiles.rootCa(), profiles.issuingCa());
const write = (name: string, content: string, mode: number) =>
  writeFileSync(`${dir}${name}`, content, { mode });
write('root.pem', toPem(hierarchy.rootCertificate), 0o644);
write('issuing.pem', toPem(hierarchy.issuingCertificate), 0o644);
write('root.key.pem', hierarchy.rootKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
write(
  'issuing.key.pem',
  hierarchy.issuingKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  0o600,
);
console.log(`Wrote a throwaway root and issuing CA to ${dir}
  root fingerprint (SHA-256): ${sha256Hex(hierarchy.rootCertificate)}
  check: openssl verify -CAfile ${dir}root.pem ${dir}issuing.pem
These keys are unencrypted and for experiments only.`);
