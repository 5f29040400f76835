// Who may hold a POP3 or submission connection: `pop3.max_connections` and
// `pop3.max_connections_per_ip` (README: "connection limits per client address and in
// total, for 110 and for 995 each on its own … -ERR [SYS/TEMP] beyond them"), and the
// `[access.*]` lists of the listeners other than port 25 (pop3, pop3s, submission,
// submissions: "Who may connect"). The README gives port 25's refusal (554 5.7.1 and
// close); the other SMTP listeners run the same engine, and POP3 refuses the RFC 2449
// way, -ERR [SYS/PERM] in place of the greeting, then closes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startInstance, type Instance } from '../harness/instance.ts';
import { Pop3Client, type Pop3Port } from './pop3.ts';
import { SmtpClient } from './smtp.ts';
import { setToml } from './two-instances.ts';

const TOO_MANY = '-ERR [SYS/TEMP] too many connections, try again later';
const DENIED = '-ERR [SYS/PERM] access denied';

/** A POP3 connection that must be greeted +OK, kept open. */
async function greeted(instance: Instance, port: Pop3Port, from: string, why: string): Promise<Pop3Client> {
  const client = await Pop3Client.connect(instance, { port, localAddress: from });
  client.assertOk(client.greeting, why);
  return client;
}

/** A POP3 connection that must be refused with exactly `line` instead of a greeting, then closed by the server. */
async function assertRefused(instance: Instance, port: Pop3Port, from: string, line: string, why: string): Promise<void> {
  const client = await Pop3Client.connect(instance, { port, localAddress: from });
  try {
    assert.equal(client.greeting.line, line, `${why} (${port} from ${from})`);
    assert.ok(await client.session.waitForClose(5000), `${why}: the server closes the refused connection`); // hang guard
  } finally {
    client.close();
  }
}

/**
 * A connection from `from` is greeted once the server has noticed that a client closed
 * (and released its slot): tried every 100 ms, at most 50 times (a hang guard).
 */
async function greetedOnceFree(instance: Instance, port: Pop3Port, from: string, why: string): Promise<Pop3Client> {
  for (let attempt = 1; attempt <= 50; attempt++) {
    const client = await Pop3Client.connect(instance, { port, localAddress: from });
    if (client.greeting.ok) return client;
    assert.equal(client.greeting.line, TOO_MANY, `${why}: while the slot is still taken`);
    client.close();
    await sleep(100);
  }
  assert.fail(`${why}: never greeted; the closed session's slot was not released`);
}

describe('pop3.max_connections = 4 and pop3.max_connections_per_ip = 2, on 110 and on 995 each', () => {
  for (const port of ['pop3', 'pop3s'] as const) {
    test(`${port}: a third session from one address and a fifth in all get "${TOO_MANY}" and are closed; a freed slot is given again`, async (t) => {
      const instance = await startInstance({ t, editConfig: (toml) => setToml(toml, { 'pop3.max_connections': 4, 'pop3.max_connections_per_ip': 2 }) });
      const open: Pop3Client[] = [];
      try {
        open.push(await greeted(instance, port, '127.0.7.1', 'first session from 127.0.7.1'));
        open.push(await greeted(instance, port, '127.0.7.1', 'second session from 127.0.7.1'));
        await assertRefused(instance, port, '127.0.7.1', TOO_MANY, 'a third session from one address (per-address limit 2)');
        // The other listener role has slots of its own (README: each on its own).
        const other = port === 'pop3' ? 'pop3s' : 'pop3';
        open.push(await greeted(instance, other, '127.0.7.1', `${other} from the address that is full on ${port}`));

        open.push(await greeted(instance, port, '127.0.7.2', 'first session from 127.0.7.2'));
        open.push(await greeted(instance, port, '127.0.7.3', 'first session from 127.0.7.3: the fourth in all'));
        await assertRefused(instance, port, '127.0.7.4', TOO_MANY, 'a fifth session in all (limit 4), from an address with none');
        await assertRefused(instance, port, '127.0.7.2', TOO_MANY, 'a fifth session in all, from an address with one');

        // A session that ends gives its slot back.
        open.shift()!.close();
        open.push(await greetedOnceFree(instance, port, '127.0.7.4', 'after one of the four closed'));
        await assertRefused(instance, port, '127.0.7.5', TOO_MANY, 'four again in all');
      } finally {
        for (const client of open) client.close();
      }
    });
  }
});

describe('[access.pop3], [access.pop3s], [access.submission], [access.submissions]', () => {
  test('each listener applies its own list: not in allow, or in deny, is refused at connect and closed; the others are served', async (t) => {
    const instance = await startInstance({
      t,
      editConfig: (toml) =>
        setToml(toml, {
          'access.pop3.allow': ['127.0.8.0/24'],
          'access.pop3.deny': ['127.0.8.9/32'],
          'access.pop3s.allow': ['127.0.9.0/24'],
          'access.submission.deny': ['127.0.8.0/24'],
          'access.submissions.allow': ['127.0.9.1'],
        }),
    });
    // pop3: allow 127.0.8/24 except 127.0.8.9
    (await greeted(instance, 'pop3', '127.0.8.1', 'pop3 from an allowed address')).close();
    await assertRefused(instance, 'pop3', '127.0.9.1', DENIED, 'pop3 from an address not in allow');
    await assertRefused(instance, 'pop3', '127.0.8.9', DENIED, 'pop3 from an address in allow and in deny (deny wins)');
    // pop3s: its own list, not pop3's
    (await greeted(instance, 'pop3s', '127.0.9.1', 'pop3s from an address its list allows (pop3\'s does not)')).close();
    await assertRefused(instance, 'pop3s', '127.0.8.1', DENIED, 'pop3s from an address pop3 allows and pop3s does not');

    // submission: deny 127.0.8/24, allow everyone else
    const submissionCases = [
      ['submission', '127.0.8.1', false],
      ['submission', '127.0.9.1', true],
      ['submissions', '127.0.9.1', true],
      ['submissions', '127.0.9.2', false],
      ['submissions', '127.0.8.1', false],
    ] as const;
    for (const [role, from, allowed] of submissionCases) {
      const client = await SmtpClient.connect(instance.host, instance.ports[role], { tls: role === 'submissions', localAddress: from });
      try {
        if (allowed) {
          client.assertReply(client.greeting!, /^220 /, `${role} from ${from}, allowed`);
        } else {
          assert.equal(client.greeting!.last, `554 5.7.1 ${instance.hostname} access denied`, `${role} from ${from}, refused by [access.${role}]`);
          assert.ok(await client.session.waitForClose(5000), `${role} from ${from}: the refused connection is closed`); // hang guard
        }
      } finally {
        client.close();
      }
    }
    // port 25 has no list here: everyone, the addresses refused elsewhere included.
    for (const from of ['127.0.8.1', '127.0.8.9', '127.0.9.2']) {
      const smtp = await SmtpClient.to(instance, { localAddress: from });
      smtp.assertReply(smtp.greeting!, /^220 /, `port 25 from ${from}: [access.smtp] is empty`);
      smtp.close();
    }
  });
});
