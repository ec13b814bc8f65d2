import { type DerValue, DerError, TAG, childrenOf, oidValue, readDer } from './der.js';

const SHORT_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.17': 'postalCode',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

const LATIN1_STRINGS = new Set<number>([
  TAG.printableString,
  TAG.ia5String,
  TAG.teletexString,
  0x12, // NumericString
  0x1a, // VisibleString
]);

function stringValue(value: DerValue): string | undefined {
  if (value.tag === TAG.utf8String) return Buffer.from(value.content).toString('utf8');
  if (LATIN1_STRINGS.has(value.tag)) return Buffer.from(value.content).toString('latin1');
  if (value.tag === TAG.bmpString && value.content.length % 2 === 0) {
    return Buffer.from(value.content).swap16().toString('utf16le');
  }
  return undefined;
}

const escape = (text: string): string => text.replace(/[,+"\\<>;=]/g, (c) => `\\${c}`);

/**
 * Checks the shape of a Name (SEQUENCE OF non-empty SET OF {type, value}) and renders it for
 * humans, in encoded order, e.g. `CN=Lantern Root CA, O=Lantern`. Names are compared with
 * `nameMatchKey`, never as this text.
 */
export function formatName(name: DerValue): string {
  const parts: string[] = [];
  const rdns = childrenOf(name);
  while (!rdns.done) {
    const set = rdns.read(TAG.set);
    const attributes = childrenOf(set);
    if (attributes.done) throw new DerError('empty RelativeDistinguishedName');
    const rdn: string[] = [];
    while (!attributes.done) {
      const fields = childrenOf(attributes.read(TAG.sequence));
      const type = oidValue(fields.read(TAG.oid));
      const value = fields.read();
      fields.finish();
      const text = stringValue(value);
      rdn.push(
        `${SHORT_NAMES[type] ?? type}=${text === undefined ? `#${Buffer.from(value.raw).toString('hex')}` : escape(text)}`,
      );
    }
    parts.push(rdn.join('+'));
  }
  return parts.join(', ');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Text of a PrintableString or UTF8String; undefined for bytes that are not valid UTF-8. */
function strictText(value: DerValue): string | undefined {
  try {
    return utf8.decode(value.content);
  } catch {
    return undefined;
  }
}

/** RFC 4518 insignificant-space handling and case folding, the parts a private PKI meets. */
function prepareString(text: string): string {
  return text.normalize('NFKC').toLowerCase().trim().replace(/\s+/gu, ' ');
}

/**
 * The form in which RFC 5280 §7.1 compares two Names, as a string: equal keys mean matching
 * names. PrintableString and UTF8String values (DirectoryString) match case-insensitively, with
 * leading, trailing and repeated whitespace folded, whichever of the two types encodes them;
 * every other value matches by its exact encoding. RDNs keep their order, attributes within
 * one RDN do not. Issuer names are matched this way because a CA that re-encodes its own name
 * (another string type, another case) is still the same CA: its signature is what binds.
 */
export function nameMatchKey(name: Uint8Array): string {
  const rdns: string[][] = [];
  const reader = childrenOf(readDer(name, TAG.sequence));
  while (!reader.done) {
    const attributes = childrenOf(reader.read(TAG.set));
    const rdn: string[] = [];
    while (!attributes.done) {
      const fields = childrenOf(attributes.read(TAG.sequence));
      const type = oidValue(fields.read(TAG.oid));
      const value = fields.read();
      const text =
        value.tag === TAG.printableString || value.tag === TAG.utf8String
          ? strictText(value)
          : undefined;
      rdn.push(
        text === undefined
          ? `${type}#${Buffer.from(value.raw).toString('hex')}`
          : `${type}=${prepareString(text)}`,
      );
    }
    rdns.push(rdn.sort());
  }
  return JSON.stringify(rdns);
}
