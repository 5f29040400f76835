import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.ts';

const FILE = '/etc/kakitome/kakitome.toml';
const HOSTNAME = 'hostname = "mail.example.com"\n';

/** Parses a config that must be valid; the hostname line is added unless the text has one. */
function parse(text: string) {
  return parseConfig(text.includes('hostname') ? text : HOSTNAME + text, FILE);
}

/** The one-line message of the ConfigError that the text must cause. */
function problem(text: string, file = 'x.toml'): string {
  try {
    parseConfig(text, file);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `not a ConfigError: ${error}`);
    assert.ok(!error.message.includes('\n'), `more than one line: ${error.message}`);
    return error.message;
  }
  assert.fail('the config was accepted');
}

const noRoutes = () => Object.create(null) as Record<string, never>;

test('a config with only a hostname gets every secure default, paths resolved next to the file', () => {
  assert.deepEqual(parse(''), {
    hostname: 'mail.example.com',
    data_dir: '/etc/kakitome/data',
    listen: { smtp: [], submission: [], submissions: [], pop3: [], pop3s: [] },
    tls: { cert: '/etc/kakitome/tls/cert.pem', key: '/etc/kakitome/tls/key.pem', legacy_cbc_ciphers: false },
    dns: { servers: [] },
    relay: { trusted_networks: [] },
    pop_before_smtp: { enabled: false, ttl: 1_800_000 },
    outbound: {
      smtp_port: 25,
      source_ip: '',
      hold: 0,
      max_age: 432_000_000,
      retry_initial: 300_000,
      retry_max: 3_600_000,
      max_connections: 20,
      max_per_domain: 4,
      connect_timeout: 30_000,
      transport: noRoutes(),
    },
    smtp: {
      max_message_size: 26_214_400,
      max_recipients: 100,
      max_connections: 1000,
      max_connections_per_ip: 50,
      idle_timeout: 300_000,
      max_header_bytes: 1_048_576,
      max_header_fields: 1000,
      max_received_headers: 50,
    },
    sender_auth: { dmarc_reject: true, dmarc_quarantine: true, spf_fail: 'accept', temperror: 'tempfail', sender_id: true },
    dnsbl: { zones: [], allow: [], scored_zones: [] },
    submission: { max_messages_per_hour: 200, received_client_ip: false },
    pop3: { apop: true, idle_timeout: 600_000, max_connections: 1000, max_connections_per_ip: 50 },
    auth: { max_failures_per_ip: 10, max_failures_per_account: 20, lockout: 900_000 },
    access: Object.fromEntries(['smtp', 'submission', 'submissions', 'pop3', 'pop3s'].map((role) => [role, { allow: [], deny: [] }])),
    antivirus: {
      action: 'reject',
      fail_open: false,
      rescan_on_retrieval: false,
      engine: [{ type: 'clamd', socket: '/run/clamav/clamd.ctl', address: undefined, rules: '', timeout: 60_000 }],
    },
    attachments: { inbound: 'strip', outbound: 'reject', extra_blocked_extensions: [] },
    spam: {
      enabled: true,
      junk_score: 3,
      quarantine_score: 9,
      reject_score: 9,
      min_ham: 200,
      min_spam: 200,
      max_tokens: 2_000_000,
      max_user_tokens: 200_000,
      junk_keep: 30 * 86_400_000,
      scores: { spf_fail: 1, spf_softfail: 0.5, dkim_fail: 1, dmarc_fail: 1, dmarc_quarantine: 3, senderid_fail: 0.5, dnsbl_listed: 3, attachment_blocked: 1, display_name_imitation: 3 },
      rule: [],
    },
    quarantine: { keep: 30 * 86_400_000 },
    log: { level: 'info' },
  });
});

test('the example from the specification is accepted', () => {
  const config = parse(`hostname = "mail.example.com"
data_dir = "data"

[listen]                       # each a list of "address:port"; an absent role does not listen
smtp        = ["0.0.0.0:25"]   # MTA: inbound for local domains; no AUTH offered
submission  = ["0.0.0.0:587"]  # MSA: STARTTLS, then AUTH
submissions = ["0.0.0.0:465"]  # MSA: implicit TLS
pop3        = ["0.0.0.0:110"]  # STLS; USER/PASS refused before TLS
pop3s       = ["0.0.0.0:995"]

[tls]
cert = "tls/cert.pem"
key  = "tls/key.pem"

[dns]
servers = []                   # "host:port" resolvers; empty = system resolver

[relay]
trusted_networks = []          # CIDRs that may relay without AUTH; loopback is NOT trusted by default

[pop_before_smtp]
enabled = false
ttl = "30m"                    # how long a POP3 login authorises its IP for submission

[outbound]
smtp_port = 25                 # port used when delivering to MX hosts
source_ip = ""                 # bind outgoing connections to this address
hold = "0s"                    # hold window for submitted mail before the first attempt

[outbound.transport]           # domain = "host:port" next hop, overriding MX
# "example.net" = "10.0.0.5:25"
`);
  assert.deepEqual(config.listen.pop3s, [{ host: '0.0.0.0', port: 995 }]);
  assert.deepEqual(config.outbound.transport, noRoutes());
});

test('hostname: lower-cased, IDN to punycode, required, must be a name', () => {
  assert.equal(parse('hostname = "Mail.Example.COM"').hostname, 'mail.example.com');
  assert.equal(parse('hostname = "mail.bücher.example"').hostname, 'mail.xn--bcher-kva.example');
  assert.equal(problem('data_dir = "d"\n'), 'x.toml:1: hostname: required key is missing');
  assert.equal(problem('\n\nhostname = "mail_1.example"'), 'x.toml:3: hostname: expected a host name like "mail.example.com", got "mail_1.example"');
  assert.equal(problem('hostname = "192.0.2.1"'), 'x.toml:1: hostname: expected a host name like "mail.example.com", got "192.0.2.1"');
  assert.equal(problem('hostname = 42'), 'x.toml:1: hostname: expected a string, got 42');
});

test('listen: IPv4 and IPv6 addresses with ports, parsed into host and port', () => {
  const { listen } = parse('[listen]\nsmtp = ["0.0.0.0:25", "[::]:25"]\nsubmission = ["[::1]:587"]\npop3s = ["127.0.0.1:995"]\n');
  assert.deepEqual(listen, {
    smtp: [{ host: '0.0.0.0', port: 25 }, { host: '::', port: 25 }],
    submission: [{ host: '::1', port: 587 }],
    submissions: [],
    pop3: [],
    pop3s: [{ host: '127.0.0.1', port: 995 }],
  });
});

test('listen: a host name, a missing port or a bad port is reported with the element line', () => {
  const text = `${HOSTNAME}
[listen]
smtp = [
  "0.0.0.0:25",
  "localhost:25",
]
pop3 = ["[::1]:0"]
`;
  assert.equal(
    problem(text, '/etc/kakitome.toml'),
    '/etc/kakitome.toml:6: listen.smtp[1]: expected "address:port" with an IP address, got "localhost:25"; ' +
      '/etc/kakitome.toml:8: listen.pop3[0]: port must be 1-65535, got "[::1]:0"',
  );
  assert.equal(problem(`${HOSTNAME}listen.smtp = "0.0.0.0:25"`), 'x.toml:2: listen.smtp: expected a list, got "0.0.0.0:25"');
  assert.equal(problem(`${HOSTNAME}listen = ["0.0.0.0:25"]`), 'x.toml:2: listen: expected a table, got a list');
});

test('listen: the same address and port twice is refused, also across roles and IPv6 spellings', () => {
  assert.equal(
    problem(`${HOSTNAME}[listen]\nsmtp = ["0.0.0.0:25"]\nsubmission = ["0.0.0.0:587", "0.0.0.0:25"]\n`),
    'x.toml:4: listen.submission[1]: "0.0.0.0:25" is already used by listen.smtp[0]',
  );
  assert.equal(
    problem(`${HOSTNAME}[listen]\npop3 = ["[::]:110", "[0:0::0]:110"]\n`),
    'x.toml:3: listen.pop3[1]: "[::]:110" is already used by listen.pop3[0]',
  );
  // same port on different addresses is fine
  assert.equal(parse('[listen]\nsmtp = ["127.0.0.1:25", "[::1]:25", "192.0.2.1:25"]').listen.smtp.length, 3);
});

test('tls: paths are relative to the config file; absolute paths stay', () => {
  const config = parseConfig('hostname = "m.example"\ndata_dir = "../var"\n[tls]\ncert = "/srv/cert.pem"\nkey = "keys/k.pem"', '/etc/kakitome/main.toml');
  assert.equal(config.data_dir, '/etc/var');
  assert.equal(config.tls.cert, '/srv/cert.pem');
  assert.equal(config.tls.key, '/etc/kakitome/keys/k.pem');
  // a relative config file name is resolved against the working directory first
  assert.equal(parseConfig(HOSTNAME, 'conf/k.toml').data_dir, join(process.cwd(), 'conf', 'data'));
  assert.equal(problem(`${HOSTNAME}[tls]\nkey = ""`), 'x.toml:3: tls.key: expected a file path, got ""');
});

test('dns: servers become "address:port" strings for dns.Resolver#setServers', () => {
  assert.deepEqual(parse('[dns]\nservers = ["127.0.0.1:5353", "192.0.2.53", "[::1]:5353", "[2001:DB8::53]"]').dns.servers, [
    '127.0.0.1:5353',
    '192.0.2.53:53',
    '[::1]:5353',
    '[2001:db8::53]:53',
  ]);
  assert.equal(
    problem(`${HOSTNAME}[dns]\nservers = ["ns1.example.net"]`),
    'x.toml:3: dns.servers[0]: expected an IP address with an optional ":port", got "ns1.example.net"',
  );
});

test('relay: trusted networks are normalised CIDRs', () => {
  assert.deepEqual(parse('[relay]\ntrusted_networks = ["192.0.2.0/24", "198.51.100.7", "2001:DB8::/32", "::1"]').relay.trusted_networks, [
    '192.0.2.0/24',
    '198.51.100.7/32',
    '2001:db8::/32',
    '::1/128',
  ]);
  assert.equal(
    problem(`${HOSTNAME}[relay]\ntrusted_networks = ["10.0.0.0/8", "10.1.2.3/8", "192.0.2.0/40"]`),
    'x.toml:3: relay.trusted_networks[1]: "10.1.2.3/8" has host bits set: the network is "10.0.0.0/8"; ' +
      'x.toml:3: relay.trusted_networks[2]: prefix length must be 0-32, got "192.0.2.0/40"',
  );
});

test('pop_before_smtp: enabled and ttl as a duration in milliseconds', () => {
  assert.deepEqual(parse('[pop_before_smtp]\nenabled = true\nttl = "1h30m"').pop_before_smtp, { enabled: true, ttl: 5_400_000 });
  assert.equal(problem(`${HOSTNAME}[pop_before_smtp]\nenabled = "yes"`), 'x.toml:3: pop_before_smtp.enabled: expected true or false, got "yes"');
  assert.equal(
    problem(`${HOSTNAME}[pop_before_smtp]\nttl = "-5m"`),
    'x.toml:3: pop_before_smtp.ttl: expected a duration like "30m" or "1h30m" (units d, h, m, s, ms), got "-5m"',
  );
  assert.equal(problem(`${HOSTNAME}pop_before_smtp.ttl = 30`), 'x.toml:2: pop_before_smtp.ttl: expected a string, got 30');
});

test('outbound: port, source address, durations', () => {
  const { outbound } = parse('[outbound]\nsmtp_port = 2525\nsource_ip = "2001:DB8::25"\nhold = "90s"\nmax_age = "2d12h"');
  assert.equal(outbound.smtp_port, 2525);
  assert.equal(outbound.source_ip, '2001:db8::25');
  assert.equal(outbound.hold, 90_000);
  assert.equal(outbound.max_age, 216_000_000);
  assert.equal(problem(`${HOSTNAME}[outbound]\nsmtp_port = 0`), 'x.toml:3: outbound.smtp_port: must be at least 1, got 0');
  assert.equal(problem(`${HOSTNAME}[outbound]\nsmtp_port = 65536`), 'x.toml:3: outbound.smtp_port: must be at most 65535, got 65536');
  assert.equal(problem(`${HOSTNAME}[outbound]\nsmtp_port = 25.5`), 'x.toml:3: outbound.smtp_port: expected an integer, got 25.5');
  assert.equal(problem(`${HOSTNAME}[outbound]\nsmtp_port = "25"`), 'x.toml:3: outbound.smtp_port: expected a number, got "25"');
  assert.equal(problem(`${HOSTNAME}[outbound]\nsource_ip = "mail.example.com"`), 'x.toml:3: outbound.source_ip: expected an IP address, got "mail.example.com"');
  assert.equal(
    problem(`${HOSTNAME}[outbound]\nhold = "1m30"`),
    'x.toml:3: outbound.hold: expected a duration like "30m" or "1h30m" (units d, h, m, s, ms), got "1m30"',
  );
});

test('outbound.transport: domains normalised, next hops parsed', () => {
  const { transport } = parse(`[outbound.transport]
"Example.NET" = "10.0.0.5:25"
"bücher.example" = "Relay.Example.com"
'v6.example' = "[2001:db8::7]:2525"
`).outbound;
  assert.deepEqual(
    transport,
    Object.assign(noRoutes(), {
      'example.net': { host: '10.0.0.5', port: 25 },
      'xn--bcher-kva.example': { host: 'relay.example.com', port: 25 },
      'v6.example': { host: '2001:db8::7', port: 2525 },
    }),
  );
  assert.equal(transport['constructor'], undefined); // no prototype to find things on
  // TOML reads an unquoted dotted key as nested tables, so a domain must be quoted
  assert.equal(
    problem(`${HOSTNAME}[outbound.transport]\nexample.net = "10.0.0.5:25"`),
    'x.toml:3: outbound.transport.example: expected a string, got a table',
  );
});

test('outbound.transport: bad domains, bad hops and one domain spelt twice', () => {
  const text = `${HOSTNAME}[outbound.transport]
"example.net" = "10.0.0.5:25"
"bad_domain.example" = "10.0.0.6:25"
"EXAMPLE.net" = "10.0.0.7:25"
`;
  assert.equal(
    problem(text),
    'x.toml:4: outbound.transport."bad_domain.example": expected a host name like "mail.example.com", got "bad_domain.example"; ' +
      'x.toml:5: outbound.transport."EXAMPLE.net": same domain as "example.net"',
  );
  assert.equal(
    problem(`${HOSTNAME}[outbound.transport]\n"example.net" = "relay:99999"`),
    'x.toml:3: outbound.transport."example.net": port must be 1-65535, got "relay:99999"',
  );
});

test('log: level is one of the pino levels', () => {
  assert.equal(parse('[log]\nlevel = "debug"').log.level, 'debug');
  assert.equal(
    problem(`${HOSTNAME}[log]\nlevel = "verbose"`),
    'x.toml:3: log.level: expected one of "fatal", "error", "warn", "info", "debug", "trace", got "verbose"',
  );
});

test('unknown keys are errors, at the top level and in every table, with their line', () => {
  assert.equal(problem(`${HOSTNAME}\nhost_name = "x"`), 'x.toml:3: host_name: unknown key');
  assert.equal(problem(`${HOSTNAME}[tls]\ncertfile = "c.pem"`), 'x.toml:3: tls.certfile: unknown key');
  assert.equal(problem(`${HOSTNAME}[smtpd]\nport = 25`), 'x.toml:2: smtpd: unknown key');
  assert.equal(problem(`${HOSTNAME}tls = { cert = "c.pem", certfile = "d.pem" }`), 'x.toml:2: tls.certfile: unknown key');
  assert.equal(problem(`${HOSTNAME}[outbound]\n"smtp port" = 25`), 'x.toml:3: outbound."smtp port": unknown key');
  assert.equal(
    problem(`${HOSTNAME}[listen]\nsmtp = []\nimap = ["0.0.0.0:143"]\n[log]\nlevel = "info"\nformat = "json"`),
    'x.toml:4: listen.imap: unknown key; x.toml:7: log.format: unknown key',
  );
});

test('TOML syntax errors name their line', () => {
  assert.equal(problem(`${HOSTNAME}[tls]\ncert = "a.pem`, 'k.toml'), 'k.toml:3: invalid TOML: unfinished string');
  assert.equal(problem(`${HOSTNAME}${HOSTNAME}`, 'k.toml'), 'k.toml:2: invalid TOML: trying to redefine an already defined table or value');
});

test('several problems are listed in line order in one line; the error names the first', () => {
  try {
    parseConfig('log.level = "loud"\nhostname = "-bad-"\n[tls]\nkey = 1\n', 'x.toml');
    assert.fail('accepted');
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.equal(
      error.message,
      'x.toml:1: log.level: expected one of "fatal", "error", "warn", "info", "debug", "trace", got "loud"; ' +
        'x.toml:2: hostname: expected a host name like "mail.example.com", got "-bad-"; ' +
        'x.toml:4: tls.key: expected a string, got 1',
    );
    assert.equal(error.file, 'x.toml');
    assert.equal(error.line, 1);
    assert.equal(error.keyPath, 'log.level');
    assert.equal(error.problems.length, 3);
  }
});

test('each problem is reported once, in line order, whatever the order of the schema', () => {
  const text = `[log]
level = 5
[listen]
smtp = ["0.0.0.0:25", 25, "0.0.0.0:25"]
[outbound]
smtp_port = inf
max_per_domain = nan
[pop_before_smtp]
ttl = "soon"
`;
  assert.equal(
    problem(text),
    'x.toml:1: hostname: required key is missing; ' +
      'x.toml:2: log.level: expected one of "fatal", "error", "warn", "info", "debug", "trace", got 5; ' +
      'x.toml:4: listen.smtp[1]: expected a string, got 25; ' +
      'x.toml:6: outbound.smtp_port: expected a number, got Infinity; ' +
      'x.toml:7: outbound.max_per_domain: expected a number, got NaN; ' +
      'x.toml:9: pop_before_smtp.ttl: expected a duration like "30m" or "1h30m" (units d, h, m, s, ms), got "soon"',
  );
  // problems on one line keep the schema's order: its keys first, then the unknown ones
  assert.equal(
    problem(`${HOSTNAME}tls = { certfile = "c.pem", key = 1 }`),
    'x.toml:2: tls.key: expected a string, got 1; x.toml:2: tls.certfile: unknown key',
  );
});

test('an address used three times is reported for each later use; an unknown key beside it too', () => {
  assert.equal(
    problem(`${HOSTNAME}[listen]\nsmtp = ["0.0.0.0:25", "0.0.0.0:25"]\nsubmission = ["0.0.0.0:25"]\nimap = []\n`),
    'x.toml:3: listen.smtp[1]: "0.0.0.0:25" is already used by listen.smtp[0]; ' +
      'x.toml:4: listen.submission[0]: "0.0.0.0:25" is already used by listen.smtp[0]; ' +
      'x.toml:5: listen.imap: unknown key',
  );
});

test('defaults are made afresh for each config, prefaults parsed like written values', () => {
  const first = parse('');
  first.listen.smtp.push({ host: '192.0.2.1', port: 25 });
  first.access.smtp.allow.push('192.0.2.0/24');
  const second = parse('');
  assert.deepEqual(second.listen.smtp, []);
  assert.deepEqual(second.access.smtp.allow, []);
  // an absent key reads as its default written out: "5d" and "30s" are durations in milliseconds
  assert.deepEqual([second.outbound.max_age, second.outbound.connect_timeout], [432_000_000, 30_000]);
  assert.notEqual(second.outbound.transport, first.outbound.transport);
});

test('a date where a table belongs is refused, not read as an empty table', () => {
  assert.equal(problem(`${HOSTNAME}tls = 2024-01-01`), 'x.toml:2: tls: expected a table, got a date');
  assert.equal(problem(`${HOSTNAME}[access]\nsmtp = 2024-01-01T00:00:00Z`), 'x.toml:3: access.smtp: expected a table, got a date');
});

test('a "__proto__" key is a key like any other: unknown in a table, not a domain in outbound.transport', () => {
  assert.equal(problem(`${HOSTNAME}[log]\n"__proto__" = "x"`), 'x.toml:3: log.__proto__: unknown key');
  assert.equal(
    problem(`${HOSTNAME}[outbound.transport]\n"__proto__" = "10.0.0.5"`),
    'x.toml:3: outbound.transport.__proto__: expected a host name like "mail.example.com", got "__proto__"',
  );
});

test('an integer beyond 2 ** 53 is told the field\'s own bound', () => {
  assert.equal(problem(`${HOSTNAME}[outbound]\nsmtp_port = 1e20`), 'x.toml:3: outbound.smtp_port: must be at most 65535, got 100000000000000000000');
  assert.equal(
    problem(`${HOSTNAME}[submission]\nmax_messages_per_hour = -1e20`),
    'x.toml:3: submission.max_messages_per_hour: must be at least 0, got -100000000000000000000',
  );
});

test('a byte order mark at the start is ignored', () => {
  assert.equal(parseConfig(`\uFEFF${HOSTNAME}`, FILE).hostname, 'mail.example.com');
});

test('loadConfig reads the file and resolves paths against its directory', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kakitome-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'etc'));
  const file = join(dir, 'etc', 'kakitome.toml');
  await writeFile(file, `${HOSTNAME}data_dir = "../var"\n[tls]\ncert = "cert.pem"\n`);

  const config = await loadConfig(file);
  assert.equal(config.data_dir, join(dir, 'var'));
  assert.equal(config.tls.cert, join(dir, 'etc', 'cert.pem'));
  assert.equal(config.tls.key, join(dir, 'etc', 'tls', 'key.pem'));

  const relativeFile = relative(process.cwd(), file);
  assert.equal((await loadConfig(relativeFile)).data_dir, join(dir, 'var'));
});

test('loadConfig reports an unreadable file in one line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kakitome-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const missing = join(dir, 'missing.toml');
  await assert.rejects(loadConfig(missing), {
    name: 'ConfigError',
    message: `${missing}: cannot read: ENOENT: no such file or directory`,
    file: missing,
    line: undefined,
  });
  await assert.rejects(loadConfig(dir), { message: `${dir}: cannot read: EISDIR: illegal operation on a directory` });
  const bad = join(dir, 'bad.toml');
  await writeFile(bad, `${HOSTNAME}\n[listen]\nsmtp = ["localhost:25"]\n`);
  await assert.rejects(loadConfig(bad), {
    message: `${bad}:4: listen.smtp[0]: expected "address:port" with an IP address, got "localhost:25"`,
    line: 4,
    keyPath: 'listen.smtp[0]',
  });
});

test('antivirus: engines parsed, paths resolved next to the file; every wrong engine table named with its line', () => {
  const config = parse(`[antivirus]
fail_open = true

[[antivirus.engine]]
type = "clamd"
address = "127.0.0.1:3310"
timeout = "20s"

[[antivirus.engine]]
type = "yara"
rules = "yara-rules"

[[antivirus.engine]]
type = "clamd"
socket = "clamd.sock"
`);
  assert.equal(config.antivirus.fail_open, true);
  assert.deepEqual(config.antivirus.engine.map((e) => [e.type, e.socket, e.address, e.rules, e.timeout]), [
    ['clamd', '', { host: '127.0.0.1', port: 3310 }, '', 20_000],
    ['yara', '', undefined, '/etc/kakitome/yara-rules', 60_000],
    ['clamd', '/etc/kakitome/clamd.sock', undefined, '', 60_000],
  ]);
  const engine = (body: string) => problem(`${HOSTNAME}[[antivirus.engine]]\n${body}\n`);
  assert.match(engine('type = "clamd"'), /^x\.toml:2: antivirus\.engine\[0\]: a clamd engine needs exactly one of socket and address/);
  assert.match(engine('type = "clamd"\nsocket = "/run/a"\naddress = "127.0.0.1:3310"'), /a clamd engine needs exactly one of socket and address/);
  assert.match(engine('type = "clamd"\nsocket = "/run/a"\nrules = "r"'), /antivirus\.engine\[0\]\.rules: rules is for yara engines/);
  assert.match(engine('type = "yara"'), /antivirus\.engine\[0\]\.rules: a yara engine needs rules/);
  assert.match(engine('type = "yara"\nrules = "r"\nsocket = "/run/a"'), /socket and address are for clamd engines/);
  assert.match(engine('type = "sophos"\nsocket = "/run/a"'), /antivirus\.engine\[0\]\.type/);
  assert.match(problem(`${HOSTNAME}[antivirus]\nengine = []\n`), /antivirus\.engine: at least one engine: mail is never delivered unscanned/);
  const replacing = parse('[antivirus]\naction = "replace"\nrescan_on_retrieval = true\n');
  assert.deepEqual([replacing.antivirus.action, replacing.antivirus.rescan_on_retrieval], ['replace', true]);
  assert.match(problem(`${HOSTNAME}[antivirus]\naction = "delete"\n`), /antivirus\.action/);
});

test('quarantine: keep is a duration, 30 days by default; "0s" keeps until deleted by hand', () => {
  assert.equal(parse('[quarantine]\nkeep = "7d"\n').quarantine.keep, 7 * 86_400_000);
  assert.equal(parse('[quarantine]\nkeep = "0s"\n').quarantine.keep, 0);
  assert.match(problem(`${HOSTNAME}[quarantine]\nkeep = "a month"\n`), /^x\.toml:\d+: quarantine\.keep: expected a duration/);
  assert.match(problem(`${HOSTNAME}[quarantine]\nexpire = "1d"\n`), /quarantine/);
});

test('attachments: actions per direction and extra extensions, normalised; a bad extension named', () => {
  const config = parse('[attachments]\ninbound = "reject"\noutbound = "strip"\nextra_blocked_extensions = [".XYZ", "abc"]\n');
  assert.deepEqual(config.attachments, { inbound: 'reject', outbound: 'strip', extra_blocked_extensions: ['xyz', 'abc'] });
  assert.match(problem(`${HOSTNAME}[attachments]\nextra_blocked_extensions = ["a/b"]\n`), /attachments\.extra_blocked_extensions\[0\]: expected a file extension/);
  assert.match(problem(`${HOSTNAME}[attachments]\ninbound = "delete"\n`), /attachments\.inbound/);
});
