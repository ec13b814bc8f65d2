import { createRequire } from 'node:module';
import type * as Asn1js from 'asn1js';

// Required on first use: imported from ESM, asn1js's 150 KB CommonJS bundle is scanned for its
// export names at every start, which `lantern-agent status` and `verify` would pay for nothing.
const require = createRequire(import.meta.url);
const asn1 = () => require('asn1js') as typeof Asn1js;

export interface OfflinePolicy {
  tenantId: string;
  deviceId: string;
  maxOfflineSeconds: number;
}

/**
 * DER of the Lantern offline-policy extension (OID_EXT_LANTERN_OFFLINE_POLICY):
 * `SEQUENCE { tenantId UTF8String, deviceId UTF8String, maxOfflineSeconds INTEGER }`.
 */
export function encodeOfflinePolicy(policy: OfflinePolicy): ArrayBuffer {
  const asn1js = asn1();
  return new asn1js.Sequence({
    value: [
      new asn1js.Utf8String({ value: policy.tenantId }),
      new asn1js.Utf8String({ value: policy.deviceId }),
      new asn1js.Integer({ value: policy.maxOfflineSeconds }),
    ],
  }).toBER();
}

/** Throws on anything that is not exactly the extension's DER. */
export function decodeOfflinePolicy(der: ArrayBuffer | Uint8Array): OfflinePolicy {
  const asn1js = asn1();
  const bytes = der instanceof Uint8Array ? der : new Uint8Array(der);
  const { offset, result } = asn1js.fromBER(bytes);
  if (offset !== bytes.byteLength || !(result instanceof asn1js.Sequence)) {
    throw new TypeError('offline policy is not a single DER SEQUENCE');
  }
  const [tenant, device, maxOffline] = result.valueBlock.value;
  if (
    !(tenant instanceof asn1js.Utf8String) ||
    !(device instanceof asn1js.Utf8String) ||
    !(maxOffline instanceof asn1js.Integer) ||
    result.valueBlock.value.length !== 3
  ) {
    throw new TypeError('offline policy fields are not UTF8String, UTF8String, INTEGER');
  }
  return {
    tenantId: tenant.valueBlock.value,
    deviceId: device.valueBlock.value,
    maxOfflineSeconds: maxOffline.valueBlock.valueDec,
  };
}
