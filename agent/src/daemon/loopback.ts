/** Where `lantern-agent serve` listens unless told otherwise (and where `page` looks for it). */
export const DEFAULT_AGENT_HOST = '127.0.0.1';
export const DEFAULT_AGENT_PORT = 7767;

const IPV4_LOOPBACK = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** Names and addresses the agent may listen on, and that may appear in a Host header. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare === 'localhost' || bare === '::1' || IPV4_LOOPBACK.test(bare);
}

/** A peer address (`socket.remoteAddress`), IPv4-mapped IPv6 included. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const bare = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return bare === '::1' || IPV4_LOOPBACK.test(bare);
}
