import { type KeyObject, createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { verifyEd25519 } from '../src/crypto/verify-ed25519.js';
import { verifyEs256 } from '../src/crypto/verify-es256.js';

interface WycheproofFile {
  numberOfTests: number;
  testGroups: {
    publicKeyDer: string;
    tests: { tcId: number; msg: string; sig: string; result: 'valid' | 'invalid' | 'acceptable' }[];
  }[];
}

/** The vectors live beside the repository in a checkout and inside it in CI. */
function load(name: string): WycheproofFile {
  const candidates = [
    `../../../shared/vectors/wycheproof/${name}`,
    `../vectors/wycheproof/${name}`,
  ];
  const path = candidates
    .map((relative) => fileURLToPath(new URL(relative, import.meta.url)))
    .find((candidate) => existsSync(candidate));
  if (!path) throw new Error(`${name} not found in ${candidates.join(', ')}`);
  return JSON.parse(readFileSync(path, 'utf8')) as WycheproofFile;
}

type Verify = (key: KeyObject, msg: Uint8Array, sig: Uint8Array) => boolean;

/**
 * Every `valid` case must verify and every `invalid` one must be rejected by returning false,
 * never by throwing. `acceptable` cases (legacy encodings some libraries tolerate) would be
 * allowed either outcome but must not throw; these Wycheproof releases contain none, and the
 * counts below pin that so a vector update that adds some is noticed.
 */
interface Counts {
  valid: number;
  invalid: number;
  acceptable: number;
}

const suites: { file: string; verify: Verify; counts: Counts }[] = [
  {
    file: 'ecdsa_secp256r1_sha256_test.json',
    verify: (key, msg, sig) => verifyEs256(key, msg, sig, 'der'),
    counts: { valid: 174, invalid: 310, acceptable: 0 },
  },
  {
    file: 'ecdsa_secp256r1_sha256_p1363_test.json',
    verify: (key, msg, sig) => verifyEs256(key, msg, sig, 'ieee-p1363'),
    counts: { valid: 173, invalid: 89, acceptable: 0 },
  },
  {
    file: 'ed25519_test.json',
    verify: verifyEd25519,
    counts: { valid: 88, invalid: 63, acceptable: 0 },
  },
];

describe('Wycheproof', () => {
  for (const { file, verify, counts } of suites) {
    it(file, () => {
      const vectors = load(file);
      const seen: Counts = { valid: 0, invalid: 0, acceptable: 0 };
      const wrong: string[] = [];
      for (const group of vectors.testGroups) {
        const key = createPublicKey({
          key: Buffer.from(group.publicKeyDer, 'hex'),
          format: 'der',
          type: 'spki',
        });
        for (const test of group.tests) {
          seen[test.result] += 1;
          let outcome: boolean | 'threw';
          try {
            outcome = verify(key, Buffer.from(test.msg, 'hex'), Buffer.from(test.sig, 'hex'));
          } catch {
            outcome = 'threw';
          }
          const expected = { valid: [true], invalid: [false], acceptable: [true, false] }[
            test.result
          ];
          if (!expected.includes(outcome as boolean)) {
            wrong.push(`tcId ${test.tcId} (${test.result}) -> ${String(outcome)}`);
          }
        }
      }
      expect(wrong).toEqual([]);
      expect(seen).toEqual(counts);
      expect(counts.valid + counts.invalid + counts.acceptable).toBe(vectors.numberOfTests);
    });
  }
});
