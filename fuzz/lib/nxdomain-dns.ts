// A DNS server on loopback that answers every question NXDOMAIN (RFC 1035 §4.1.1
// RCODE 3), in the same thread as the fuzzed server: its SPF, DKIM and DMARC
// lookups finish at once with "no record", and nothing leaves the machine. It ends
// with the worker thread, so a stopped worker leaves no process behind.
import { createSocket, type Socket } from 'node:dgram';

export interface NxdomainDns {
  /** "127.0.0.1:PORT", for the config's dns.servers. */
  server: string;
  close(): Promise<void>;
}

export async function startNxdomainDns(): Promise<NxdomainDns> {
  const socket: Socket = createSocket('udp4');
  socket.on('message', (query, peer) => {
    if (query.length < 12) return;
    const reply = Buffer.from(query);
    // QR=1, opcode copied, AA=1, RD copied; RA=1, RCODE=3; no answers, authority or extra.
    reply[2] = 0x80 | (query[2]! & 0x79) | 0x04;
    reply[3] = 0x80 | 0x03;
    reply.writeUInt16BE(0, 6);
    reply.writeUInt16BE(0, 8);
    reply.writeUInt16BE(0, 10);
    // Only the question section stays (an EDNS OPT record in "additional" is dropped).
    let end = 12;
    while (end < reply.length && reply[end] !== 0) end += reply[end]! + 1;
    socket.send(reply.subarray(0, Math.min(reply.length, end + 5)), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    server: `127.0.0.1:${socket.address().port}`,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
