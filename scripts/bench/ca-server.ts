/**
 * A real CA listening on 127.0.0.1 in its own process, for the HTTP benchmarks (started by
 * http-latency.ts and sync.ts through `startChild`). Creates a tenant, a user with the default
 * KDF and any number of enrollment tokens through the admin API, prints what a client needs as
 * one JSON line, and serves until its stdin closes or it gets SIGTERM. The login rate limit is
 * raised so the benchmark measures the service, not the limiter. With `database` (a PostgreSQL
 * URL) the store is there; whoever made that database's schema drops it.
 */
import { createEnrollmentToken, createTenant, createUser, openBenchCa } from './ca-setup.js';

export interface CaServerInfo {
  url: string;
  port: number;
  tenantId: string;
  userId: string;
  username: string;
  password: string;
  enrollmentTokens: string[];
  rootPem: string;
}

const argument = JSON.parse(process.argv[2] ?? '{}') as {
  enrollmentTokens?: number;
  database?: string;
};
const ca = await openBenchCa({ loginRateLimitPerMinute: 1e6, database: argument.database });
await ca.app.listen({ port: 0, host: '127.0.0.1' });
const address = ca.app.server.address();
if (address === null || typeof address === 'string') throw new Error('no TCP address');
const tenantId = await createTenant(ca, 'Bench School');
const username = 'amina';
const password = 'correct horse battery staple';
const userId = await createUser(ca, tenantId, username, password);
const enrollmentTokens: string[] = [];
for (let i = 0; i < (argument.enrollmentTokens ?? 0); i++) {
  enrollmentTokens.push(await createEnrollmentToken(ca, tenantId));
}
const info: CaServerInfo = {
  url: `http://127.0.0.1:${address.port}`,
  port: address.port,
  tenantId,
  userId,
  username,
  password,
  enrollmentTokens,
  rootPem: ca.ctx.ca.rootPem,
};
process.stdout.write(`${JSON.stringify(info)}\n`);

let closing = false;
async function shutdown(): Promise<void> {
  if (closing) return;
  closing = true;
  await ca.close();
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown());
process.stdin.on('end', () => void shutdown());
process.stdin.resume();
