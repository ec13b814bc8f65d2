import type { KeyObject } from 'node:crypto';
import {
  X509Certificate,
  createHash,
  createPublicKey,
  randomBytes,
  timingSafeEqual,
  verify,
} from 'node:crypto';
import type { CaContext } from '../../context/ca-context.js';
import { TpmAttestationInvalidError } from '../../errors.js';
import { checkEnrollmentToken } from '../enrollment-tokens.js';
import { makeCredential } from './make-credential.js';
import type { TpmEccPublic } from './tpm-structures.js';
import {
  ATTRIBUTE,
  TPM_ALG_ECDSA,
  TPM_ALG_SHA256,
  TPM_ECC_NIST_P256,
  TpmStructureError,
  ecdsaSignatureOf,
  leftPad,
  parseCertifyInfo,
  parseEccPublic,
} from './tpm-structures.js';

/** Long enough for a TPM's few operations and one more request, short enough to be fresh. */
const CHALLENGE_TTL_MS = 5 * 60_000;
const CHALLENGE_AAD = 'lantern tpm attestation challenge v1';
const MAX_CHAIN = 5;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** `POST /v1/devices/attestation/challenge`: the device's EK certificate and a fresh AK. */
export interface TpmChallengeRequest {
  enrollmentToken: string;
  /** The endorsement key certificate from the TPM's NV memory, DER in base64. */
  ekCertificate: string;
  /** The attestation key's TPM2B_PUBLIC, base64. */
  akPublic: string;
}

export interface TpmChallenge {
  /** Opaque to the device: the CA's sealed memory of this challenge, sent back at enrollment. */
  challenge: string;
  /** For `tpm2_activatecredential -i` (tpm2-tools' credential file), base64. */
  credential: string;
}

/** What `POST /v1/devices/enroll` takes as `tpmAttestation`. */
export interface TpmEvidence {
  challenge: string;
  /** The credential `tpm2_activatecredential` released, base64. */
  secret: string;
  /** The device key's TPM2B_PUBLIC, base64. */
  devicePublic: string;
  /** `tpm2_certify` of the device key by the AK: TPMS_ATTEST and TPMT_SIGNATURE, base64. */
  certifyInfo: string;
  signature: string;
}

interface SealedChallenge {
  secret: string;
  akPublic: string;
  token: string;
  expiresAt: number;
}

type Ctx = Pick<CaContext, 'clock' | 'secretBox' | 'store' | 'tpmManufacturers'>;

/**
 * Step one of TPM attestation (docs/security.md, "hardware tier"): the EK certificate must chain
 * to a TPM manufacturer this CA trusts, and the AK must be a restricted signing key fixed to its
 * TPM. The answer is a credential only that EK's TPM releases, and only with that AK loaded. The
 * CA keeps no state: the challenge is sealed to itself and bound to the enrollment token, so it
 * is good for one enrollment (the token's) and for five minutes.
 */
export async function tpmChallenge(ctx: Ctx, request: TpmChallengeRequest): Promise<TpmChallenge> {
  await checkEnrollmentToken(ctx, request.enrollmentToken);
  const ekPublicKey = trustedEkKey(ctx, base64(request.ekCertificate));
  const ak = attestationKey(request.akPublic);
  const secret = randomBytes(32);
  const sealed: SealedChallenge = {
    secret: secret.toString('base64'),
    akPublic: request.akPublic,
    token: digest(request.enrollmentToken),
    expiresAt: ctx.clock.now() + CHALLENGE_TTL_MS,
  };
  const credential = makeCredential(ekPublicKey, ak.name, secret);
  secret.fill(0);
  return {
    challenge: ctx.secretBox.seal(Buffer.from(JSON.stringify(sealed)), CHALLENGE_AAD),
    credential: credential.toString('base64'),
  };
}

/**
 * Step two, at enrollment: the released credential proves the AK sits in the EK's TPM, and the
 * AK's certification of the device key (a restricted key signs only what the TPM generated)
 * proves the CSR's key is a TPM object that never leaves it. Throws on anything else.
 */
export function verifyTpmEvidence(
  ctx: Pick<CaContext, 'clock' | 'secretBox'>,
  evidence: TpmEvidence,
  binding: { enrollmentToken: string; csrPublicKey: KeyObject },
): void {
  let sealed: SealedChallenge;
  try {
    sealed = JSON.parse(
      ctx.secretBox.open(evidence.challenge, CHALLENGE_AAD).toString('utf8'),
    ) as SealedChallenge;
  } catch {
    throw new TpmAttestationInvalidError('the attestation challenge is not one this CA issued');
  }
  if (
    !equal(Buffer.from(sealed.token, 'hex'), Buffer.from(digest(binding.enrollmentToken), 'hex'))
  ) {
    throw new TpmAttestationInvalidError(
      'the attestation challenge was issued for another enrollment',
    );
  }
  if (ctx.clock.now() > sealed.expiresAt) {
    throw new TpmAttestationInvalidError('the attestation challenge has expired');
  }
  if (!equal(base64(evidence.secret), Buffer.from(sealed.secret, 'base64'))) {
    throw new TpmAttestationInvalidError(
      'the credential is not the one the challenge sealed to the TPM',
    );
  }
  const ak = attestationKey(sealed.akPublic);
  const device = structure(() => parseEccPublic(base64(evidence.devicePublic)));
  const required = ATTRIBUTE.fixedTPM | ATTRIBUTE.fixedParent | ATTRIBUTE.sensitiveDataOrigin;
  if ((device.attributes & required) !== required || device.curve !== TPM_ECC_NIST_P256) {
    throw new TpmAttestationInvalidError(
      'the device key is not a P-256 key made in and fixed to the TPM',
    );
  }
  if (!eccKeyOf(device).equals(binding.csrPublicKey)) {
    throw new TpmAttestationInvalidError('the attested device key is not the key of the CSR');
  }
  const attest = base64(evidence.certifyInfo);
  const certified = structure(() => parseCertifyInfo(attest));
  const signature = structure(() => ecdsaSignatureOf(base64(evidence.signature)));
  if (!certified.name.equals(device.name)) {
    throw new TpmAttestationInvalidError('the TPM certified another key than the device key');
  }
  const signed = verify(
    'sha256',
    attest,
    { key: eccKeyOf(ak), dsaEncoding: 'ieee-p1363' },
    signature,
  );
  if (!signed) {
    throw new TpmAttestationInvalidError('the certification is not signed by the attested AK');
  }
}

/** The EK certificate's key, once it chains (signatures, validity, CA flags) to a trusted root. */
function trustedEkKey(ctx: Pick<CaContext, 'clock' | 'tpmManufacturers'>, der: Buffer): KeyObject {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(der);
  } catch {
    throw new TpmAttestationInvalidError('the EK certificate is not an X.509 certificate');
  }
  const trusted = (ctx.tpmManufacturers ?? [])
    .flatMap((bundle) => bundle.match(PEM_CERTIFICATE) ?? [])
    .map((pem) => new X509Certificate(pem));
  const now = new Date(ctx.clock.now());
  const current = (certificate: X509Certificate) =>
    new Date(certificate.validFrom) <= now && now <= new Date(certificate.validTo);
  if (!current(leaf) || leaf.publicKey.asymmetricKeyType !== 'rsa') {
    throw new TpmAttestationInvalidError('the EK certificate is expired, or not for an RSA EK');
  }
  let certificate = leaf;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const issuer = trusted.find(
      (candidate) =>
        candidate.ca &&
        current(candidate) &&
        certificate.checkIssued(candidate) &&
        certificate.verify(candidate.publicKey),
    );
    if (issuer === undefined) break;
    if (issuer.checkIssued(issuer) && issuer.verify(issuer.publicKey)) return leaf.publicKey;
    certificate = issuer;
  }
  throw new TpmAttestationInvalidError(
    'the EK certificate does not chain to a trusted TPM manufacturer',
  );
}

/** A restricted ECDSA P-256 signing key fixed to its TPM: the only kind that may attest. */
function attestationKey(akPublic: string): TpmEccPublic {
  const ak = structure(() => parseEccPublic(base64(akPublic)));
  const required =
    ATTRIBUTE.fixedTPM |
    ATTRIBUTE.fixedParent |
    ATTRIBUTE.sensitiveDataOrigin |
    ATTRIBUTE.restricted |
    ATTRIBUTE.sign;
  if (
    (ak.attributes & required) !== required ||
    (ak.attributes & ATTRIBUTE.decrypt) !== 0 ||
    ak.scheme !== TPM_ALG_ECDSA ||
    ak.schemeHash !== TPM_ALG_SHA256 ||
    ak.curve !== TPM_ECC_NIST_P256
  ) {
    throw new TpmAttestationInvalidError(
      'the AK is not a restricted ECDSA P-256 key fixed to its TPM',
    );
  }
  return ak;
}

function eccKeyOf(key: TpmEccPublic): KeyObject {
  return structure(() =>
    createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: leftPad(key.x).toString('base64url'),
        y: leftPad(key.y).toString('base64url'),
      },
      format: 'jwk',
    }),
  );
}

function structure<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (
      error instanceof TpmStructureError ||
      error instanceof TypeError ||
      error instanceof RangeError
    ) {
      throw new TpmAttestationInvalidError(error.message);
    }
    throw new TpmAttestationInvalidError('the TPM key is not a valid P-256 point');
  }
}

function base64(value: string): Buffer {
  return Buffer.from(value, 'base64');
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
