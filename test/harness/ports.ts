// Free-port helpers. Binding port 0 lets the kernel choose; the port is released
// before the caller binds it, so callers that race must retry on EADDRINUSE.
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';

/** The standard port of each kakitome listener role; `--port-offset N` adds N to each. */
export const STANDARD_PORTS = { smtp: 25, submission: 587, submissions: 465, pop3: 110, pop3s: 995 } as const;
export type ListenerRole = keyof typeof STANDARD_PORTS;
export type ListenerPorts = Record<ListenerRole, number>;

export function portsForOffset(offset: number): ListenerPorts {
  return {
    smtp: STANDARD_PORTS.smtp + offset,
    submission: STANDARD_PORTS.submission + offset,
    submissions: STANDARD_PORTS.submissions + offset,
    pop3: STANDARD_PORTS.pop3 + offset,
    pop3s: STANDARD_PORTS.pop3s + offset,
  };
}

function listenTcp(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

function listenUdp(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.once('error', () => { socket.close(); resolve(false); });
    socket.bind(port, host, () => socket.close(() => resolve(true)));
  });
}

export async function isTcpPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return (await listenTcp(port, host)) === port;
}

export async function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  const port = await listenTcp(0, host);
  if (port === undefined) throw new Error(`cannot bind any TCP port on ${host}`);
  return port;
}

/** A port free for both TCP and UDP on `host` (what a DNS server needs). */
export async function freeTcpUdpPort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freeTcpPort(host);
    if (await listenUdp(port, host)) return port;
  }
  throw new Error(`no port free for both TCP and UDP on ${host} after 50 attempts`);
}

// Offsets already handed out in this process, so two instances started back to back
// (before either has bound its ports) never get the same one.
const offsetsInUse = new Set<number>();

/**
 * A random port offset in [min, max] such that every listener port (25, 587, 465,
 * 110, 995 plus the offset) is currently free on `host`.
 */
export async function pickPortOffset(host = '127.0.0.1', { min = 20000, max = 40000, attempts = 50 } = {}): Promise<number> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const offset = randomInt(min, max + 1);
    if (offsetsInUse.has(offset)) continue;
    const free = await Promise.all(Object.values(portsForOffset(offset)).map((port) => isTcpPortFree(port, host)));
    if (free.every(Boolean)) {
      offsetsInUse.add(offset);
      return offset;
    }
  }
  throw new Error(`no port offset in ${min}–${max} with all listener ports free on ${host} after ${attempts} attempts`);
}
