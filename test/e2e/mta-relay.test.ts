// Port 25 is not an open relay: the 16 MAIL FROM/RCPT TO combinations of nmap's
// smtp-open-relay script, the routing tricks of issue 3 (% hack, bang paths, source
// routes, quoted local parts, user@ext@local, IP literals) and plain remote
// recipients are all refused at RCPT with a 5xx, and DATA afterwards gets no 354.
// Loopback is not trusted by default; relay.trusted_networks lets a listed client relay.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startInstance, type Instance } from '../harness/instance.ts';
import { messagesOf, subjectOf, waitForSubject } from './mailbox.ts';
import { message, PASSWORD, SmtpClient, tag, USER } from './smtp.ts';
import { QUEUE_EMPTY, queueList } from './two-instances.ts';

const REMOTE = 'remote.example'; // nmap's nmap.scanme.org: a domain that is not ours
const LOCAL = 'example.test';
const IP = '127.0.0.1'; // the target's IP, as nmap uses it
const FROM = 'antispam';
const TO = 'relaytest';

// Codes that refuse a recipient: relay denied, bad syntax, or (for a local-looking
// form) unknown user. Never 250, never a 4xx that invites a retry.
const REFUSED = /^(?:554 5\.7\.1|550 5\.7\.1|501 5\.1\.3|550 5\.1\.1|553 5\.1\.[23]|501 5\.5\.4)(?: |$)/;
const RELAY_DENIED = /^(?:554|550) 5\.7\.1(?: |$)/;

/**
 * The 16 tests of nmap's scripts/smtp-open-relay.nse, in its order; `srvname` is the
 * name the script reads from the greeting.
 */
function nmapForms(srvname: string): { from: string; to: string }[] {
  const d = REMOTE;
  return [
    { from: '', to: `${TO}@${d}` },
    { from: `${FROM}@${d}`, to: `${TO}@${d}` },
    { from: `${FROM}@${srvname}`, to: `${TO}@${d}` },
    { from: `${FROM}@[${IP}]`, to: `${TO}@${d}` },
    { from: `${FROM}@[${IP}]`, to: `${TO}%${d}@[${IP}]` },
    { from: `${FROM}@[${IP}]`, to: `${TO}%${d}@${srvname}` },
    { from: `${FROM}@[${IP}]`, to: `"${TO}@${d}"` },
    { from: `${FROM}@[${IP}]`, to: `"${TO}%${d}"` },
    { from: `${FROM}@[${IP}]`, to: `${TO}@${d}@[${IP}]` },
    { from: `${FROM}@[${IP}]`, to: `"${TO}@${d}"@[${IP}]` },
    { from: `${FROM}@[${IP}]`, to: `${TO}@${d}@${srvname}` },
    { from: `${FROM}@[${IP}]`, to: `@[${IP}]:${TO}@${d}` },
    { from: `${FROM}@[${IP}]`, to: `@${srvname}:${TO}@${d}` },
    { from: `${FROM}@[${IP}]`, to: `${d}!${TO}` },
    { from: `${FROM}@[${IP}]`, to: `${d}!${TO}@[${IP}]` },
    { from: `${FROM}@[${IP}]`, to: `${d}!${TO}@${srvname}` },
  ];
}

/** The routing tricks of issue 3 beyond nmap's list, aimed at our local domain and users. */
const EXTRA_FORMS: { name: string; to: string; expect?: RegExp }[] = [
  { name: 'plain remote recipient', to: `${TO}@${REMOTE}`, expect: RELAY_DENIED },
  { name: 'subdomain of a local domain', to: `${TO}@sub.${LOCAL}`, expect: RELAY_DENIED },
  { name: 'local domain as a prefix of a remote one', to: `${TO}@${LOCAL}.${REMOTE}`, expect: RELAY_DENIED },
  { name: 'remote domain in upper case', to: `${TO}@REMOTE.EXAMPLE`, expect: RELAY_DENIED },
  { name: '% hack through the local domain', to: `${TO}%${REMOTE}@${LOCAL}` },
  { name: '% hack to a local user', to: `user%${LOCAL}@${LOCAL}` },
  { name: 'double % hack', to: `${TO}%${REMOTE}%${LOCAL}@${LOCAL}` },
  { name: 'bang path through the local domain', to: `${REMOTE}!${TO}@${LOCAL}` },
  { name: 'bang path to a local user', to: `${LOCAL}!user@${LOCAL}` },
  { name: 'bare bang path', to: `${REMOTE}!${TO}` },
  { name: 'source route via the local domain', to: `@${LOCAL}:${TO}@${REMOTE}` },
  { name: 'source route with two hops', to: `@${LOCAL},@mail.${LOCAL}:${TO}@${REMOTE}` },
  { name: 'source route to a local user', to: `@${REMOTE}:user@${LOCAL}` },
  { name: 'quoted local part holding @', to: `"${TO}@${REMOTE}"@${LOCAL}` },
  { name: 'quoted local part holding %', to: `"${TO}%${REMOTE}"@${LOCAL}` },
  { name: 'quoted local part holding !', to: `"${REMOTE}!${TO}"@${LOCAL}` },
  { name: 'user@ext@local', to: `${TO}@${REMOTE}@${LOCAL}` },
  { name: 'user@local@ext', to: `user@${LOCAL}@${REMOTE}` },
  { name: 'IPv4 literal with a local user', to: `user@[${IP}]` },
  { name: 'IPv4 literal with a remote-looking user', to: `${TO}@[${IP}]` },
  { name: 'IPv6 literal', to: 'user@[IPv6:::1]' },
  { name: 'IPv4 literal of another host', to: 'user@[192.0.2.1]' },
  { name: 'no angle brackets, remote', to: `${TO}@${REMOTE}` },
];

/** One nmap-like attempt in a fresh session: MAIL, RCPT, then DATA. Returns the replies. */
async function attemptRelay(instance: Instance, from: string, to: string, options: { bare?: boolean; localAddress?: string } = {}) {
  const client = await SmtpClient.to(instance, { localAddress: options.localAddress });
  try {
    await client.ehlo(REMOTE);
    const mail = await client.cmd(`MAIL FROM:<${from}>`);
    const rcpt = await client.cmd(options.bare ? `RCPT TO:${to}` : `RCPT TO:<${to}>`);
    const data = await client.cmd('DATA');
    if (data.code === 354) {
      // A server that said 354 here would have relayed: give it a message so the dialogue ends cleanly.
      client.sendRaw(`${message({ subject: tag('relayed') })}\r\n.\r\n`);
      await client.reply().catch(() => undefined);
    }
    return { client, mail, rcpt, data };
  } finally {
    await client.quit();
  }
}

function assertRefused(result: Awaited<ReturnType<typeof attemptRelay>>, what: string, expected: RegExp = REFUSED): void {
  const { client, mail, rcpt, data } = result;
  const dialogue = `\n--- dialogue ---\n${client.dialogue()}`;
  // MAIL FROM may be refused already (an IP-literal sender); then RCPT must be 503.
  assert.ok(mail.code === 250 || (mail.code >= 500 && mail.code < 600), `${what}: MAIL FROM got "${mail.last}"${dialogue}`);
  assert.notEqual(rcpt.code, 250, `${what}: RCPT TO was ACCEPTED (open relay)${dialogue}`);
  assert.notEqual(rcpt.code, 251, `${what}: RCPT TO was ACCEPTED for forwarding (open relay)${dialogue}`);
  if (mail.code === 250) assert.match(rcpt.last, expected, `${what}: RCPT TO must be refused with ${expected}, got "${rcpt.last}"${dialogue}`);
  else assert.match(rcpt.last, /^503 5\.5\.1/, `${what}: RCPT after a refused MAIL must be 503 5.5.1, got "${rcpt.last}"${dialogue}`);
  assert.notEqual(data.code, 354, `${what}: DATA was accepted (354) without a valid recipient${dialogue}`);
  assert.match(data.last, /^(?:554 5\.5\.1|503 5\.5\.1)/, `${what}: DATA must get 554/503, got "${data.last}"${dialogue}`);
}

describe('MTA relay battery (port 25, default config: nobody is trusted)', () => {
  let instance: Instance;
  let srvname: string;

  before(async () => {
    instance = await startInstance({
      users: [
        { address: USER, password: PASSWORD },
        // A local user named like nmap's target, so a trick that strips the remote part lands somewhere real.
        { address: `${TO}@${LOCAL}`, password: PASSWORD },
      ],
    });
    const probe = await SmtpClient.to(instance);
    // nmap's srvname: the first word after the code in the greeting.
    srvname = /^220[ -]([A-Za-z0-9][A-Za-z0-9.-]*)/.exec(probe.greeting!.last)?.[1] ?? instance.hostname;
    await probe.quit();
  });
  after(async () => {
    await instance?.close();
  });

  test('positive control: a local user is accepted (250 2.1.5) and the message is stored', async () => {
    const subject = tag('control');
    const before = (await messagesOf(instance, USER)).length;
    const client = await SmtpClient.to(instance);
    await client.ehlo(REMOTE);
    await client.expectCmd(`MAIL FROM:<someone@${REMOTE}>`, '250 2.1.0');
    await client.expectCmd(`RCPT TO:<${USER}>`, '250 2.1.5');
    await client.expectCmd('DATA', /^354 /);
    client.sendRaw(`${message({ subject })}\r\n.\r\n`);
    client.assertReply(await client.reply(), '250 2.0.0', 'end of DATA');
    await client.quit();
    const messages = await waitForSubject(instance, USER, subject);
    assert.equal(messages.length, before + 1, 'exactly one new message');
  });

  test('loopback is not trusted by default: a remote recipient from 127.0.0.1 gets 554 5.7.1', async () => {
    assertRefused(await attemptRelay(instance, `someone@${REMOTE}`, `${TO}@${REMOTE}`), 'remote recipient from loopback', RELAY_DENIED);
  });

  for (let i = 0; i < 16; i++) {
    test(`nmap smtp-open-relay form ${i + 1}/16 is refused (srvname = greeting host)`, async () => {
      const form = nmapForms(srvname)[i]!;
      assertRefused(await attemptRelay(instance, form.from, form.to), `MAIL FROM:<${form.from}> -> RCPT TO:<${form.to}>`);
    });
  }

  test('nmap smtp-open-relay forms with srvname = the local domain are all refused', async () => {
    for (const form of nmapForms(LOCAL)) {
      assertRefused(await attemptRelay(instance, form.from, form.to), `MAIL FROM:<${form.from}> -> RCPT TO:<${form.to}>`);
    }
  });

  test('nmap smtp-open-relay in one session, as nmap runs it (RSET between tests): every form is tried, no RCPT is ever 250', async () => {
    // A session full of refusals ends with 421 after 10 errors (as a test above shows); then the
    // remaining forms go on in a new session, so every one of the 16 is really put to the server.
    const forms = nmapForms(srvname);
    const refusedAt: string[] = [];
    let client = await SmtpClient.to(instance);
    let sessions = 1;
    try {
      await client.ehlo(REMOTE);
      for (let i = 0; i < forms.length; ) {
        const form = forms[i]!;
        const rset = await client.cmd('RSET');
        const mail = rset.code === 250 ? await client.cmd(`MAIL FROM:<${form.from}>`) : rset;
        const rcpt = mail.code === 250 ? await client.cmd(`RCPT TO:<${form.to}>`) : mail;
        if (rcpt.code === 421) {
          assert.ok(sessions < forms.length, `more sessions than forms: the server ends sessions without trying RCPT\n${client.dialogue()}`);
          client.close();
          client = await SmtpClient.to(instance);
          sessions++;
          await client.ehlo(REMOTE);
          continue; // the same form again, in the new session
        }
        assert.ok(rcpt.code >= 500 && rcpt.code < 600, `form ${i + 1}: MAIL FROM:<${form.from}> RCPT TO:<${form.to}> got "${rcpt.last}", not a refusal\n${client.dialogue()}`);
        refusedAt.push(mail.code === 250 ? 'RCPT' : 'MAIL');
        i++;
      }
    } finally {
      await client.quit();
    }
    assert.equal(refusedAt.length, forms.length, 'every form was answered');
    assert.ok(refusedAt.filter((step) => step === 'RCPT').length >= forms.length / 2, `most forms must reach RCPT (a refused MAIL proves nothing about relaying): ${refusedAt.join(' ')}`);
  });

  for (const form of EXTRA_FORMS) {
    test(`routing trick refused: ${form.name} (<${form.to}>)`, async () => {
      assertRefused(
        await attemptRelay(instance, `someone@${REMOTE}`, form.to, { bare: form.name.startsWith('no angle') }),
        `RCPT TO:<${form.to}>`,
        form.expect,
      );
    });
  }

  test('a mixed transaction delivers to the local user only; the refused remote recipient gets nothing', async () => {
    const subject = tag('mixed');
    const client = await SmtpClient.to(instance);
    await client.ehlo(REMOTE);
    await client.expectCmd(`MAIL FROM:<someone@${REMOTE}>`, '250 2.1.0');
    await client.expectCmd(`RCPT TO:<${TO}@${REMOTE}>`, RELAY_DENIED);
    await client.expectCmd(`RCPT TO:<${USER}>`, '250 2.1.5');
    await client.expectCmd(`RCPT TO:<${TO}%${REMOTE}@${LOCAL}>`, REFUSED);
    await client.expectCmd('DATA', /^354 /);
    client.sendRaw(`${message({ subject })}\r\n.\r\n`);
    client.assertReply(await client.reply(), '250 2.0.0', 'end of DATA');
    await client.quit();
    const messages = await waitForSubject(instance, USER, subject);
    assert.equal(messages.filter((m) => subjectOf(m) === subject).length, 1);
    // relaytest@example.test is the local user a % or bang trick would have reached.
    assert.equal((await messagesOf(instance, `${TO}@${LOCAL}`)).filter((m) => subjectOf(m) === subject).length, 0,
      'the % hack recipient was not resolved to the local relaytest user');
  });

  test('a client that sends the message anyway after every refusal gets nothing into any local mailbox', async () => {
    const prefix = tag('blind');
    const forms = [...nmapForms(srvname), ...nmapForms(LOCAL), ...EXTRA_FORMS.map((form) => ({ from: `someone@${REMOTE}`, to: form.to }))];
    for (const [i, form] of forms.entries()) {
      const client = await SmtpClient.to(instance);
      try {
        await client.ehlo(REMOTE);
        // MAIL, RCPT, DATA, the message and QUIT in one write, whatever the replies: what a careless (or hostile) client does.
        client.sendRaw(`MAIL FROM:<${form.from}>\r\nRCPT TO:<${form.to}>\r\nDATA\r\n${message({ subject: `${prefix}-${i}` })}\r\n.\r\nQUIT\r\n`);
        // Closed (after QUIT, or a 421 for too many errors): the server has handled every line it was going to.
        assert.ok(await client.session.waitForClose(20_000), `the session did not end\n${client.dialogue()}`); // hang guard
      } finally {
        client.close();
      }
    }
    // A message to the local user: the mailbox view works and would show the others.
    const control = `${prefix}-control`;
    const client = await SmtpClient.to(instance);
    await client.ehlo(REMOTE);
    await client.mustDeliver(`someone@${REMOTE}`, [USER], message({ subject: control }));
    await client.quit();
    for (const address of [USER, `${TO}@${LOCAL}`]) {
      const messages = await messagesOf(instance, address);
      if (address === USER) assert.ok(messages.some((m) => subjectOf(m) === control), 'the control message arrived');
      const relayed = messages.filter((m) => subjectOf(m)?.startsWith(`${prefix}-`) && subjectOf(m) !== control);
      assert.deepEqual(relayed.map((m) => subjectOf(m)), [], `${address} got messages sent through relay attempts`);
    }
    // Nor was any of them queued for a remote recipient (relayed).
    assert.match(await queueList(instance), QUEUE_EMPTY, 'a relay attempt was queued for delivery');
  });
});

describe('MTA relay with relay.trusted_networks = ["127.0.0.1/32"]', () => {
  let instance: Instance;

  before(async () => {
    instance = await startInstance({
      users: [{ address: USER, password: PASSWORD }],
      editConfig: (toml) => {
        const edited = toml.replace(/^trusted_networks\s*=\s*\[\s*\]/m, 'trusted_networks = ["127.0.0.1/32"]');
        assert.notEqual(edited, toml, 'the generated config has a trusted_networks line to edit');
        return edited;
      },
    });
  });
  after(async () => {
    await instance?.close();
  });

  test('a client in trusted_networks may name a remote recipient (250 2.1.5)', async () => {
    const client = await SmtpClient.to(instance);
    await client.ehlo('trusted.test');
    await client.expectCmd(`MAIL FROM:<${USER}>`, '250 2.1.0');
    await client.expectCmd(`RCPT TO:<${TO}@${REMOTE}>`, '250 2.1.5', 'remote recipient from a trusted network');
    await client.expectCmd('RSET', '250');
    await client.quit();
  });

  test('the same instance refuses a client outside trusted_networks (127.0.0.2): 554 5.7.1', async () => {
    assertRefused(await attemptRelay(instance, `someone@${REMOTE}`, `${TO}@${REMOTE}`, { localAddress: '127.0.0.2' }),
      'remote recipient from 127.0.0.2', RELAY_DENIED);
  });

  test('routing tricks stay refused even for a trusted client', async () => {
    for (const to of [`${TO}%${REMOTE}@${LOCAL}`, `${REMOTE}!${TO}@${LOCAL}`, `@${LOCAL}:${TO}@${REMOTE}`, `"${TO}@${REMOTE}"@${LOCAL}`, `${TO}@[${IP}]`]) {
      const result = await attemptRelay(instance, `someone@${REMOTE}`, to);
      const { client, rcpt } = result;
      assert.ok(rcpt.code >= 500 && rcpt.code < 600, `RCPT TO:<${to}> from a trusted client must be refused, got "${rcpt.last}"\n${client.dialogue()}`);
    }
  });
});
