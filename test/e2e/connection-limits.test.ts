// Connection limits per listener role (issue 10, defect 6): `smtp.max_connections` and
// `pop3.max_connections` bound each role on its own, so idle sessions filling port 25
// never lock users out of 587/465, nor POP3 sessions on 110 out of 995. The outside
// tester's 1,000 idle sessions from 20 addresses, scaled down: a limit of 5, filled from
// 5 addresses, then a submission on each of 587 and 465 from yet another one.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startInstance } from '../harness/instance.ts';
import { waitForSubject } from './mailbox.ts';
import { Pop3Client } from './pop3.ts';
import { PASSWORD, SmtpClient, tag, USER } from './smtp.ts';
import { loggedIn, setToml, submissionMessage } from './two-instances.ts';

const LIMIT = 5;
/** The filler sessions come from 127.0.3.1…5, one each, as from many internet hosts. */
const fillerAddress = (i: number) => `127.0.3.${i + 1}`;
const USER_ADDRESS = '127.0.4.1';

describe('connection limits are per listener role', () => {
  test(`port 25 full (max_connections = ${LIMIT}): 587 and 465 still greet and accept an authenticated submission; 25 refuses the next with 421 4.7.0`, async (t) => {
    const instance = await startInstance({
      t,
      users: [{ address: USER, password: PASSWORD }],
      editConfig: (toml) => setToml(toml, { 'smtp.max_connections': LIMIT }),
    });
    const idle: SmtpClient[] = [];
    try {
      for (let i = 0; i < LIMIT; i++) {
        const client = await SmtpClient.to(instance, { localAddress: fillerAddress(i) });
        client.assertReply(client.greeting!, /^220 /, `idle port-25 session ${i + 1} of ${LIMIT}`);
        idle.push(client);
      }
      const refused = await SmtpClient.to(instance, { localAddress: USER_ADDRESS });
      refused.assertReply(refused.greeting!, '421 4.7.0', `port 25 with ${LIMIT} sessions open`);
      assert.ok(await refused.session.waitForClose(2000), 'the refused port-25 connection is closed');

      for (const port of ['submission', 'submissions'] as const) {
        // loggedIn asserts the 220 greeting, EHLO (STARTTLS on 587) and 235 for AUTH PLAIN.
        const client = await loggedIn(instance, USER, PASSWORD, { port, localAddress: USER_ADDRESS });
        const subject = tag(port);
        const reply = await client.deliver(USER, [USER], submissionMessage({ from: USER, to: USER, subject }));
        client.assertReply(reply, '250 2.0.0', `submission on ${port} while port 25 is full`);
        await waitForSubject(instance, USER, subject);
        await client.quit();
      }
    } finally {
      for (const client of idle) client.close();
    }
  });

  test(`POP3 full (pop3.max_connections = ${LIMIT}): POP3S still greets +OK; POP3 refuses the next`, async (t) => {
    const instance = await startInstance({ t, editConfig: (toml) => setToml(toml, { 'pop3.max_connections': LIMIT }) });
    const idle: Pop3Client[] = [];
    try {
      for (let i = 0; i < LIMIT; i++) {
        const client = await Pop3Client.connect(instance, { port: 'pop3', localAddress: fillerAddress(i) });
        assert.ok(client.greeting.ok, `idle POP3 session ${i + 1}: ${client.greeting.line}`);
        idle.push(client);
      }
      const refused = await Pop3Client.connect(instance, { port: 'pop3', localAddress: USER_ADDRESS });
      assert.match(refused.greeting.line, /^-ERR \[SYS\/TEMP\] /, 'POP3 with all its slots taken');
      refused.session.close();
      const secure = await Pop3Client.connect(instance, { port: 'pop3s', localAddress: USER_ADDRESS });
      assert.ok(secure.greeting.ok, `POP3S while POP3 is full: ${secure.greeting.line}`);
      secure.session.close();
    } finally {
      for (const client of idle) client.session.close();
    }
  });
});
