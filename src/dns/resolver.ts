// The DNS resolver every lookup of kakitome goes through: the configured servers
// (`[dns] servers`, "host:port" as dns.Resolver#setServers takes them) or the system
// resolver when none are given, with a bounded time per query so that a dead server
// delays mail by seconds, not minutes.
import { Resolver } from 'node:dns/promises';

/** Per-query timeout of one try; c-ares doubles it on each further try. */
export const DNS_TIMEOUT_MS = 5000;
export const DNS_TRIES = 2;

export interface ResolverOptions {
  timeoutMs?: number;
  tries?: number;
}

/** A resolver asking the given servers (empty: those of the system, /etc/resolv.conf). */
export function createResolver(servers: readonly string[], options: ResolverOptions = {}): Resolver {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? DNS_TIMEOUT_MS, tries: options.tries ?? DNS_TRIES });
  if (servers.length > 0) resolver.setServers([...servers]);
  return resolver;
}
