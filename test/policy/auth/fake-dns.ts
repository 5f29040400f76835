// A resolver answering from fixed data, in the shape of src/policy/spf/resolver.ts (what
// mailauthResolver makes of node:dns), for the policy unit tests. Real DNS (dnsmasq) is
// for the end-to-end tests.
import { dnsError, type DnsAnswer, type MailauthResolver, type MxAnswer } from '../../../src/policy/spf/resolver.ts';

export interface FakeNode {
  /** Each record a string, or its character-strings. */
  TXT?: (string | string[])[];
  A?: string[];
  AAAA?: string[];
  MX?: MxAnswer[];
  PTR?: string[];
  CNAME?: string[];
  /** Every query for the name fails with this node:dns code (ESERVFAIL, ETIMEOUT…), or per type. */
  fail?: string | Partial<Record<string, string>>;
}

export type FakeZone = Record<string, FakeNode>;

export interface FakeResolver extends MailauthResolver {
  /** Every question asked, "TYPE name", in order. */
  queries: string[];
}

/** Names not in the zone are NXDOMAIN (ENOTFOUND); a name without the type is ENODATA. */
export function fakeResolver(zone: FakeZone): FakeResolver {
  const nodes = new Map(Object.entries(zone).map(([name, node]) => [normalise(name), node]));
  const queries: string[] = [];
  const resolve = async (name: string, rrtype: string): Promise<DnsAnswer> => {
    const type = rrtype.toUpperCase();
    queries.push(`${type} ${name}`);
    let key = normalise(name);
    for (let hops = 0; hops < 8; hops++) {
      const node = nodes.get(key);
      if (!node) throw dnsError('ENOTFOUND', name, type);
      const failure = typeof node.fail === 'string' ? node.fail : node.fail?.[type];
      if (failure) throw dnsError(failure, name, type);
      if (type !== 'CNAME' && node.CNAME?.[0] !== undefined) {
        key = normalise(node.CNAME[0]);
        continue;
      }
      const answer = answerOf(node, type);
      if (!answer || answer.length === 0) throw dnsError('ENODATA', name, type);
      return answer;
    }
    throw dnsError('ESERVFAIL', name, type);
  };
  return Object.assign(resolve, { queries });
}

function answerOf(node: FakeNode, type: string): DnsAnswer | undefined {
  switch (type) {
    case 'TXT':
      return node.TXT?.map((record) => (Array.isArray(record) ? [...record] : [record]));
    case 'MX':
      return node.MX?.map((mx) => ({ ...mx }));
    case 'A':
    case 'AAAA':
    case 'PTR':
    case 'CNAME':
      return node[type]?.slice();
    default:
      return undefined;
  }
}

const normalise = (name: string) => name.toLowerCase().replace(/\.$/, '');
