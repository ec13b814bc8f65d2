import fc from 'fast-check';

/**
 * One seed for every property in a run: a failure prints it (fast-check's report names the seed
 * and the shrunk counterexample's path), and `FUZZ_SEED=<seed>` replays that exact run.
 */
export const FUZZ_SEED = Number(process.env['FUZZ_SEED'] ?? 0x1a47e2);

export function fuzzRuns(numRuns: number): fc.Parameters<unknown> {
  return { seed: FUZZ_SEED, numRuns, endOnFailure: true };
}

/**
 * Byte-level damage to a valid input: flips, truncations, insertions, spliced random runs and
 * duplicated slices, the shapes that reach deep into a parser before it can notice.
 */
export function mutatedBytes(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const at = fc.nat({ max: Math.max(valid.length - 1, 0) });
  const bytes = (max: number) => fc.uint8Array({ minLength: 1, maxLength: max });
  const join = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
  return fc.oneof(
    fc
      .array(fc.tuple(at, fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 })
      .map((flips) => {
        const copy = new Uint8Array(valid);
        for (const [index, mask] of flips) copy[index] = (copy[index] ?? 0) ^ mask;
        return copy;
      }),
    at.map((index) => valid.slice(0, index)),
    fc
      .tuple(at, bytes(64))
      .map(([index, extra]) => join(valid.slice(0, index), extra, valid.slice(index))),
    fc
      .tuple(at, at, bytes(32))
      .map(([a, b, extra]) =>
        join(valid.slice(0, Math.min(a, b)), extra, valid.slice(Math.max(a, b))),
      ),
    fc
      .tuple(at, at)
      .map(([a, b]) => join(valid.slice(0, Math.max(a, b)), valid.slice(Math.min(a, b)))),
  );
}

/** Damage to a text input (a token, a PEM), character by character. */
export function mutatedText(valid: string): fc.Arbitrary<string> {
  return mutatedBytes(Buffer.from(valid, 'latin1')).map((bytes) =>
    Buffer.from(bytes).toString('latin1'),
  );
}

/** A compact JWS whose header or claims segment was replaced by arbitrary JSON. */
export function tamperedJws(valid: string): fc.Arbitrary<string> {
  const [header = '', claims = '', signature = ''] = valid.split('.');
  const segment = fc
    .jsonValue()
    .map((value) => Buffer.from(JSON.stringify(value)).toString('base64url'));
  const decodedHeader = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
  const headerWith = fc
    .dictionary(
      fc.constantFrom('alg', 'typ', 'kid', 'x5c', 'crit', 'jku', 'jwk', 'b64'),
      fc.jsonValue(),
    )
    .map((patch) =>
      Buffer.from(JSON.stringify({ ...decodedHeader, ...patch })).toString('base64url'),
    );
  return fc.oneof(
    segment.map((h) => `${h}.${claims}.${signature}`),
    segment.map((c) => `${header}.${c}.${signature}`),
    headerWith.map((h) => `${h}.${claims}.${signature}`),
    mutatedText(valid),
    fc.string({ maxLength: 200 }),
  );
}
