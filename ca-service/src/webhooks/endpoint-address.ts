import { lookup } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { BlockList, isIP } from 'node:net';

/**
 * Addresses a webhook never goes to: loopback, private, link-local (cloud metadata),
 * carrier-grade NAT, documentation, multicast and reserved ranges, and the IPv6 forms that
 * reach IPv4 (mapped, NAT64, 6to4) so `[::ffff:127.0.0.1]` is no way round.
 */
const REFUSED = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  REFUSED.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['::ffff:0:0', 96],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  REFUSED.addSubnet(network, prefix, 'ipv6');

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** The host of a URL as an IP address, without IPv6 brackets; undefined for a name. */
export function ipOfHost(hostname: string): string | undefined {
  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  return isIP(bare) === 0 ? undefined : bare;
}

/** Whether a webhook may connect to this address (loopback only where tests allow it). */
export function addressAllowed(address: string, allowLoopback: boolean): boolean {
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  if (allowLoopback && LOOPBACK.check(address, family)) return true;
  return !REFUSED.check(address, family);
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for the delivery's socket: the addresses the name resolves to are checked on the
 * connection that uses them, so a name that resolved to a public address when subscribed and
 * to an internal one now (DNS rebinding) reaches nothing.
 */
export function guardedLookup(allowLoopback: boolean) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      if (
        addresses.length === 0 ||
        addresses.some(({ address }) => !addressAllowed(address, allowLoopback))
      )
        return callback(
          Object.assign(new Error(`${hostname} resolves to a refused address`), {
            code: 'address_not_allowed',
          }),
          [],
        );
      if (options.all) return callback(null, addresses);
      const [first] = addresses as [LookupAddress];
      return callback(null, first.address, first.family);
    });
  };
}

/**
 * POSTs a delivery and resolves with the status code; the answer's body is not read. No
 * redirect is followed. An IP literal is checked here, since a socket does not look it up.
 */
export function postToEndpoint(
  url: string,
  request: { headers: Record<string, string>; body: string; signal: AbortSignal },
  allowLoopback: boolean,
): Promise<number> {
  const target = new URL(url);
  const ip = ipOfHost(target.hostname);
  if (ip !== undefined && !addressAllowed(ip, allowLoopback))
    return Promise.reject(
      Object.assign(new Error(`${ip} is a refused address`), { code: 'address_not_allowed' }),
    );
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const outgoing = send(
      target,
      {
        method: 'POST',
        headers: { ...request.headers, 'content-length': Buffer.byteLength(request.body) },
        signal: request.signal,
        lookup: guardedLookup(allowLoopback) as unknown as LookupFunction,
      },
      (response) => {
        response.destroy();
        resolve(response.statusCode ?? 0);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(request.body);
  });
}
