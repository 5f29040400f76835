// README (Sender authentication and DNSBL): the block lists are asked on port 25 only,
// at connect, before the greeting — "never asked on 587/465, where users connect from
// home addresses that lists such as Spamhaus's PBL name".
//
// dnsmasq serves a list bl.test that names 127.0.0.6 (RFC 5782: A 127.0.0.2 and a TXT
// text), and the instance has [dnsbl] zones = ["bl.test"]. From 127.0.0.6:
//   1. a user submits on 587 and on 465: greeted, accepted, delivered (seen over POP3);
//      and no query about bl.test reached dnsmasq meanwhile — nobody asked the list
//      about the user's address (a marker name the test resolves afterwards shows that
//      dnsmasq's log is read up to that point);
//   2. port 25 greets the same address with 554 5.7.1 naming the list and its text, and
//      closes: the listing is real and is asked (6.0.0.127.bl.test appears in the log);
//   3. with the listing now known (and cached), 587 still accepts the user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDns, type DnsFixture } from '../harness/dns.ts';
import { startInstance, type Instance } from '../harness/instance.ts';
import { waitForSubject } from './mailbox.ts';
import { PASSWORD, SmtpClient, tag, USER } from './smtp.ts';
import { loggedIn, queueIdOf, setToml, submissionMessage, type SubmissionPort } from './two-instances.ts';

const LISTED = '127.0.0.6';
const LISTED_NAME = '6.0.0.127.bl.test'; // RFC 5782 §2.1: the octets reversed, then the zone
const LIST_TEXT = 'listed for testing';
const MARKER = 'marker.kakitome-test.invalid';

const isListQuery = (name: string) => name === 'bl.test' || name.endsWith('.bl.test');

/** Waits until dnsmasq's log shows a query for `name` (a positive event), then returns the queries' names in order. */
async function queriesUpTo(dns: DnsFixture, name: string): Promise<string[]> {
  const deadline = Date.now() + 10_000; // hang guard
  for (;;) {
    const names = dns.queries().map((q) => q.name);
    if (names.includes(name)) return names;
    if (Date.now() >= deadline) assert.fail(`dnsmasq never logged a query for ${name}; queries: ${names.join(', ')}`);
    await sleep(50);
  }
}

/** Submits as USER from the listed address on `port`: asserts the 250 and the delivery. */
async function assertSubmitsFromListedAddress(instance: Instance, port: SubmissionPort): Promise<void> {
  const client = await loggedIn(instance, USER, PASSWORD, { port, localAddress: LISTED });
  try {
    const subject = tag(`dnsbl-${port}`);
    const reply = await client.deliver(USER, [USER], submissionMessage({ from: USER, to: USER, subject }));
    client.assertReply(reply, '250 2.0.0', `submission on ${port} from ${LISTED}, which bl.test lists`);
    queueIdOf(reply);
    await waitForSubject(instance, USER, subject);
  } finally {
    await client.quit();
  }
}

test('DNSBL: never asked on 587/465 (a listed address submits, no query is made); port 25 refuses the same address with 554 5.7.1', async (t) => {
  const dns = await startDns(
    { a: { [LISTED_NAME]: '127.0.0.2', [MARKER]: '127.0.0.1' }, txt: { [LISTED_NAME]: LIST_TEXT } },
    { t },
  );
  const instance = await startInstance({
    t,
    dns: dns.server,
    users: [{ address: USER, password: PASSWORD }],
    editConfig: (toml) => setToml(toml, { 'dnsbl.zones': ['bl.test'] }),
  });

  // 1. Submission from the listed address, before anything asked the list about it.
  await assertSubmitsFromListedAddress(instance, 'submission');
  await assertSubmitsFromListedAddress(instance, 'submissions');
  assert.deepEqual(await dns.resolver().resolve4(MARKER), ['127.0.0.1']);
  const beforeMarker = await queriesUpTo(dns, MARKER);
  const listQueries = beforeMarker.slice(0, beforeMarker.indexOf(MARKER)).filter(isListQuery);
  assert.deepEqual(listQueries, [], `587/465 asked the block list: ${beforeMarker.join(', ')}`);

  // 2. Port 25, same address: refused at the greeting, the list named with its text, then closed.
  const client = await SmtpClient.to(instance, { localAddress: LISTED, timeoutMs: 10_000 });
  try {
    const greeting = client.greeting!;
    client.assertReply(greeting, '554 5.7.1', `port 25 greeting for ${LISTED}`);
    const text = greeting.lines.join('\n');
    assert.match(text, /\bbl\.test\b/, `the refusal names the list:\n${text}`);
    assert.match(text, new RegExp(LIST_TEXT), `the refusal carries the list's text:\n${text}`);
    assert.ok(await client.session.waitForClose(10_000), `port 25 closes the connection after the refusal:\n${client.dialogue()}`); // hang guard
  } finally {
    client.close();
  }
  const all = await queriesUpTo(dns, LISTED_NAME);
  assert.ok(all.indexOf(LISTED_NAME) > all.indexOf(MARKER), `the list was asked by port 25, after the marker: ${all.join(', ')}`);

  // 3. The listing is known now; submission still does not care.
  await assertSubmitsFromListedAddress(instance, 'submission');
});
