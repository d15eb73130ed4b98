import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * SSRF guard for webhook and robot URLs. A provider types the URL, the worker POSTs to it from inside
 * our network: unless private targets are allowed (NOTIFY_ALLOW_PRIVATE_TARGETS, default off in
 * production), only http(s) URLs whose every resolved address is public are accepted. The check runs
 * at create time (clear 400) and again at send time inside the socket's DNS lookup, so the connection
 * goes to the very address that was checked (a DNS answer that changes in between - rebinding - is
 * checked again, not trusted).
 */
export class TargetRefusedError extends Error {
  override readonly name = 'TargetRefusedError';
}

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const)
  blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96], // NAT64 maps IPv4 (possibly private) addresses
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  blocked.addSubnet(net, prefix, 'ipv6');

/** True for an address a notification may be sent to without the private-targets allowance. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !blocked.check(address, 'ipv4');
  if (family !== 6) return false;
  const lower = address.toLowerCase();
  // IPv4-mapped (::ffff:a.b.c.d or ::ffff:xxxx:xxxx) and IPv4-compatible forms: judge the IPv4 inside.
  const mapped = /^(?:0{0,4}:){0,5}(?:ffff:)?(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped) return isPublicAddress(mapped[1]);
  const hexMapped = /^(?:0{0,4}:){0,5}ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hexMapped) {
    const hi = parseInt(hexMapped[1], 16);
    const lo = parseInt(hexMapped[2], 16);
    return isPublicAddress(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
  }
  return !blocked.check(lower, 'ipv6');
}

/** The URL parsed, or an error naming what is wrong (scheme, credentials, syntax). */
export function parseTargetUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetRefusedError('not a valid URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new TargetRefusedError(`scheme ${url.protocol.replace(':', '')} is not allowed (http or https only)`);
  if (url.username || url.password) throw new TargetRefusedError('credentials in the URL are not allowed');
  return url;
}

function hostOf(url: URL): string {
  // URL keeps IPv6 literals in brackets.
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/** Resolves the URL's host and checks every address (create time). */
export async function checkTargetUrl(raw: string, allowPrivate: boolean): Promise<void> {
  const url = parseTargetUrl(raw);
  if (allowPrivate) return;
  const host = hostOf(url);
  const addresses = isIP(host) ? [host] : await resolveAll(host);
  const bad = addresses.find((a) => !isPublicAddress(a));
  if (bad !== undefined) throw new TargetRefusedError(`${host} resolves to ${bad}, a loopback, private, link-local or reserved address`);
}

function resolveAll(host: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(host, { all: true, verbatim: true }, (err, addresses: LookupAddress[]) => {
      if (err) reject(new TargetRefusedError(`${host} does not resolve (${err.code ?? err.message})`));
      else resolve(addresses.map((a) => a.address));
    });
  });
}

/**
 * A `lookup` for http.request: resolves, refuses if any address is not public, and hands the socket
 * the checked address (send time; the connection cannot go anywhere the check did not see).
 */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true, verbatim: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 4);
      const list = addresses;
      if (!allowPrivate) {
        const bad = list.find((a) => !isPublicAddress(a.address));
        if (bad) return callback(new TargetRefusedError(`${hostname} resolves to ${bad.address}, a loopback, private, link-local or reserved address`), '', 4);
      }
      if (list.length === 0) return callback(new TargetRefusedError(`${hostname} has no address`), '', 4);
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      return callback(null, list[0].address, list[0].family);
    });
  };
}

/** For IP-literal hosts (no lookup happens): the check before connecting. */
export function checkLiteralHost(url: URL, allowPrivate: boolean): void {
  const host = hostOf(url);
  if (!allowPrivate && isIP(host) && !isPublicAddress(host)) {
    throw new TargetRefusedError(`${host} is a loopback, private, link-local or reserved address`);
  }
}
