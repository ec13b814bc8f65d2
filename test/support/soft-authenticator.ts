import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { KeyObject } from 'node:crypto';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

/**
 * A software WebAuthn authenticator on node:crypto (ES256, `none` attestation), producing real
 * responses byte for byte as the spec lays them out: authenticatorData (rpIdHash, flags,
 * signature counter, attested credential data with a COSE key), clientDataJSON, and signatures
 * over authenticatorData ‖ SHA-256(clientDataJSON). Every part can be bent for negative tests.
 */

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;

type Cbor = number | string | Uint8Array | Cbor[] | Map<Cbor, Cbor> | { [key: string]: Cbor };

function cborHead(major: number, value: number): Buffer {
  if (value < 24) return Buffer.from([(major << 5) | value]);
  if (value < 0x100) return Buffer.from([(major << 5) | 24, value]);
  if (value < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(value, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(value, 1);
  return b;
}

/** The subset of CBOR (RFC 8949) WebAuthn needs: integers, byte and text strings, arrays, maps. */
export function cborEncode(value: Cbor): Buffer {
  if (typeof value === 'number') {
    return value >= 0 ? cborHead(0, value) : cborHead(1, -1 - value);
  }
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([cborHead(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([cborHead(2, value.length), value]);
  if (Array.isArray(value)) {
    return Buffer.concat([cborHead(4, value.length), ...value.map(cborEncode)]);
  }
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  return Buffer.concat([
    cborHead(5, entries.length),
    ...entries.flatMap(([k, v]) => [cborEncode(k), cborEncode(v)]),
  ]);
}

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();
const b64u = (data: Uint8Array) => Buffer.from(data).toString('base64url');

export interface SoftCredential {
  id: string;
  privateKey: KeyObject;
  rpId: string;
  userHandle: string;
  counter: number;
}

export interface CeremonyTweaks {
  /** clientDataJSON `origin`; default the authenticator's origin. */
  origin?: string;
  /** RP ID hashed into authenticatorData; default the one in the options. */
  rpId?: string;
  /** clientDataJSON `challenge`; default the one in the options. */
  challenge?: string;
  /** clientDataJSON `type`; default webauthn.create / webauthn.get. */
  type?: string;
  userPresent?: boolean;
  userVerified?: boolean;
  /** Signature counter to report (an assertion otherwise reports the stored one plus 1). */
  counter?: number;
  /** Edits the clientDataJSON bytes after signing (tampering in transit). */
  tamperClientData?: (json: string) => string;
  /** Flips a bit of the signature. */
  corruptSignature?: boolean;
}

export class SoftAuthenticator {
  readonly credentials = new Map<string, SoftCredential>();

  constructor(
    readonly origin: string,
    private readonly defaults: { userVerified?: boolean; counterStart?: number } = {},
  ) {}

  private authData(rpId: string, flags: number, counter: number, attested?: Buffer): Buffer {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter, 0);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), count, attested ?? Buffer.alloc(0)]);
  }

  private flags(tweaks: CeremonyTweaks): number {
    const up = tweaks.userPresent ?? true;
    const uv = tweaks.userVerified ?? this.defaults.userVerified ?? true;
    return (up ? FLAG_UP : 0) | (uv ? FLAG_UV : 0);
  }

  private clientData(type: string, challenge: string, tweaks: CeremonyTweaks): string {
    return JSON.stringify({
      type: tweaks.type ?? type,
      challenge: tweaks.challenge ?? challenge,
      origin: tweaks.origin ?? this.origin,
      crossOrigin: false,
    });
  }

  /** navigator.credentials.create(): a new ES256 key pair and its RegistrationResponseJSON. */
  register(
    options: PublicKeyCredentialCreationOptionsJSON,
    tweaks: CeremonyTweaks = {},
  ): RegistrationResponseJSON {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const credentialId = randomBytes(32);
    const id = b64u(credentialId);
    const cose = cborEncode(
      new Map<Cbor, Cbor>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x ?? '', 'base64url')],
        [-3, Buffer.from(jwk.y ?? '', 'base64url')],
      ]),
    );
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(credentialId.length, 0);
    const attested = Buffer.concat([Buffer.alloc(16), idLength, credentialId, cose]);
    const rpId = tweaks.rpId ?? options.rp.id ?? new URL(this.origin).hostname;
    const counter = tweaks.counter ?? this.defaults.counterStart ?? 0;
    const authData = this.authData(rpId, this.flags(tweaks) | FLAG_AT, counter, attested);
    let clientDataJSON = this.clientData('webauthn.create', options.challenge, tweaks);
    if (tweaks.tamperClientData) clientDataJSON = tweaks.tamperClientData(clientDataJSON);
    this.credentials.set(id, {
      id,
      privateKey,
      rpId: options.rp.id ?? rpId,
      userHandle: options.user.id,
      counter,
    });
    return {
      id,
      rawId: id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64u(Buffer.from(clientDataJSON)),
        attestationObject: b64u(cborEncode({ fmt: 'none', attStmt: {}, authData })),
        transports: ['internal'],
      },
    };
  }

  /**
   * navigator.credentials.get(): signs with `credentialId` (default: the first allowed one, or
   * the first this authenticator holds for a discoverable sign-in).
   */
  authenticate(
    options: PublicKeyCredentialRequestOptionsJSON,
    tweaks: CeremonyTweaks & { credentialId?: string } = {},
  ): AuthenticationResponseJSON {
    const allowed = options.allowCredentials?.map((c) => c.id) ?? [];
    const id =
      tweaks.credentialId ??
      allowed.find((candidate) => this.credentials.has(candidate)) ??
      [...this.credentials.keys()][0];
    const credential = id === undefined ? undefined : this.credentials.get(id);
    if (!credential) throw new Error('the soft authenticator holds no such credential');
    const counter = tweaks.counter ?? credential.counter + 1;
    credential.counter = counter;
    const authData = this.authData(
      tweaks.rpId ?? options.rpId ?? credential.rpId,
      this.flags(tweaks),
      counter,
    );
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, tweaks);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), {
      key: credential.privateKey,
      dsaEncoding: 'der',
    });
    if (tweaks.corruptSignature) signature.writeUInt8(signature.readUInt8(8) ^ 0x01, 8);
    const sent = tweaks.tamperClientData ? tweaks.tamperClientData(clientDataJSON) : clientDataJSON;
    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64u(Buffer.from(sent)),
        authenticatorData: b64u(authData),
        signature: b64u(signature),
        userHandle: credential.userHandle,
      },
    };
  }
}
