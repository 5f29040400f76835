// Network lists (CIDR) for listener allow/deny lists and relay.trusted_networks.
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export interface NetworkList {
  includes(address: string): boolean;
  readonly empty: boolean;
}

import { plainAddress } from '../../mail/ip.ts';

export { plainAddress };

/** A list built from CIDR strings already validated by the config schema ("10.0.0.0/8", "::1/128"). */
export function networkList(cidrs: readonly string[]): NetworkList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [network, prefix] = cidr.split('/') as [string, string];
    list.addSubnet(network, Number(prefix), isIPv6(network) ? 'ipv6' : 'ipv4');
  }
  return {
    empty: cidrs.length === 0,
    includes(address: string): boolean {
      const plain = plainAddress(address);
      if (isIPv4(plain)) return list.check(plain, 'ipv4');
      if (isIPv6(plain)) return list.check(plain, 'ipv6');
      return false;
    },
  };
}

export type AccessVerdict = 'allow' | 'deny';

/** Deny wins; an empty allow list allows every network. */
export function checkAccess(address: string, allow: NetworkList, deny: NetworkList): AccessVerdict {
  if (deny.includes(address)) return 'deny';
  if (!allow.empty && !allow.includes(address)) return 'deny';
  return 'allow';
}
