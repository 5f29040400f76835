// Tests talk to loopback only (127.0.0.0/8, ::1). Client helpers call assertLoopback
// before connecting so a typo can never send test traffic to the outside world.
import { isIP } from 'node:net';
import { randomInt } from 'node:crypto';

export function isLoopback(host: string): boolean {
  const address = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(address) === 4) return address.startsWith('127.');
  if (isIP(address) === 6) return address === '::1' || address === '0:0:0:0:0:0:0:1';
  return host === 'localhost';
}

export function assertLoopback(host: string, what = 'host'): void {
  if (!isLoopback(host)) {
    throw new Error(`test ${what} ${JSON.stringify(host)} is not a loopback address; tests may only use 127.0.0.0/8 or ::1`);
  }
}

/** A random 127.x.y.z address (never 127.0.0.1); Linux routes all of 127/8 to lo. */
export function randomLoopbackAddress(): string {
  return `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}
