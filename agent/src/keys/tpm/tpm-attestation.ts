import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TpmUnavailableError } from '../../errors.js';
import type { TpmBlobs } from './tpm-blobs.js';
import { TpmCommandError } from './tpm2-tools.js';
import type { Tpm2Tools } from './tpm2-tools.js';

/** TCG EK Credential Profile: the RSA 2048 EK certificate's NV index. */
const RSA_EK_CERT_INDEX = '0x01c00002';

/** What the CA's `tpmAttestation` field takes, all base64. */
export interface TpmAttestationProof {
  secret: string;
  devicePublic: string;
  certifyInfo: string;
  signature: string;
}

/**
 * One attestation of the device key (the CA's side is ca-service/src/enrollment/tpm/): the TPM's
 * EK certificate and a fresh attestation key (AK) made under the EK go to the CA; the CA's
 * credential comes back and only this TPM can release it (TPM2_ActivateCredential), and the AK
 * certifies the device key (TPM2_Certify). The scratch directory holds object contexts only.
 */
export class TpmAttestation {
  readonly ekCertificate: string;
  readonly akPublic: string;
  private readonly dir: string;

  constructor(
    private readonly tpm: Tpm2Tools,
    private readonly parent: string,
    private readonly device: TpmBlobs,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'lantern-attest-'));
    try {
      tpm.run('tpm2_createek', ['-c', this.file('ek.ctx'), '-G', 'rsa', '-u', this.file('ek.pub')]);
      tpm.flushTransient();
      tpm.run('tpm2_createak', [
        ...['-C', this.file('ek.ctx'), '-c', this.file('ak.ctx')],
        ...['-G', 'ecc', '-g', 'sha256', '-s', 'ecdsa'],
        ...['-u', this.file('ak.pub'), '-r', this.file('ak.priv'), '-n', this.file('ak.name')],
      ]);
      tpm.flushTransient();
      this.ekCertificate = derOf(ekCertificateNv(tpm)).toString('base64');
      this.akPublic = readFileSync(this.file('ak.pub')).toString('base64');
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** Releases the CA's credential and certifies the device key with the AK. */
  prove(credential: string): TpmAttestationProof {
    const session = this.file('session.ctx');
    writeFileSync(this.file('credential'), Buffer.from(credential, 'base64'));
    // The EK's policy: PolicySecret with the endorsement hierarchy (empty auth).
    this.tpm.run('tpm2_startauthsession', ['--policy-session', '-S', session]);
    try {
      this.tpm.run('tpm2_policysecret', ['-S', session, '-c', 'e', '-Q']);
      this.tpm.run('tpm2_activatecredential', [
        ...['-c', this.file('ak.ctx'), '-C', this.file('ek.ctx')],
        ...['-i', this.file('credential'), '-o', this.file('secret'), '-P', `session:${session}`],
      ]);
    } finally {
      this.tpm.run('tpm2_flushcontext', [session]);
      this.tpm.flushTransient();
    }
    const attest = this.file('attest');
    const signature = this.file('signature');
    this.tpm.withObject(this.parent, this.device, (context) =>
      this.tpm.run('tpm2_certify', [
        ...['-c', context, '-C', this.file('ak.ctx'), '-g', 'sha256'],
        ...['-o', attest, '-s', signature],
      ]),
    );
    return {
      secret: readFileSync(this.file('secret')).toString('base64'),
      devicePublic: readFileSync(this.device.pub).toString('base64'),
      certifyInfo: readFileSync(attest).toString('base64'),
      signature: readFileSync(signature).toString('base64'),
    };
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
    this.tpm.flushTransient();
  }

  private file(name: string): string {
    return join(this.dir, name);
  }
}

function ekCertificateNv(tpm: Tpm2Tools): Buffer {
  try {
    return tpm.run('tpm2_nvread', [RSA_EK_CERT_INDEX, '-C', 'o']);
  } catch (error) {
    if (!(error instanceof TpmCommandError)) throw error;
    throw new TpmUnavailableError(
      `the TPM holds no RSA EK certificate (NV ${RSA_EK_CERT_INDEX}): ${error.message}`,
    );
  }
}

/** The certificate itself: an NV index may be larger than the DER it holds. */
function derOf(nv: Buffer): Buffer {
  if (nv.length < 4 || nv[0] !== 0x30) {
    throw new TpmUnavailableError('the TPM holds no RSA EK certificate (NV 0x01c00002)');
  }
  const first = nv[1] ?? 0;
  if (first < 0x80) return nv.subarray(0, 2 + first);
  const lengthBytes = first & 0x7f;
  let length = 0;
  for (let i = 0; i < lengthBytes; i++) length = length * 256 + (nv[2 + i] ?? 0);
  return nv.subarray(0, 2 + lengthBytes + length);
}
