// Self-tests of the test harness: the DNS fixture answers like a real DNS server
// (checked with Node's resolver and with dig), the port and client helpers work, and
// a kakitome instance made through the CLI starts, listens and stops cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startDns } from './dns.ts';
import { freeTcpPort, freeTcpUdpPort, isTcpPortFree, pickPortOffset, portsForOffset } from './ports.ts';
import { assertLoopback, randomLoopbackAddress } from './loopback.ts';
import { makeTempDir, removeDir, run } from './processes.ts';
import { curl, pop3Fetch, rawSession, smtpSend, swaks } from './clients.ts';
import { startInstance } from './instance.ts';

// A DKIM-sized value: longer than one 255-byte TXT string, with the characters DNS text needs quoted.
const DKIM_VALUE = `v=DKIM1; k=rsa; p=${randomBytes(280).toString('base64')}`;
const RECORDS = {
  a: { 'mx.example.test': '127.0.0.1', 'two.example.test': ['127.0.0.2', '127.0.0.3'] },
  aaaa: { 'mx.example.test': '::1' },
  mx: { 'example.test': [{ exchange: 'mx.example.test', priority: 10 }, { exchange: 'backup.example.test', priority: 20 }] },
  txt: {
    'example.test': ['v=spf1 ip4:127.0.0.1 -all', 'quote " backslash \\ comma , hash # end'],
    'rsa._domainkey.example.test': DKIM_VALUE,
    '_dmarc.example.test': 'v=DMARC1; p=reject',
  },
  cname: { 'alias.example.test': 'mx.example.test' },
  ptr: { '127.0.0.3': 'reverse.example.test' },
};

test('DNS fixture answers A, AAAA, MX, TXT, CNAME and PTR through Node’s resolver', async (t) => {
  assert.ok(DKIM_VALUE.length > 390);
  const dns = await startDns(RECORDS, { t });
  const resolver = dns.resolver();
  assert.deepEqual(await resolver.resolve4('mx.example.test'), ['127.0.0.1']);
  assert.deepEqual((await resolver.resolve4('two.example.test')).sort(), ['127.0.0.2', '127.0.0.3']);
  assert.deepEqual(await resolver.resolve6('mx.example.test'), ['::1']);
  assert.deepEqual((await resolver.resolveMx('example.test')).sort((x, y) => x.priority - y.priority).map((mx) => [mx.priority, mx.exchange]),
    [[10, 'mx.example.test'], [20, 'backup.example.test']]);
  const txt = (await resolver.resolveTxt('example.test')).map((chunks) => chunks.join('')).sort();
  assert.deepEqual(txt, ['quote " backslash \\ comma , hash # end', 'v=spf1 ip4:127.0.0.1 -all']);
  const [dkim] = await resolver.resolveTxt('rsa._domainkey.example.test');
  assert.ok(dkim && dkim.length === 2 && dkim[0]!.length === 255, 'long TXT split into 255-byte strings');
  assert.equal(dkim.join(''), DKIM_VALUE);
  assert.deepEqual(await resolver.resolveCname('alias.example.test'), ['mx.example.test']);
  assert.deepEqual(await resolver.reverse('127.0.0.3'), ['reverse.example.test']);
  assert.deepEqual(await resolver.reverse('127.0.0.2'), ['two.example.test'], 'A records answer their reverse lookup');
  assert.deepEqual(dns.queries().slice(0, 2), [{ type: 'A', name: 'mx.example.test' }, { type: 'A', name: 'two.example.test' }]);
});

test('DNS fixture: unknown names are NXDOMAIN, known names without the type are NODATA', async (t) => {
  const dns = await startDns(RECORDS, { t });
  const resolver = dns.resolver();
  await assert.rejects(resolver.resolve4('unknown.example.test'), { code: 'ENOTFOUND' });
  await assert.rejects(resolver.resolveTxt('www.google.com'), { code: 'ENOTFOUND' }, 'nothing is forwarded');
  await assert.rejects(resolver.resolveTxt('mx.example.test'), { code: 'ENODATA' });
});

test('DNS fixture answers dig over UDP and TCP', async (t) => {
  // dig is a listed dependency (test/debian-packages.txt), installed by the test set-up: missing, it is a failure.
  const which = await run('sh', ['-c', 'command -v dig']);
  assert.equal(which.code, 0, 'dig is not installed: Debian package bind9-dnsutils (npm test installs it as root; see test/debian-packages.txt)');
  const dns = await startDns(RECORDS, { t });
  const dig = async (...args: string[]) => {
    const result = await run('dig', [`@${dns.host}`, '-p', String(dns.port), '+time=2', '+tries=1', ...args]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    return result.stdout;
  };
  assert.equal((await dig('+short', 'mx.example.test', 'A')).trim(), '127.0.0.1');
  assert.equal((await dig('+short', '+tcp', 'example.test', 'MX')).trim().split('\n').sort().join('|'), '10 mx.example.test.|20 backup.example.test.');
  // dig prints each character-string of the record in quotes: reassemble them.
  const strings = [...(await dig('+short', 'rsa._domainkey.example.test', 'TXT')).matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]);
  assert.equal(strings.length, 2);
  assert.equal(strings.join(''), DKIM_VALUE);
  assert.match(await dig('unknown.example.test', 'A'), /status: NXDOMAIN/);
  assert.match(await dig('+tcp', 'unknown.example.test', 'A'), /status: NXDOMAIN/);
});

test('DNS fixture listens on a chosen loopback address and stops answering after stop()', async () => {
  const dns = await startDns({ a: { 'host.example.test': '127.0.0.7' } }, { address: randomLoopbackAddress() });
  assert.notEqual(dns.host, '127.0.0.1');
  assert.equal(dns.server, `${dns.host}:${dns.port}`);
  const resolver = dns.resolver();
  assert.deepEqual(await resolver.resolve4('host.example.test'), ['127.0.0.7']);
  await dns.stop();
  resolver.setServers([dns.server]);
  await assert.rejects(resolver.resolve4('host.example.test'));
});

test('DNS fixture refuses records that would not mean what they say', async () => {
  await assert.rejects(startDns({ a: { 'bad name.test': '127.0.0.1' } }), /invalid name/);
  await assert.rejects(startDns({ a: { 'v6.test': '::1' } }), /not an IPv4 address/);
  await assert.rejects(startDns({ txt: { 'x.test': 'two\nlines' } }), /may not contain/);
  await assert.rejects(startDns({}, { address: '192.0.2.1' }), /not a loopback address/);
});

test('port helpers find free ports and an offset with all five listener ports free', async () => {
  const port = await freeTcpPort();
  assert.ok(port > 0 && (await isTcpPortFree(port)));
  assert.ok((await freeTcpUdpPort()) > 0);
  assert.deepEqual(portsForOffset(10000), { smtp: 10025, submission: 10587, submissions: 10465, pop3: 10110, pop3s: 10995 });

  const offset = await pickPortOffset();
  assert.ok(offset >= 20000 && offset <= 40000);
  for (const listenerPort of Object.values(portsForOffset(offset))) assert.ok(await isTcpPortFree(listenerPort));
  assert.notEqual(await pickPortOffset(), offset, 'an offset is handed out once per process');

  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
  try {
    assert.equal(await isTcpPortFree(port), false);
  } finally {
    blocker.close();
  }
});

test('client helpers refuse anything but loopback before any traffic', async () => {
  assert.throws(() => assertLoopback('192.0.2.1'), /not a loopback address/);
  assert.doesNotThrow(() => assertLoopback('127.9.8.7'));
  assert.doesNotThrow(() => assertLoopback('::1'));
  await assert.rejects(swaks(['--to', 'someone@example.com']), /needs --server/);
  await assert.rejects(swaks(['--server', '192.0.2.1:25', '--to', 'someone@example.com']), /not a loopback address/);
  await assert.rejects(curl(['http://192.0.2.1/']), /not a loopback address/);
  await assert.rejects(smtpSend({ host: '192.0.2.1', port: 25, from: 'a@b.test', to: ['c@d.test'], message: '' }), /not a loopback address/);
  await assert.rejects(rawSession('192.0.2.1', 25), /not a loopback address/);
});

/** A minimal STARTTLS line server, so the raw session can be tested without kakitome. */
async function startTlsLineServer(cert: Buffer, key: Buffer) {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.write('220 fake.test ready\r\n');
    socket.once('data', (line) => {
      if (!line.toString().startsWith('STARTTLS')) return socket.end('500 expected STARTTLS\r\n');
      socket.write('220 go ahead\r\n');
      const secure = new TLSSocket(socket, { isServer: true, cert, key });
      secure.on('error', () => {});
      secure.on('data', (data) => secure.end(`250 secure, you said ${data.toString().trim()}\r\n`));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

test('raw session: expect, STARTTLS with a verified certificate, and close detection', async (t) => {
  const dir = await makeTempDir('kakitome-harness-tls');
  t.after(() => removeDir(dir));
  const made = await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=fake.test', '-addext', 'subjectAltName=DNS:fake.test', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
  assert.equal(made.code, 0, made.stderr);
  const cert = await readFile(join(dir, 'cert.pem'));
  const server = await startTlsLineServer(cert, await readFile(join(dir, 'key.pem')));
  t.after(() => server.close());

  const session = await rawSession('127.0.0.1', server.port, { ca: cert, servername: 'fake.test' });
  assert.equal(await session.expect(/^220 .*\r\n/m), '220 fake.test ready\r\n');
  session.send('STARTTLS');
  await session.expect(/^220 go ahead\r\n/m);
  assert.equal(session.encrypted(), false);
  await session.startTls();
  assert.equal(session.encrypted(), true);
  session.send('NOOP');
  assert.match(await session.expect(/^250 .*\r\n/m), /secure, you said NOOP/);
  assert.equal(await session.waitForClose(2000), true);
  await assert.rejects(session.expect(/never/, 500), /connection closed/);

  const wrongName = await rawSession('127.0.0.1', server.port, { ca: cert, servername: 'other.test' });
  await wrongName.expect(/^220 /m);
  wrongName.send('STARTTLS');
  await wrongName.expect(/^220 go ahead/m);
  await assert.rejects(wrongName.startTls(), /TLS handshake/);
  wrongName.close();

  const silent = await rawSession('127.0.0.1', server.port, { timeoutMs: 300 });
  await silent.expect(/^220 /m);
  await assert.rejects(silent.expect(/^250 /m), /no .* within 300 ms/);
  silent.close();
});

test('instance: made through the CLI, listening on its ports, trusted with its own certificate, stops with 0', async (t) => {
  const instance = await startInstance({
    domains: ['example.org'],
    users: [{ address: 'alice@example.test', password: 'correct horse battery staple' }],
    aliases: { 'postmaster@example.test': 'alice@example.test' },
    t,
  });
  assert.ok(existsSync(instance.configPath) && existsSync(instance.certPath));
  assert.equal(instance.host, '127.0.0.1');
  assert.ok(instance.running());
  assert.ok(instance.logEntries().some((entry) => entry.msg === 'ready'));

  const domains = await instance.cli(['domain', 'list']);
  assert.equal(domains.code, 0, domains.stderr);
  assert.match(domains.stdout, /example\.test/);
  assert.match(domains.stdout, /example\.org/);
  assert.match((await instance.cli(['user', 'list'])).stdout, /^alice@example\.test\b/m);
  assert.match((await instance.cli(['alias', 'list'])).stdout, /^postmaster@example\.test\s+alice@example\.test$/m);

  // Whatever the SMTP listener answers, a client connecting to it sees a reply code.
  const smtp = await rawSession(instance.host, instance.ports.smtp);
  assert.match(await smtp.expect(/^\d{3}[ -].*\r\n/m), /^\d{3}[ -]/);
  smtp.close();
  const transcript = await swaks(['--server', `${instance.host}:${instance.ports.smtp}`, '--to', 'postmaster@example.test', '--from', 'someone@example.org', '--timeout', '10']);
  assert.match(transcript.transcript, /^=== Connected to 127\.0\.0\.1/m);
  assert.match(transcript.transcript, /^<[-*~]{1,2} *\d{3}[ -]/m);

  // Implicit TLS verifies against the instance's certificate, for its hostname.
  const secure = await rawSession(instance.host, instance.ports.pop3s, { tls: true, ca: await readFile(instance.certPath), servername: instance.hostname });
  assert.equal(secure.encrypted(), true);
  secure.close();
  const pop = await pop3Fetch({ host: instance.host, port: instance.ports.pop3s, trust: { cafile: instance.certPath }, user: 'nobody@example.test', password: 'wrong' });
  assert.doesNotMatch(pop.error?.type ?? '', /SSL|Cert/i, JSON.stringify(pop));
  const untrusted = await pop3Fetch({ host: instance.host, port: instance.ports.pop3s, user: 'nobody@example.test', password: 'wrong' });
  assert.equal(untrusted.error?.type, 'SSLCertVerificationError', 'a client that does not trust the self-signed certificate refuses it');

  assert.equal(await instance.stop(), 0);
  assert.equal(instance.running(), false);
  assert.ok(instance.logEntries().some((entry) => entry.msg === 'stopped' || entry.msg === 'stopping'));
  assert.equal(await isTcpPortFree(instance.ports.smtp, instance.host), true, 'the port is released');
});

test('instance: restart serves again; kill leaves it stopped', async (t) => {
  const instance = await startInstance({ listen: randomLoopbackAddress(), t });
  await instance.restart();
  assert.equal(instance.logEntries().filter((entry) => entry.msg === 'ready').length, 2);
  const session = await rawSession(instance.host, instance.ports.smtp);
  await session.expect(/^\d{3}[ -]/m);
  session.close();
  await instance.kill();
  assert.equal(instance.running(), false);
  await instance.restart();
  assert.equal(instance.running(), true);
  // Right after "ready": serve must already handle the signal (until a handler is
  // installed, the operating system's default action kills the process).
  assert.equal(await instance.stop('SIGINT'), 0, 'SIGINT right after "ready" stops serve cleanly');
});

test('instance: a serve that cannot start fails fast with its own error message', async () => {
  const failure = await startInstance({ editConfig: (toml) => `${toml}\nno_such_key = 1\n` }).then(() => undefined, (error: Error) => error);
  assert.ok(failure instanceof Error);
  assert.match(failure.message, /kakitome serve .* exited with code [1-9]/);
  assert.match(failure.message, /no_such_key/);
});
