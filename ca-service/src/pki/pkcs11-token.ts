import { createHash, createPublicKey, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as Pkcs11 from 'pkcs11js';
import {
  HsmKeyMissingError,
  HsmPinIncorrectError,
  HsmPinLockedError,
  HsmTokenNotFoundError,
  HsmUnavailableError,
} from '../errors.js';

/** Where the keys are: a PKCS#11 module, the label of one token in it, and its user PIN. */
export interface Pkcs11Config {
  modulePath: string;
  tokenLabel: string;
  pin: string;
}

/**
 * A P-256 private key that never leaves the token: its public half and a signature call. The
 * digest is computed here and the token signs it with raw CKM_ECDSA, which every PKCS#11
 * module that does EC has (CKM_ECDSA_SHA256 is missing from some).
 */
export interface HeldKey {
  readonly kind: 'pkcs11';
  /** CKA_ID of the pair, hex: what the data dir records to find the key again. */
  readonly id: string;
  readonly publicKey: KeyObject;
  /** SHA-256 then ECDSA; `der` for X.509 and CRLs, `ieee-p1363` (r‖s) for JWS. */
  sign(data: Uint8Array, encoding: 'der' | 'ieee-p1363'): Buffer;
}

export interface Pkcs11Token {
  readonly tokenLabel: string;
  /** A new non-extractable key pair on the token, labelled for whoever looks at the token. */
  generateKey(label: string): HeldKey;
  /** Throws `hsm_key_missing` when the token has no private key with this CKA_ID. */
  key(id: string): HeldKey;
  /** Removes both halves; a key already gone is not an error. */
  destroyKey(id: string): void;
  close(): void;
}

// DER of the prime256v1 OID, as CKA_EC_PARAMS takes it, and the SPKI prefix of a P-256 key.
const P256_PARAMS = Buffer.from('06082a8648ce3d030107', 'hex');
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

// The binding is CommonJS whose constants Node's ESM loader cannot name one by one.
const pkcs11js = createRequire(import.meta.url)('pkcs11js') as typeof Pkcs11;

interface LoadedModule {
  pkcs11: Pkcs11.PKCS11;
  users: number;
  /**
   * PKCS#11 logs in per application and token, not per session: a second session on a token
   * this process is logged in to is already logged in. It must still give the same PIN.
   */
  logins: Map<string, { pinDigest: Buffer; sessions: number }>;
}
// C_Initialize is once per process and module: every token opened on a module shares it.
const modules = new Map<string, LoadedModule>();

function loadModule(modulePath: string): LoadedModule {
  const loaded = modules.get(modulePath);
  if (loaded !== undefined) {
    loaded.users += 1;
    return loaded;
  }
  const pkcs11 = new pkcs11js.PKCS11();
  try {
    pkcs11.load(modulePath);
    pkcs11.C_Initialize();
  } catch (error) {
    throw new HsmUnavailableError(`could not load the PKCS#11 module ${modulePath}`, {
      cause: error,
    });
  }
  const fresh = { pkcs11, users: 1, logins: new Map() };
  modules.set(modulePath, fresh);
  return fresh;
}

function releaseModule(modulePath: string): void {
  const loaded = modules.get(modulePath);
  if (loaded === undefined) return;
  loaded.users -= 1;
  if (loaded.users > 0) return;
  modules.delete(modulePath);
  try {
    loaded.pkcs11.C_Finalize();
  } finally {
    loaded.pkcs11.close();
  }
}

function pkcs11Code(error: unknown): number | undefined {
  return error instanceof pkcs11js.Pkcs11Error ? error.code : undefined;
}

/**
 * Opens a session on the token with the given label and logs in as its user. A wrong PIN is a
 * typed error (`hsm_pin_incorrect`), never a crash; the PIN is in no message.
 */
export function openPkcs11Token(config: Pkcs11Config): Pkcs11Token {
  const { modulePath, tokenLabel } = config;
  const { pkcs11, logins } = loadModule(modulePath);
  const pinDigest = createHash('sha256').update(config.pin).digest();
  let session: Buffer;
  let slotKey: string;
  try {
    const slot = pkcs11
      .C_GetSlotList(true)
      .find((candidate) => pkcs11.C_GetTokenInfo(candidate).label.trim() === tokenLabel);
    if (slot === undefined) {
      throw new HsmTokenNotFoundError(`no token labelled "${tokenLabel}" in ${modulePath}`);
    }
    slotKey = slot.toString('hex');
    const login = logins.get(slotKey);
    if (login !== undefined && !timingSafeEqual(login.pinDigest, pinDigest)) {
      throw new HsmPinIncorrectError(`the PIN of token "${tokenLabel}" was refused`);
    }
    session = pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      if (login === undefined) pkcs11.C_Login(session, pkcs11js.CKU_USER, config.pin);
      logins.set(slotKey, { pinDigest, sessions: (login?.sessions ?? 0) + 1 });
    } catch (error) {
      pkcs11.C_CloseSession(session);
      const code = pkcs11Code(error);
      if (code === pkcs11js.CKR_PIN_INCORRECT || code === pkcs11js.CKR_PIN_LEN_RANGE) {
        throw new HsmPinIncorrectError(`the PIN of token "${tokenLabel}" was refused`);
      }
      if (code === pkcs11js.CKR_PIN_LOCKED) {
        throw new HsmPinLockedError(`token "${tokenLabel}" has locked its user PIN`);
      }
      throw error;
    }
  } catch (error) {
    releaseModule(modulePath);
    if (pkcs11Code(error) === undefined && !(error instanceof pkcs11js.NativeError)) throw error;
    throw new HsmUnavailableError(`token "${tokenLabel}" in ${modulePath} did not open`, {
      cause: error,
    });
  }

  const find = (template: Pkcs11.Template): Buffer[] => {
    pkcs11.C_FindObjectsInit(session, template);
    try {
      return pkcs11.C_FindObjects(session, 16);
    } finally {
      pkcs11.C_FindObjectsFinal(session);
    }
  };
  const objects = (id: string, objectClass: number) =>
    find([
      { type: pkcs11js.CKA_CLASS, value: objectClass },
      { type: pkcs11js.CKA_ID, value: Buffer.from(id, 'hex') },
    ]);

  const heldKey = (id: string, privateHandle: Buffer, publicHandle: Buffer): HeldKey => {
    const [attribute] = pkcs11.C_GetAttributeValue(session, publicHandle, [
      { type: pkcs11js.CKA_EC_POINT },
    ]);
    const publicKey = createPublicKey({
      key: Buffer.concat([P256_SPKI_PREFIX, uncompressedPoint(attribute?.value as Buffer)]),
      format: 'der',
      type: 'spki',
    });
    return {
      kind: 'pkcs11',
      id,
      publicKey,
      sign(data, encoding) {
        const digest = createHash('sha256').update(data).digest();
        let signature: Buffer;
        try {
          pkcs11.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, privateHandle);
          signature = pkcs11.C_Sign(session, digest, Buffer.alloc(64));
        } catch (error) {
          throw new HsmUnavailableError(`token "${tokenLabel}" did not sign with key ${id}`, {
            cause: error,
          });
        }
        return encoding === 'der' ? p1363ToDer(signature) : signature;
      },
    };
  };

  return {
    tokenLabel,
    generateKey(label) {
      const id = randomBytes(16);
      const common = [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_ID, value: id },
        { type: pkcs11js.CKA_LABEL, value: label },
      ];
      let pair: Pkcs11.KeyPair;
      try {
        pair = pkcs11.C_GenerateKeyPair(
          session,
          { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
          [
            ...common,
            { type: pkcs11js.CKA_EC_PARAMS, value: P256_PARAMS },
            { type: pkcs11js.CKA_VERIFY, value: true },
          ],
          [
            ...common,
            { type: pkcs11js.CKA_PRIVATE, value: true },
            { type: pkcs11js.CKA_SENSITIVE, value: true },
            { type: pkcs11js.CKA_EXTRACTABLE, value: false },
            { type: pkcs11js.CKA_SIGN, value: true },
          ],
        );
      } catch (error) {
        throw new HsmUnavailableError(`token "${tokenLabel}" did not generate a P-256 key`, {
          cause: error,
        });
      }
      return heldKey(id.toString('hex'), pair.privateKey, pair.publicKey);
    },
    key(id) {
      const [privateHandle] = objects(id, pkcs11js.CKO_PRIVATE_KEY);
      const [publicHandle] = objects(id, pkcs11js.CKO_PUBLIC_KEY);
      if (privateHandle === undefined || publicHandle === undefined) {
        throw new HsmKeyMissingError(`token "${tokenLabel}" has no key pair with id ${id}`);
      }
      return heldKey(id, privateHandle, publicHandle);
    },
    destroyKey(id) {
      for (const objectClass of [pkcs11js.CKO_PRIVATE_KEY, pkcs11js.CKO_PUBLIC_KEY]) {
        for (const handle of objects(id, objectClass)) pkcs11.C_DestroyObject(session, handle);
      }
    },
    close() {
      const login = logins.get(slotKey);
      // Closing a token's last session logs the application out of it.
      if (login !== undefined && --login.sessions === 0) logins.delete(slotKey);
      try {
        pkcs11.C_CloseSession(session);
      } finally {
        releaseModule(modulePath);
      }
    },
  };
}

/** CKA_EC_POINT is the point wrapped in a DER OCTET STRING (some modules give it bare). */
function uncompressedPoint(value: Buffer | undefined): Buffer {
  if (value?.length === 67 && value[0] === 0x04 && value[1] === 0x41) return value.subarray(2);
  if (value?.length === 65 && value[0] === 0x04) return value;
  throw new HsmUnavailableError('the token returned a public key that is not a P-256 point');
}

function derInteger(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start += 1;
  const trimmed = value.subarray(start);
  const body = (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.of(0), trimmed]) : trimmed;
  return Buffer.concat([Buffer.of(0x02, body.length), body]);
}

/** r‖s (two 32-byte halves) as the DER SEQUENCE of two INTEGERs that X.509 carries. */
function p1363ToDer(signature: Buffer): Buffer {
  if (signature.length !== 64) {
    throw new HsmUnavailableError('the token returned a signature that is not P-256 r‖s');
  }
  const body = Buffer.concat([
    derInteger(signature.subarray(0, 32)),
    derInteger(signature.subarray(32)),
  ]);
  return Buffer.concat([Buffer.of(0x30, body.length), body]);
}
