// mailauth ships no types for lib/tools.js; these are the two functions
// src/policy/mailauth.ts calls (RFC 7489 §3.1 domain comparison).
declare module 'mailauth/lib/tools.js' {
  /** Lower case, A-labels, no trailing dot. */
  export function formatDomain(domain: string): string;
  /** The entry of `domainList` whose domain aligns with `fromDomain`, or false. */
  export function getAlignment(fromDomain: string, domainList: string[], strict: boolean): { domain: string } | false;
}
