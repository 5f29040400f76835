// Client addresses as text.

/**
 * An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d (RFC 4291
 * §2.5.5.2); it is the IPv4 address it is.
 */
export function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}
