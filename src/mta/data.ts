// DATA stage of port 25, in order: line endings and NUL (SMTP smuggling, RFC 5321
// §2.3.8), size and header limits, hop count (loops, RFC 5321 §6.3); then the message
// is committed to the recipients' mailboxes and the queue.
import type { ReceivedMessage } from '../smtp/session.ts';
import { REPLY, type Reply } from '../smtp/replies.ts';
import { accept, refuse, type Verdict } from '../smtp/verdict.ts';
import type { DataProblem } from '../smtp/data-reader.ts';

const PROBLEM_REPLIES: Record<DataProblem, Reply> = {
  'bare-cr': REPLY.bareLineEnding,
  'bare-lf': REPLY.bareLineEnding,
  nul: REPLY.nulInMessage,
  'too-big': REPLY.messageTooBig,
  'header-too-big': REPLY.headerTooBig,
  'too-many-header-fields': REPLY.headerTooBig,
};

export async function checkMessage(message: ReceivedMessage, maxReceivedHeaders: number): Promise<Verdict> {
  if (message.problem) return refuse(PROBLEM_REPLIES[message.problem]);
  // Our own Received field is not counted: it is prepended, not read by the reader.
  if (message.receivedCount >= maxReceivedHeaders) return refuse(REPLY.mailLoop);
  return accept(undefined);
}
