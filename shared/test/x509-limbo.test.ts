import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { validateCertificatePath } from '../src/x509/validate-path.js';

interface LimboCase {
  id: string;
  trusted_certs: string[];
  untrusted_intermediates: string[];
  peer_certificate: string;
  validation_time: string | null;
  extended_key_usage: string[];
  max_chain_depth: number | null;
  crls: string[];
  expected_result: 'SUCCESS' | 'FAILURE';
}

/** The vectors live beside the repository in a checkout and inside it in CI. */
function vectorsPath(): string {
  const candidates = [
    '../../../shared/vectors/x509-limbo-device.json',
    '../vectors/x509-limbo-device.json',
  ].map((relative) => fileURLToPath(new URL(relative, import.meta.url)));
  const found = candidates.find((path) => existsSync(path));
  if (!found) throw new Error(`x509-limbo-device.json not found in ${candidates.join(', ')}`);
  return found;
}

const EKU_OIDS: Readonly<Record<string, string>> = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  OCSPSigning: '1.3.6.1.5.5.7.3.9',
  anyExtendedKeyUsage: '2.5.29.37.0',
};

const { testcases } = JSON.parse(readFileSync(vectorsPath(), 'utf8')) as { testcases: LimboCase[] };

describe('x509-limbo (C2SP) device subset', () => {
  it('has all 82 cases', () => {
    expect(testcases).toHaveLength(82);
  });

  for (const testcase of testcases) {
    it(testcase.id, () => {
      const verdict = validateCertificatePath({
        leaf: testcase.peer_certificate,
        intermediates: testcase.untrusted_intermediates,
        trustAnchors: testcase.trusted_certs,
        at: testcase.validation_time ? new Date(testcase.validation_time) : new Date(),
        requiredEku: testcase.extended_key_usage.map((name) => {
          const oid = EKU_OIDS[name];
          if (!oid) throw new Error(`unmapped EKU ${name}`);
          return oid;
        }),
        crls: testcase.crls,
        ...(testcase.max_chain_depth === null ? {} : { maxDepth: testcase.max_chain_depth }),
      });
      const why = verdict.ok ? 'validated' : `${verdict.reason}: ${verdict.detail}`;
      expect(verdict.ok ? 'SUCCESS' : 'FAILURE', why).toBe(testcase.expected_result);
    });
  }
});
