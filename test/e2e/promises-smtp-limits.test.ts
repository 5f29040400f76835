// README (The MSA): DATA on 587/465 gets "the checks of port 25 (… size, header,
// hops)", with port 25's codes (The MTA; Configuration reference):
//   smtp.max_message_size    advertised as SIZE (RFC 1870); SIZE= over it at MAIL and a
//                            larger message at the end of DATA: 552 5.3.4
//   smtp.max_header_bytes    a larger header section: 552 5.3.4
//   smtp.max_header_fields   more fields: 552 5.3.4
//   smtp.max_received_headers  more Received fields (a loop, RFC 5321 §6.3): 554 5.4.6
// End to end as a user's client meets them, with small limits so the messages stay
// small: each limit itself is accepted and one past it refused (the hop count: one
// under accepted, one over refused — our own Received comes on top of those read), the
// session goes on after each refusal, and nothing refused reaches the mailbox (seen
// over POP3). Sizes are octets of the message as sent, CRLF line ends, without the
// final "." line (RFC 1870 §3); the header section is its fields and the empty line.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { suiteInstance } from '../harness/instance.ts';
import { messagesOf, subjectOf } from './mailbox.ts';
import { PASSWORD, tag, USER, type SmtpClient } from './smtp.ts';
import { loggedIn, setToml, submissionClient, type SubmissionPort } from './two-instances.ts';

const MAX_SIZE = 8192;
const MAX_HEADER_BYTES = 4096;
const MAX_FIELDS = 40;
const MAX_RECEIVED = 8;

const octets = (text: string) => Buffer.byteLength(text, 'utf8');
const fieldsText = (fields: readonly string[]) => fields.map((field) => `${field}\r\n`).join('');

/** A message from USER with these extra fields (after From, To, Subject) and this body; every line ends with CRLF. */
function build(subject: string, extra: readonly string[], body: string): string {
  return `${fieldsText([`From: <${USER}>`, `To: <${USER}>`, `Subject: ${subject}`, ...extra])}\r\n${body}`;
}

/** A message of exactly `size` octets (the body filled up). */
function ofSize(subject: string, size: number): string {
  const filler = size - octets(build(subject, [], '\r\n'));
  return build(subject, [], `${'x'.repeat(filler)}\r\n`);
}

/** A message whose header section (fields and the empty line) is exactly `size` octets. */
function withHeaderOf(subject: string, size: number): string {
  const fixed = octets(build(subject, [], '')) + octets('X-Pad: \r\n');
  return build(subject, [`X-Pad: ${'p'.repeat(size - fixed)}`], 'body\r\n');
}

/** A message with exactly `count` header fields. */
function withFields(subject: string, count: number): string {
  return build(subject, Array.from({ length: count - 3 }, (_, i) => `X-Field-${i}: ${i}`), 'body\r\n');
}

/** A message that passed through `hops` servers before (as many Received fields). */
function withReceived(subject: string, hops: number): string {
  const received = Array.from({ length: hops }, (_, i) => `Received: from relay${i}.example by relay${i + 1}.example; Mon, 1 Jan 2024 00:00:00 +0000`);
  return `${fieldsText(received)}${build(subject, [], 'body\r\n')}`;
}

describe('MSA limits end to end on 587 and 465: size, header size, header fields, hop count', () => {
  const instance = suiteInstance({
    users: [{ address: USER, password: PASSWORD }],
    editConfig: (toml) =>
      setToml(toml, {
        'smtp.max_message_size': MAX_SIZE,
        'smtp.max_header_bytes': MAX_HEADER_BYTES,
        'smtp.max_header_fields': MAX_FIELDS,
        'smtp.max_received_headers': MAX_RECEIVED,
      }),
  });

  /** Sends each message in one session and asserts its reply; then, over POP3, the accepted ones are in the mailbox and the refused ones are not. */
  async function assertOutcomes(port: SubmissionPort, cases: readonly { what: string; text: (subject: string) => string; reply: string }[]): Promise<void> {
    const client: SmtpClient = await loggedIn(instance(), USER, PASSWORD, { port });
    const sent: { subject: string; accepted: boolean }[] = [];
    try {
      for (const { what, text, reply } of cases) {
        const subject = tag(port);
        const message = text(subject);
        // deliver() appends CRLF "." CRLF: the message's own last CRLF is that first CRLF.
        const result = await client.deliver(USER, [USER], message.replace(/\r\n$/, ''));
        client.assertReply(result, reply, `${what} (${octets(message)} octets)`);
        sent.push({ subject, accepted: reply.startsWith('250') });
      }
    } finally {
      await client.quit();
    }
    const subjects = (await messagesOf(instance(), USER)).map((m) => subjectOf(m));
    for (const { subject, accepted } of sent) {
      assert.equal(subjects.includes(subject), accepted, `${subject} ${accepted ? 'is missing from' : 'was refused but is in'} the mailbox`);
    }
  }

  for (const port of ['submission', 'submissions'] as const) {
    test(`${port}: SIZE ${MAX_SIZE} advertised; SIZE= and the message itself over it get 552 5.3.4, at the limit they pass`, async () => {
      const { client, ehlo } = await submissionClient(instance(), { port });
      try {
        assert.ok(ehlo.lines.some((line) => line === `250-SIZE ${MAX_SIZE}` || line === `250 SIZE ${MAX_SIZE}`), `EHLO advertises SIZE ${MAX_SIZE}:\n${ehlo.lines.join('\n')}`);
      } finally {
        await client.quit();
      }
      const declared = await loggedIn(instance(), USER, PASSWORD, { port });
      try {
        await declared.expectCmd(`MAIL FROM:<${USER}> SIZE=${MAX_SIZE + 1}`, '552 5.3.4', 'SIZE over the limit');
        await declared.expectCmd(`MAIL FROM:<${USER}> SIZE=${MAX_SIZE}`, '250 2.1.0', 'SIZE at the limit');
      } finally {
        await declared.quit();
      }
      await assertOutcomes(port, [
        { what: 'one octet over the size limit', text: (s) => ofSize(s, MAX_SIZE + 1), reply: '552 5.3.4' },
        { what: 'far over the size limit', text: (s) => ofSize(s, MAX_SIZE * 4), reply: '552 5.3.4' },
        { what: 'exactly the size limit', text: (s) => ofSize(s, MAX_SIZE), reply: '250 2.0.0' },
      ]);
    });

    test(`${port}: a header section over ${MAX_HEADER_BYTES} octets or over ${MAX_FIELDS} fields gets 552 5.3.4, at the limits they pass`, async () => {
      await assertOutcomes(port, [
        { what: 'a header section one octet over the limit', text: (s) => withHeaderOf(s, MAX_HEADER_BYTES + 1), reply: '552 5.3.4' },
        { what: 'a header section at the limit', text: (s) => withHeaderOf(s, MAX_HEADER_BYTES), reply: '250 2.0.0' },
        { what: 'one header field too many', text: (s) => withFields(s, MAX_FIELDS + 1), reply: '552 5.3.4' },
        { what: 'as many header fields as allowed', text: (s) => withFields(s, MAX_FIELDS), reply: '250 2.0.0' },
      ]);
    });

    test(`${port}: more than ${MAX_RECEIVED} Received fields is a loop, 554 5.4.6; fewer pass`, async () => {
      await assertOutcomes(port, [
        { what: `${MAX_RECEIVED + 1} Received fields`, text: (s) => withReceived(s, MAX_RECEIVED + 1), reply: '554 5.4.6' },
        { what: `${MAX_RECEIVED * 3} Received fields`, text: (s) => withReceived(s, MAX_RECEIVED * 3), reply: '554 5.4.6' },
        { what: `${MAX_RECEIVED - 1} Received fields`, text: (s) => withReceived(s, MAX_RECEIVED - 1), reply: '250 2.0.0' },
      ]);
    });
  }
});
