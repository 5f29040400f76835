// Message and header syntax from the internet: the header section parser and address
// lists (src/mail/header.ts), the Sender ID PRA (src/policy/senderid/pra.ts), incoming
// Authentication-Results (src/policy/auth-results.ts), account addresses
// (src/mail/address.ts) and remote SMTP replies kept for DSNs and logs (src/queue/client.ts).
import { addressesOf, parseHeaderSection } from '../../src/mail/header.ts';
import { findPra } from '../../src/policy/senderid/pra.ts';
import { authservIdOf, removeOwnAuthResults } from '../../src/policy/auth-results.ts';
import { AddressError, parseMailAddress } from '../../src/mail/address.ts';
import { clean } from '../../src/queue/client.ts';
import { corpusInputs } from '../lib/inputs.ts';
import { invariant, type FuzzTarget } from '../lib/target.ts';

const HEADER_TOKENS = ['\r\n', '\r\n ', '\r\n\t', '\r\n\r\n', ':', ': ', 'From: ', 'Sender: ', 'Resent-From: ', 'Resent-Sender: ', 'To: ', 'Authentication-Results: ', 'mail.example.test', '; ', '(', ')', '"', '\\', '<', '>', '@', ',', 'group:', ';', '=?utf-8?B?', '?=', 'spf=pass', 'dkim=fail', '\0', '\u00e9'];
const AUTHSERV_ID = 'mail.example.test';

const mailHeader: FuzzTarget = {
  name: 'mail-header',
  about: 'header sections of incoming messages: fields, folding, address lists, the PRA, Authentication-Results',
  ...corpusInputs('mail-header', HEADER_TOKENS, 32_768),
  check(input) {
    const section = parseHeaderSection(input);
    invariant(section.end <= input.length, 'header end past the message');
    let previous = 0;
    for (const field of section.fields) {
      invariant(field.start >= previous && field.end > field.start && field.end <= section.end, 'field offsets out of order');
      previous = field.end;
      addressesOf(field.value);
      authservIdOf(field.value);
    }
    findPra(input);
    const kept = removeOwnAuthResults(input, AUTHSERV_ID);
    invariant(kept.length <= input.length, 'removing fields made the message longer');
    invariant(removeOwnAuthResults(kept, AUTHSERV_ID).equals(kept), 'a second removal still found fields of ours');
  },
};

const mailAddress: FuzzTarget = {
  name: 'mail-address',
  about: 'account and alias addresses (CLI, config) and remote SMTP replies made safe for DSNs and logs',
  ...corpusInputs('mail-address', ['@', '.', '..', '-', '+', 'xn--', '\u00fc', '\u3042', '\r\n', '\0', ' ', '250-', '550 5.1.1 '], 2048),
  check(input) {
    const text = input.toString('utf8');
    try {
      const parsed = parseMailAddress(text);
      invariant(parsed.address === `${parsed.local}@${parsed.domain}`, 'address is not local@domain');
      invariant(parseMailAddress(parsed.address).address === parsed.address, 'normalising twice differs');
    } catch (error) {
      if (!(error instanceof AddressError)) throw error;
    }
    const line = clean(text);
    invariant(!/[\u0000-\u001f\u007f-\u009f]/.test(line), 'clean() left a control character');
    invariant(line.length <= 1024, 'clean() left a long reply');
  },
};

export const MAIL_SYNTAX_TARGETS = [mailHeader, mailAddress];
