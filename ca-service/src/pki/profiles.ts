import { readFileSync } from 'node:fs';

export interface CaProfile {
  name: string;
  subject: { commonName: string; organization?: string };
  validityDays: number;
  basicConstraints: { ca: true; pathLenConstraint?: number };
  keyUsage: string[];
}

export interface DeviceBindingProfile {
  name: 'device-binding';
  validityDays: number;
  backdateSeconds: number;
  renewFromFraction: number;
  renewalGraceDays: number;
  maxOfflineSeconds: number;
  keyUsage: string[];
  extendedKeyUsage: string[];
  allowedKeys: { algorithm: 'ECDSA'; namedCurve: 'P-256' }[];
}

const PROFILES_DIR = new URL('../../../certs/profiles/', import.meta.url);

function load<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`${name}.json`, PROFILES_DIR), 'utf8')) as T;
}

/** Certificate profiles are code reviewed as data: `certs/profiles/*.json`. */
export const profiles = {
  rootCa: () => load<CaProfile>('root-ca'),
  issuingCa: () => load<CaProfile>('issuing-ca'),
  deviceBinding: () => load<DeviceBindingProfile>('device-binding'),
};
