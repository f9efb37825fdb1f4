// Who the client is: the socket peer, unless that peer is a trusted proxy, in which case X-Forwarded-For is
// walked from the right past every trusted hop. Untrusted peers cannot choose their own address.
import { BlockList, isIPv6 } from 'node:net';

export interface TrustedProxies {
  /** True when the address (IPv4, IPv6 or IPv4-mapped IPv6) is a trusted proxy. */
  isTrusted(address: string): boolean;
  readonly empty: boolean;
}

export function createTrustedProxies(cidrs: readonly string[]): TrustedProxies {
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr, bits] = c.split('/');
    const type = isIPv6(addr!) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr!, type);
    else list.addSubnet(addr!, Number(bits), type);
  }
  const empty = cidrs.length === 0;
  return {
    empty,
    isTrusted(address: string): boolean {
      if (empty || address === '') return false;
      const plain = unmapIPv4(address);
      try {
        return list.check(plain, isIPv6(plain) ? 'ipv6' : 'ipv4');
      } catch {
        return false;
      }
    },
  };
}

/** "::ffff:127.0.0.1" → "127.0.0.1" */
export function unmapIPv4(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** The client address given the peer and the X-Forwarded-For chain it sent (only used when trusted). */
export function resolveClientIp(peer: string, xff: string | undefined, trusted: TrustedProxies): string {
  if (xff === undefined || !trusted.isTrusted(peer)) return peer;
  const hops = xff.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = stripPort(hops[i]!.trim());
    if (hop === '') continue;
    if (!trusted.isTrusted(hop)) return hop;
    if (i === 0) return hop;
  }
  return peer;
}

function stripPort(hop: string): string {
  if (hop.startsWith('[')) {
    const end = hop.indexOf(']');
    return end > 0 ? hop.slice(1, end) : hop;
  }
  const colon = hop.indexOf(':');
  return colon > 0 && hop.indexOf(':', colon + 1) === -1 ? hop.slice(0, colon) : hop;
}
