function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One DER TLV around already-encoded content (short tag numbers only). */
export function derTagged(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

/**
 * `SEQUENCE { tbs, algorithm, BIT STRING signature }`: the shape of a certificate, a CRL and a
 * PKCS#10 request. Built around the exact bytes that were signed, because re-encoding a parsed
 * structure could change a byte and void the signature.
 */
export function derSigned(
  tbs: Uint8Array,
  algorithmDer: Uint8Array,
  signatureDer: Uint8Array,
): Buffer {
  const bitString = derTagged(0x03, Buffer.concat([Buffer.from([0]), signatureDer]));
  return derTagged(0x30, Buffer.concat([tbs, algorithmDer, bitString]));
}
