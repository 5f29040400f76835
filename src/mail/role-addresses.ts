// The role mailboxes every local domain has. RFC 5321 §4.5.1: "postmaster" MUST be
// supported, case-insensitively, for every domain the server delivers for; RFC 2142
// §2: "abuse" is where reports of inappropriate public behaviour go.
export const ROLE_LOCAL_PARTS = ['postmaster', 'abuse'] as const;

/** postmaster@DOMAIN and abuse@DOMAIN, in that order. */
export function roleAddressesOf(domain: string): string[] {
  return ROLE_LOCAL_PARTS.map((local) => `${local}@${domain}`);
}

export function isRoleAddress(address: string): boolean {
  const at = address.lastIndexOf('@');
  return (ROLE_LOCAL_PARTS as readonly string[]).includes(address.slice(0, at));
}
