import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/*
 * Import boundaries: the layer map of docs/architecture.md ("Layers"). Circles are
 * `npm run check:circles`; these rules keep the direction, so a lower room never learns of a
 * higher one even where no circle would close.
 */
const packageImports = (...packages) => ({
  regex: `^(@lantern/(${packages.join('|')})|(\\.\\./)+(${packages.join('|')})/)`,
  message: 'workspaces depend one way: shared below the agent and the CA, and never on each other',
});
// Rooms of ca-service/src, bottom up. A room imports only from its own layer or those below.
const CA_LAYERS = [
  ['foundation', ['pki', 'secrets', 'passwords', 'tokens', 'observability', 'store']],
  ['events', ['outbox', 'audit']],
  ['context', ['context']],
  [
    'features',
    [
      'api-keys',
      'tenants',
      'users',
      'devices',
      'device-proof',
      'issuance',
      'enrollment',
      'renewal',
      'auth',
      'mfa',
      'signin',
      'sso',
      'revocation',
      'sync',
      'inbox',
      'console',
      'self-service',
      'webhooks',
    ],
  ],
  ['http', ['http']],
];
// What sits on top: the composition (open-ca, the app, the backbone, serve) and the CLI.
const CA_TOP = { dirs: ['data-dir', 'cli'], files: ['app', 'serve', 'event-backbone', 'index'] };
const roomImports = (rooms, files = []) => ({
  regex: [
    `^\\.\\.?/(${rooms.join('|')})/`,
    ...(files.length > 0 ? [`^\\.\\.?/(${files.join('|')})\\.js$`] : []),
  ].join('|'),
  message: 'a lower layer of the CA imports a higher one (docs/architecture.md, Layers)',
});
// Within the features, sign-in sits above the credentials it checks, and devices below both.
const FEATURE_ORDER = {
  auth: ['mfa', 'signin'],
  mfa: ['signin'],
  signin: ['sso'],
  devices: ['auth', 'mfa', 'signin', 'revocation'],
};
const caLayerConfigs = CA_LAYERS.flatMap(([, rooms], index) => {
  const above = CA_LAYERS.slice(index + 1).flatMap(([, higher]) => higher);
  return rooms.map((room) => ({
    files: [`ca-service/src/${room}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            packageImports('agent', 'desktop'),
            roomImports([...above, ...CA_TOP.dirs], CA_TOP.files),
            ...(FEATURE_ORDER[room] ? [roomImports(FEATURE_ORDER[room])] : []),
          ],
        },
      ],
    },
  }));
});

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', 'certs/dev/**', 'test-output/**', 'coverage/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly' },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-console': 'off',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    files: ['shared/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [packageImports('ca-service', 'agent', 'desktop')] },
      ],
    },
  },
  {
    files: ['agent/src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [packageImports('ca-service', 'desktop')] }],
    },
  },
  {
    files: ['ca-service/src/*.ts', ...CA_TOP.dirs.map((dir) => `ca-service/src/${dir}/**/*.ts`)],
    rules: {
      'no-restricted-imports': ['error', { patterns: [packageImports('agent', 'desktop')] }],
    },
  },
  ...caLayerConfigs,
);
