/** Upper bound on what reaches the KDF, whose first step hashes the whole input. */
export const MAX_SECRET_BYTES = 1024;

export type CredentialRejectReason =
  'too_short' | 'too_long' | 'not_digits' | 'too_predictable' | 'too_common' | 'not_a_string';

export type CredentialVerdict = { ok: true } | { ok: false; reason: CredentialRejectReason };

export interface CredentialPolicy {
  readonly kind: 'password' | 'pin';
  check(secret: unknown): CredentialVerdict;
}

export interface PasswordPolicyOptions {
  /** Counted in Unicode code points after NFC, which is what a person thinks of as characters. */
  minLength?: number;
  maxBytes?: number;
  /** Refused whatever their length, compared case-insensitively (lower case entries). */
  refuse?: ReadonlySet<string>;
}

/**
 * The passwords tried first by every guessing list and seen most in breach corpora (8
 * characters and more: shorter ones fail on length anyway). Small on purpose: it stops the
 * first guesses of an offline search of a copied device, not a determined dictionary.
 */
export const COMMON_PASSWORDS: ReadonlySet<string> = new Set([
  'password',
  'password1',
  'password12',
  'password123',
  'password1234',
  'passw0rd',
  'p@ssw0rd',
  'p@ssword',
  'pa$$word',
  '12345678',
  '123456789',
  '1234567890',
  '0123456789',
  '87654321',
  '11111111',
  '00000000',
  '88888888',
  '12341234',
  '11223344',
  '12121212',
  '123123123',
  '1q2w3e4r',
  '1q2w3e4r5t',
  'q1w2e3r4',
  'qwertyui',
  'qwertyuiop',
  'qwerty123',
  'qwerty12',
  'asdfghjk',
  'asdfghjkl',
  'zxcvbnm1',
  '1qaz2wsx',
  'zaq12wsx',
  'abcd1234',
  'abc12345',
  'abcdefgh',
  'aa123456',
  'iloveyou',
  'iloveyou1',
  'sunshine',
  'princess',
  'football',
  'baseball',
  'superman',
  'starwars',
  'whatever',
  'trustno1',
  'welcome1',
  'welcome123',
  'letmein1',
  'letmein123',
  'computer',
  'internet',
  'michelle',
  'jennifer',
  'corvette',
  'mercedes',
  'dragon123',
  'monkey123',
  'changeme',
  'changeme1',
  'administrator',
  'admin123',
  'admin1234',
  'student1',
  'student123',
  'teacher1',
  'teacher123',
  'school123',
  'lantern1',
  'lantern123',
  'homework',
  'passpass',
  'secret123',
  'default1',
  'access14',
  'master12',
  'football1',
  'shadow12',
  'blink182',
  'pokemon1',
  'minecraft',
  'fortnite',
  'liverpool',
  'chelsea1',
  'arsenal1',
  'qwertyqwerty',
  'q1w2e3r4t5',
  '1234qwer',
  'qazwsxedc',
]);

export interface PinPolicyOptions {
  minDigits?: number;
  maxDigits?: number;
  /** Refuse one repeated digit and straight runs (0000, 1234, 9876): the first PINs guessed. */
  refusePredictable?: boolean;
}

const refuse = (reason: CredentialRejectReason): CredentialVerdict => ({ ok: false, reason });
const ACCEPT: CredentialVerdict = { ok: true };

/**
 * Length is the only composition rule (NIST SP 800-63B §5.1.1.2): every character is allowed,
 * spaces and emoji included, and nothing is trimmed, so what was typed is what is hashed.
 */
export function passwordPolicy(options: PasswordPolicyOptions = {}): CredentialPolicy {
  const minLength = options.minLength ?? 8;
  const maxBytes = Math.min(options.maxBytes ?? MAX_SECRET_BYTES, MAX_SECRET_BYTES);
  return {
    kind: 'password',
    check(secret) {
      if (typeof secret !== 'string') return refuse('not_a_string');
      // Measured before normalising, so a hostile megabyte is refused without being walked.
      if (Buffer.byteLength(secret, 'utf8') > maxBytes) return refuse('too_long');
      const normalised = secret.normalize('NFC');
      if (Buffer.byteLength(normalised, 'utf8') > maxBytes) return refuse('too_long');
      if ([...normalised].length < minLength) return refuse('too_short');
      return options.refuse?.has(normalised.toLowerCase()) ? refuse('too_common') : ACCEPT;
    },
  };
}

/**
 * Learner PINs: short, digits only (young learners on shared tablets), which is safe only
 * because the offline lockout counter and the server's lockout bound the guesses.
 */
export function pinPolicy(options: PinPolicyOptions = {}): CredentialPolicy {
  const minDigits = options.minDigits ?? 4;
  const maxDigits = options.maxDigits ?? 8;
  const refusePredictable = options.refusePredictable ?? true;
  return {
    kind: 'pin',
    check(secret) {
      if (typeof secret !== 'string') return refuse('not_a_string');
      if (secret.length > maxDigits) return refuse('too_long');
      if (!/^[0-9]*$/.test(secret)) return refuse('not_digits');
      if (secret.length < minDigits) return refuse('too_short');
      return refusePredictable && isPredictable(secret) ? refuse('too_predictable') : ACCEPT;
    },
  };
}

function isPredictable(digits: string): boolean {
  const steps = new Set<number>();
  for (let i = 1; i < digits.length; i++) {
    steps.add((digits.charCodeAt(i) - digits.charCodeAt(i - 1) + 10) % 10);
  }
  // One constant step: 0 repeats a digit, 1 and 9 are runs up and down (wrapping, as 7890).
  const [step] = steps;
  return steps.size === 1 && (step === 0 || step === 1 || step === 9);
}
