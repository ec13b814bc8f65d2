import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@lantern/shared': src('shared'),
      '@lantern/ca-service': src('ca-service'),
      '@lantern/agent': src('agent'),
    },
  },
  test: {
    include: ['{shared,ca-service,agent,desktop}/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default on 2 cores is one file at a time; most files here wait on child processes,
    // sockets and brokers rather than compute, so two at a time roughly halves the wall time.
    maxWorkers: 2,
  },
});
