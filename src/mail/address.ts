// Mail address and domain validation for the names kakitome stores: local domains,
// accounts and aliases. The rules are deliberately narrower than RFC 5322 so that a
// stored name is unambiguous, printable and never usable for routing tricks; the
// SMTP parser (RFC 5321 paths) is separate and rejects what it cannot map to these.
import { domainToASCII } from 'node:url';

export class AddressError extends Error {}

export interface MailAddress {
  /** normalised `local@domain` (lower case, domain in ASCII/punycode) */
  address: string;
  local: string;
  domain: string;
}

// RFC 5321 §4.5.3.1.1: local part at most 64 octets; §4.5.3.1.3: a path at most
// 256 octets including the angle brackets, which leaves 254 for the address.
const MAX_LOCAL = 64;
const MAX_ADDRESS = 254;
// RFC 1035 §2.3.4: names at most 255 octets on the wire, i.e. 253 characters of text.
const MAX_DOMAIN = 253;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
// Letters, digits and . _ - + = only: no %, ! or / (old routing syntaxes), no quotes.
const LOCAL_PART = /^[a-z0-9_+=-]+(?:\.[a-z0-9_+=-]+)*$/;
// Any C0 control, DEL, or C1 control.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function describe(input: string): string {
  return JSON.stringify(input.length > 80 ? `${input.slice(0, 80)}…` : input);
}

/** Normalises a domain name: IDN to punycode (RFC 5891), lower case, at least two labels. */
export function normaliseDomain(input: string): string {
  if (CONTROL.test(input)) throw new AddressError(`invalid domain ${describe(input)}: control character`);
  if (input.length === 0) throw new AddressError('invalid domain "": empty');
  if (input.length > MAX_DOMAIN * 4) throw new AddressError(`invalid domain ${describe(input)}: too long`);
  if (/[\s/\\@%!:[\]]/.test(input)) throw new AddressError(`invalid domain ${describe(input)}: forbidden character`);
  const ascii = domainToASCII(input).toLowerCase();
  if (ascii === '') throw new AddressError(`invalid domain ${describe(input)}`);
  if (ascii.length > MAX_DOMAIN) throw new AddressError(`invalid domain ${describe(input)}: longer than ${MAX_DOMAIN} characters`);
  const labels = ascii.split('.');
  if (labels.length < 2) throw new AddressError(`invalid domain ${describe(input)}: a mail domain needs at least two labels`);
  for (const label of labels) {
    if (!LABEL.test(label)) throw new AddressError(`invalid domain ${describe(input)}: bad label ${describe(label)}`);
  }
  // An all-numeric top label would make the name look like an IPv4 address.
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) {
    throw new AddressError(`invalid domain ${describe(input)}: the top-level label is numeric`);
  }
  return ascii;
}

/** Validates and normalises `local@domain` for an account or alias. Throws AddressError. */
export function parseMailAddress(input: string): MailAddress {
  if (CONTROL.test(input)) throw new AddressError(`invalid address ${describe(input)}: control character`);
  const at = input.indexOf('@');
  if (at < 0) throw new AddressError(`invalid address ${describe(input)}: no @`);
  if (input.indexOf('@', at + 1) >= 0) throw new AddressError(`invalid address ${describe(input)}: more than one @`);
  const localInput = input.slice(0, at);
  const domainInput = input.slice(at + 1);
  if (localInput.length === 0) throw new AddressError(`invalid address ${describe(input)}: empty local part`);
  if (localInput.length > MAX_LOCAL) {
    throw new AddressError(`invalid address ${describe(input)}: local part longer than ${MAX_LOCAL} characters`);
  }
  const local = localInput.toLowerCase();
  if (!LOCAL_PART.test(local)) {
    throw new AddressError(
      `invalid address ${describe(input)}: the local part may hold letters, digits and . _ - + = (no leading, trailing or double dots)`,
    );
  }
  let domain: string;
  try {
    domain = normaliseDomain(domainInput);
  } catch (err) {
    throw new AddressError(`invalid address ${describe(input)}: ${(err as Error).message}`);
  }
  const address = `${local}@${domain}`;
  if (address.length > MAX_ADDRESS) {
    throw new AddressError(`invalid address ${describe(input)}: longer than ${MAX_ADDRESS} characters`);
  }
  return { address, local, domain };
}
