// The DNS questions kakitome asks: the part of node:dns/promises' Resolver that the
// checks, the DNSBL and the outbound relay use (a Resolver is one; a fake one in unit tests).

export interface MxAnswer {
  exchange: string;
  priority: number;
}

export interface DnsLookups {
  resolveTxt(name: string): Promise<string[][]>;
  resolveMx(name: string): Promise<MxAnswer[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  resolvePtr(name: string): Promise<string[]>;
  resolveCname(name: string): Promise<string[]>;
}
