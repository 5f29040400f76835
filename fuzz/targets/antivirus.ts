// clamd's replies (src/filter/antivirus/clamd-protocol.ts): a local daemon, but what it
// says goes into SMTP replies and logs, so its parser must take any octets — the
// signature name it keeps is printable ASCII, bounded, and never empty.
import { parseScanReply, safeSignature, sessionReply } from '../../src/filter/antivirus/clamd-protocol.ts';
import { corpusInputs } from '../lib/inputs.ts';
import { invariant, type FuzzTarget } from '../lib/target.ts';

const clamdReply: FuzzTarget = {
  name: 'clamd-reply',
  about: "clamd's replies to INSTREAM and IDSESSION commands: verdicts, session ids, signature names",
  ...corpusInputs('clamd-reply', ['stream: ', ' FOUND', ' OK', ' ERROR', ': ', '1', '\r\n', '\0', ' ', 'size limit exceeded', '\u00e9'], 4096),
  check(input) {
    const text = input.toString('latin1');
    const session = sessionReply(text);
    if (session) invariant(Number.isSafeInteger(session.id) && session.id >= 0, 'session id is not a whole number');
    const reply = parseScanReply(session?.text ?? text);
    if (reply.kind === 'found') {
      invariant(/^[\x21-\x7e…]{1,129}$/.test(reply.signature), `signature ${JSON.stringify(reply.signature)} is not printable ASCII of at most 129 characters`);
    }
    if (reply.kind === 'error') invariant(reply.message.length <= 200, 'error text is not bounded');
    invariant(safeSignature(text).length > 0, 'a signature name may not be empty');
  },
};

export const ANTIVIRUS_TARGETS: readonly FuzzTarget[] = [clamdReply];
