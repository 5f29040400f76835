// The configuration file's schema: the one source of truth for key names, types,
// defaults and the documentation generated from them (see reference.ts). Every
// table is strict, because a misspelt key silently ignored is a setting silently lost.
// Defaults are the secure choice: nothing listens, nothing is trusted, nothing is enabled.

import { bool, decimal, int, list, oneOf, type Output, parsed, table, tableOf } from './fields.ts';
import { parseDuration } from './duration.ts';
import { parseLinearPattern } from './pattern.ts';
import {
  type HostPort,
  parseCidr,
  parseDnsServer,
  parseHostName,
  parseIpAddress,
  parseListenAddress,
  parseNextHop,
} from './addresses.ts';

function parsePath(text: string): string {
  if (text === '' || text.includes('\0')) throw new Error(`expected a file path, got ${JSON.stringify(text)}`);
  return text;
}

const path = () => parsed('path', parsePath);
const duration = () => parsed('duration', parseDuration);

const listenList = (description: string) =>
  list(parsed('"address:port"', parseListenAddress)).default([]).describe(description);

const listen = table({
  smtp: listenList('MTA, port 25: receives mail for local domains from the internet; STARTTLS offered, no AUTH.'),
  submission: listenList('MSA, port 587: STARTTLS, then AUTH; accepts mail from your users.'),
  submissions: listenList('MSA with implicit TLS, port 465 (RFC 8314).'),
  pop3: listenList('POP3, port 110: STLS; USER/PASS refused before TLS, APOP allowed.'),
  pop3s: listenList('POP3 with implicit TLS, port 995 (RFC 8314).'),
}).refine((roles, report) => {
  const firstUse = new Map<string, string>();
  for (const [role, addresses] of Object.entries(roles)) {
    addresses.forEach(({ host, port }, index) => {
      const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      const earlier = firstUse.get(address);
      if (earlier === undefined) firstUse.set(address, `listen.${role}[${index}]`);
      else report([role, index], `"${address}" is already used by ${earlier}`);
    });
  }
});

const tls = table({
  cert: path().prefault('tls/cert.pem').describe('PEM certificate chain for every TLS listener, leaf first.'),
  key: path().prefault('tls/key.pem').describe('PEM private key of the certificate; keep it readable only by kakitome.'),
  legacy_cbc_ciphers: bool()
    .default(false)
    .describe('Also accept TLS 1.2 CBC cipher suites (after every AEAD suite) for old clients that have no AEAD suite; weaker, so serve logs a warning. Off: AEAD suites only.'),
});

const dns = table({
  servers: list(parsed('"address[:port]"', parseDnsServer))
    .default([])
    .describe('Resolvers to ask, "address" or "address:port" (port 53 when absent), IPv6 in brackets ("[::1]:53"); empty = the system resolver.'),
});

const relay = table({
  trusted_networks: list(parsed('CIDR', parseCidr))
    .default([])
    .describe('Networks (CIDR; a bare address is one host) that may relay without AUTH. Loopback is not trusted unless listed.'),
});

const popBeforeSmtp = table({
  enabled: bool().default(false).describe('Let an address that logged in over POP3 submit mail without AUTH for a while.'),
  ttl: duration().prefault('30m').describe('How long a POP3 login authorises its IP address for submission.'),
});

/** Domain → next hop; keys are normalised like host names, and two spellings of one domain are an error. */
const transport = tableOf('table of domain = "host:port"', parsed('"host:port"', parseNextHop)).map((routes, report) => {
  // No prototype, so a lookup of a domain like "constructor" finds nothing it should not.
  const byDomain: Record<string, HostPort> = Object.create(null);
  const spelling = new Map<string, string>();
  for (const [key, hop] of Object.entries(routes)) {
    let domain: string;
    try {
      domain = parseHostName(key);
    } catch (error) {
      report([key], (error as Error).message);
      continue;
    }
    const earlier = spelling.get(domain);
    if (earlier !== undefined) {
      report([key], `same domain as "${earlier}"`);
      continue;
    }
    spelling.set(domain, key);
    byDomain[domain] = hop;
  }
  return byDomain;
});

const outbound = table({
  smtp_port: int('port', 1, 65535).default(25).describe('Port used when delivering to MX hosts.'),
  source_ip: parsed('IP address or ""', (text) => (text === '' ? '' : parseIpAddress(text)))
    .prefault('')
    .describe('Bind outgoing connections to this local address; "" lets the system choose.'),
  hold: duration().prefault('0s').describe('Hold window for submitted mail before the first delivery attempt; it can be cancelled meanwhile.'),
  max_age: duration().prefault('5d').describe('Give up retrying and bounce to the sender after this long in the queue (RFC 5321 §4.5.4.1 suggests 4-5 days).'),
  retry_initial: duration().prefault('5m').describe('Wait after the first temporary failure; doubled after each further one (exponential backoff).'),
  retry_max: duration().prefault('1h').describe('Longest wait between two delivery attempts.'),
  max_connections: int('count', 1, 10_000).default(20).describe('Outgoing SMTP connections at once, to all destinations together.'),
  max_per_domain: int('count', 1, 1000).default(4).describe('Outgoing SMTP connections at once to one recipient domain.'),
  connect_timeout: duration().prefault('30s').describe('Give up connecting to a next hop after this long (then the next MX is tried).'),
  transport: transport
    .prefault({})
    .describe('Next hop per recipient domain, overriding MX lookup: "example.net" = "host:port" (quote the domain, or TOML reads its dots as tables); "host" alone means port 25.'),
});

const count = (label: string, min: number, max: number, fallback: number, description: string) =>
  int(label, min, max).default(fallback).describe(description);

const smtp = table({
  max_message_size: count('bytes', 1024, 2 ** 31 - 1, 26_214_400, 'Largest message accepted, in octets, advertised as SIZE (RFC 1870); larger ones get 552 5.3.4.'),
  max_recipients: count('count', 1, 10_000, 100, 'Recipients per message; the next RCPT gets 452 4.5.3 (RFC 5321 §4.5.3.1.8 requires at least 100).'),
  max_connections: count('count', 1, 100_000, 1000, 'Simultaneous SMTP sessions per listener role: smtp (25), submission (587) and submissions (465) each have this many, so a flood on 25 never locks users out of 587/465; more get 421 4.7.0.'),
  max_connections_per_ip: count('count', 1, 100_000, 50, 'Simultaneous SMTP sessions from one client address, per listener role; more get 421 4.7.0.'),
  idle_timeout: duration().prefault('5m').describe('Close a session that sends nothing for this long (RFC 5321 §4.5.3.2.7: at least 5 minutes).'),
  max_header_bytes: count('bytes', 1024, 16_777_216, 1_048_576, 'Largest header section accepted, in octets; larger gets 552 5.3.4.'),
  max_header_fields: count('count', 10, 100_000, 1000, 'Most header fields in one message; more gets 552 5.3.4.'),
  max_received_headers: count('count', 5, 1000, 50, 'Hop limit: a message with more Received fields is refused as a loop (554 5.4.6; RFC 5321 §6.3).'),
});

const senderAuth = table({
  dmarc_reject: bool().default(true).describe('Refuse in the session (550 5.7.1, with the reason) mail that fails DMARC when the domain publishes p=reject.'),
  dmarc_quarantine: bool().default(true).describe('Mark mail that fails DMARC under p=quarantine (header X-Kakitome-Quarantine), so it is filed as spam.'),
  spf_fail: oneOf(['accept', 'reject']).default('accept').describe('What to do with an SPF fail that DMARC does not settle: "accept" (recorded in Authentication-Results) or "reject" (550 5.7.1). Forwarding breaks SPF, so DMARC decides by default.'),
  temperror: oneOf(['tempfail', 'accept']).default('tempfail').describe('A DNS failure while checking SPF or DMARC: "tempfail" (451 4.7.x, the sender retries) or "accept".'),
  sender_id: bool().default(true).describe('Also check Sender ID (RFC 4406: the PRA of the header against spf2.0/pra or v=spf1) and report it in Authentication-Results.'),
});

const dnsbl = table({
  zones: list(parsed('DNS zone', parseHostName)).default([]).describe('DNS block lists asked at connect, e.g. "zen.spamhaus.org"; a listed client gets 554 5.7.1 with the list\'s text. Empty = none.'),
  allow: list(parsed('CIDR', parseCidr)).default([]).describe('Client networks never checked against the block lists.'),
  scored_zones: list(parsed('DNS zone', parseHostName)).default([]).describe('Block lists that only add [spam.scores] dnsbl_listed points to a listed client\'s mail (asked in the spam step), for lists too broad to refuse on.'),
});

const submission = table({
  max_messages_per_hour: count('count', 0, 1_000_000, 200, 'Messages one user may submit per hour (0 = no limit); more get 450 4.7.1. Limits the damage of a stolen password.'),
  received_client_ip: bool().default(false).describe("Name the submitting client's address in the Received header (off: a user's private address does not leak to recipients)."),
});

const pop3 = table({
  apop: bool().default(true).describe('Offer APOP (RFC 1939 §7) to users who have an APOP secret; the greeting then carries a timestamp. MD5-based: prefer TLS.'),
  idle_timeout: duration().prefault('10m').describe('Close a POP3 session idle this long (RFC 1939 §3: at least 10 minutes).'),
  max_connections: count('count', 1, 100_000, 1000, 'Simultaneous POP3 sessions per listener role: pop3 (110) and pop3s (995) each have this many; more are refused (-ERR [SYS/TEMP]).'),
  max_connections_per_ip: count('count', 1, 100_000, 50, 'Simultaneous POP3 sessions from one client address, per listener role; more are refused.'),
});

const auth = table({
  max_failures_per_ip: count('count', 1, 100_000, 10, 'Failed logins from one client address (any protocol) before that address is locked out.'),
  max_failures_per_account: count('count', 1, 100_000, 20, 'Failed logins for one account name, from anywhere, before the account is locked out (unknown names alike).'),
  lockout: duration().prefault('15m').describe('How long a lockout lasts, and the window in which failures are counted.'),
});

const accessList = table({
  allow: list(parsed('CIDR', parseCidr))
    .default([])
    .describe('Client networks that may connect; empty = every network.'),
  deny: list(parsed('CIDR', parseCidr))
    .default([])
    .describe('Client networks that may not connect, even when also allowed.'),
});

const access = table({
  smtp: accessList.prefault({}).describe('Who may connect to the smtp listeners (refused: 554 5.7.1 and close).'),
  submission: accessList.prefault({}).describe('Who may connect to the submission listeners.'),
  submissions: accessList.prefault({}).describe('Who may connect to the submissions listeners.'),
  pop3: accessList.prefault({}).describe('Who may connect to the pop3 listeners.'),
  pop3s: accessList.prefault({}).describe('Who may connect to the pop3s listeners.'),
});

/** Where clamd listens when no engine is configured: Debian's clamav-daemon socket. */
export const DEFAULT_CLAMD_SOCKET = '/run/clamav/clamd.ctl';

const antivirusEngine = table({
  type: oneOf(['clamd', 'yara']).describe('The engine: "clamd" (ClamAV\'s daemon) or "yara" (YARA rules matched by YARA-X, another vendor).'),
  socket: parsed('path or ""', (text) => (text === '' ? '' : parsePath(text)))
    .prefault('')
    .describe('clamd: its unix socket (LocalSocket in clamd.conf), e.g. "/run/clamav/clamd.ctl". Give socket or address.'),
  address: parsed('"host:port" or ""', (text) => (text === '' ? undefined : parseNextHop(text)))
    .prefault('')
    .describe('clamd: its TCP address (TCPSocket/TCPAddr in clamd.conf), e.g. "127.0.0.1:3310". Give socket or address.'),
  rules: parsed('path or ""', (text) => (text === '' ? '' : parsePath(text)))
    .prefault('')
    .describe('yara: a directory of .yar/.yara rule files, relative to this file.'),
  timeout: duration().prefault('60s').describe('A scan not answered within this is a failure (451 unless fail_open).'),
}).refine((engine, report) => {
  if (engine.type === 'clamd') {
    if ((engine.socket === '') === (engine.address === undefined)) report([], 'a clamd engine needs exactly one of socket and address');
    if (engine.rules !== '') report(['rules'], 'rules is for yara engines');
  } else {
    if (engine.rules === '') report(['rules'], 'a yara engine needs rules, a directory of rule files');
    if (engine.socket !== '' || engine.address !== undefined) report([], 'socket and address are for clamd engines');
  }
});

const antivirus = table({
  action: oneOf(['reject', 'replace'])
    .default('reject')
    .describe('Malware found: "reject" (554 5.7.1 in the session, naming the engine and signature) or "replace" (each infected part replaced by a text notice naming the file and signature, the message delivered and marked X-Kakitome-Virus, the original quarantined; malware in no single part is still refused).'),
  fail_open: bool()
    .default(false)
    .describe('An engine down or timed out: false = 451 4.7.1, the sender retries (never delivered unscanned); true = delivered unscanned and marked X-Kakitome-Virus, with a warning at start.'),
  rescan_on_retrieval: bool().default(false).describe('Scan again at POP3 retrieval (RETR, TOP) when the engines\' signatures changed since the message was stored; infected: the client gets a notice instead, the original moves to the quarantine.'),
  engine: list(antivirusEngine)
    .prefault([{ type: 'clamd', socket: DEFAULT_CLAMD_SOCKET }])
    .describe(`The engines, one [[antivirus.engine]] table each; all of them scan every message, in parallel. Absent: clamd at ${DEFAULT_CLAMD_SOCKET}.`),
}).refine((av, report) => {
  if (av.engine.length === 0) report(['engine'], 'at least one engine: mail is never delivered unscanned');
});

const attachmentAction = (direction: string, fallback: 'strip' | 'reject') =>
  oneOf(['strip', 'reject'])
    .default(fallback)
    .describe(`A blocked file in ${direction}: "strip" (the part replaced by a text notice naming the file, the message delivered) or "reject" (554 5.7.1 naming the file).`);

function parseExtension(text: string): string {
  const extension = text.normalize('NFKC').trim().toLowerCase().replace(/^\.+/, '');
  if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(extension)) throw new Error(`expected a file extension like "xyz" (letters, digits, - and _), got ${JSON.stringify(text)}`);
  return extension;
}

const attachments = table({
  inbound: attachmentAction('mail from the internet (port 25)', 'strip'),
  outbound: attachmentAction("users' mail (submission)", 'reject'),
  extra_blocked_extensions: list(parsed('file extension', parseExtension))
    .default([])
    .describe('Extensions blocked besides the built-in list (README, Attachments), e.g. ["xyz"]; case and a leading dot do not matter.'),
});

const quarantine = table({
  keep: duration().prefault('30d').describe('Quarantined mail is deleted by itself this long after it was quarantined (serve checks hourly); "0s" keeps it until deleted by hand.'),
});

const points = (fallback: number, description: string) => decimal('points', -100, 100).default(fallback).describe(description);

/**
 * What the pipeline found, scored (README, Spam filter: how scores combine). No weak fact
 * reaches junk_score (3) alone; a domain's own p=quarantine, a block listing and a
 * display name dressed as ours do.
 */
const spamScores = table({
  spf_fail: points(1, 'SPF fail (the client may not send for the MAIL FROM domain).'),
  spf_softfail: points(0.5, 'SPF softfail.'),
  dkim_fail: points(1, 'A DKIM signature that does not verify (and none that does).'),
  dmarc_fail: points(1, 'DMARC fail, whatever the policy (forwarding and mailing lists break it too).'),
  dmarc_quarantine: points(3, 'DMARC fail under the domain\'s p=quarantine (added to dmarc_fail).'),
  senderid_fail: points(0.5, 'Sender ID (PRA) fail.'),
  dnsbl_listed: points(3, 'The client is listed on a block list of [dnsbl] scored_zones.'),
  attachment_blocked: points(1, 'The attachment policy stripped a file from the message.'),
  display_name_imitation: points(3, 'The From display name shows a local domain or address while the From address is elsewhere.'),
});

function parseRuleName(text: string): string {
  if (!/^[A-Z][A-Z0-9_]{0,39}$/.test(text)) throw new Error(`expected a rule name like "LOTTERY_WIN" (upper-case letters, digits, _), got ${JSON.stringify(text)}`);
  return text;
}

function parseFieldName(text: string): string {
  // RFC 5322 §3.6.8: a field name is printable US-ASCII except the colon.
  if (!/^[!-9;-~]{1,76}$/.test(text)) throw new Error(`expected a header field name like "Subject", got ${JSON.stringify(text)}`);
  return text.toLowerCase();
}

function parseKeyword(text: string): string {
  const word = text.trim().toLowerCase();
  if (word === '' || word.length > 100) throw new Error(`expected a keyword of 1 to 100 characters, got ${JSON.stringify(text)}`);
  return word;
}

const spamRule = table({
  name: parsed('rule name', parseRuleName).describe('Shown in X-Spam-Status and the log, e.g. "LOTTERY_WIN".'),
  header: parsed('field name or ""', (text) => (text === '' ? '' : parseFieldName(text))).prefault('').describe('Match in this header field (every occurrence, encoded words decoded), e.g. "Subject". Give header or body = true.'),
  body: bool().default(false).describe('Match in the text of the message (text parts decoded, HTML as text).'),
  pattern: parsed('regular expression or ""', (text) => (text === '' ? undefined : parseLinearPattern(text)))
    .prefault('')
    .describe('A regular expression matched against the lower-cased text, run in linear time (no backreferences or lookarounds). Give pattern or keywords.'),
  keywords: list(parsed('keyword', parseKeyword)).default([]).describe('Words or phrases matched whole, case-insensitively; any one of them is a hit.'),
  score: decimal('points', -100, 100).describe('Added to the total on a hit (negative: less spam). A rule hits once per message.'),
}).refine((rule, report) => {
  if ((rule.header === '') === !rule.body) report([], 'a rule needs exactly one of header = "Field" and body = true');
  if ((rule.pattern === undefined) === (rule.keywords.length === 0)) report([], 'a rule needs exactly one of pattern and keywords');
});

const spam = table({
  enabled: bool().default(true).describe('Score mail on port 25 (the classifier and the rules) and act on the score; false: no spam step at all.'),
  junk_score: decimal('points', -100, 100).default(3).describe('At or above: delivered to the user\'s Junk mailbox (or as the user chose: kakitome user junk), marked X-Spam-Flag: YES.'),
  quarantine_score: decimal('points', -100, 100).default(9).describe('At or above (and below reject_score): held whole in the quarantine for an administrator. Equal to reject_score (the default): never.'),
  reject_score: decimal('points', -100, 100).default(9).describe('At or above: refused in the session, 550 5.7.1 (the sender is told; nothing is bounced later).'),
  min_ham: count('count', 1, 1_000_000, 200, 'The classifier abstains (adds 0 points) until it has learned this many ham…'),
  min_spam: count('count', 1, 1_000_000, 200, '…and this many spam: before that, only the rules act.'),
  max_tokens: count('count', 1000, 50_000_000, 2_000_000, 'Features the instance\'s model keeps; past it, training prunes the rarest and oldest (50,000,000 at most: 14 octets each, in one database row).'),
  max_user_tokens: count('count', 1000, 10_000_000, 200_000, 'Features each user\'s model keeps.'),
  junk_keep: duration().prefault('30d').describe('Mail in Junk is deleted by itself this long after it arrived (serve checks hourly); "0s" keeps it.'),
  scores: spamScores.prefault({}).describe('Points for what the other checks found.'),
  rule: list(spamRule).default([]).describe('Keyword and pattern rules, one [[spam.rule]] table each.'),
}).refine((settings, report) => {
  if (settings.quarantine_score < settings.junk_score) report(['quarantine_score'], `must be at least junk_score (${settings.junk_score})`);
  if (settings.reject_score < settings.quarantine_score) report(['reject_score'], `must be at least quarantine_score (${settings.quarantine_score})`);
  const names = new Set<string>();
  settings.rule.forEach((rule, index) => {
    if (names.has(rule.name)) report(['rule', index, 'name'], `"${rule.name}" is already the name of another rule`);
    names.add(rule.name);
  });
});

const log = table({
  level: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info').describe('Least severe level written to the log.'),
});

export const configSchema = table({
  hostname: parsed('host name', parseHostName).describe(
    'This server\'s fully qualified host name, used in greetings, HELO and Received headers; an internationalised name is stored as punycode (RFC 5890).',
  ),
  data_dir: path().prefault('data').describe('Directory for the spool, mailboxes and the archive.'),
  listen: listen.prefault({}).describe('Addresses to listen on, per role, each a list of "address:port" with an IP address; an absent role does not listen.'),
  tls: tls.prefault({}).describe('Certificate and key for STARTTLS, STLS and the implicit-TLS ports.'),
  dns: dns.prefault({}).describe('DNS resolution for MX, SPF, DKIM, DMARC and DNSBL lookups.'),
  relay: relay.prefault({}).describe('Who may relay to other domains besides authenticated users.'),
  pop_before_smtp: popBeforeSmtp.prefault({}).describe('POP-before-SMTP, an opt-in alternative to SMTP AUTH for old clients.'),
  outbound: outbound.prefault({}).describe('Delivery of mail to other servers.'),
  smtp: smtp.prefault({}).describe('Limits of the SMTP listeners (smtp, submission, submissions).'),
  sender_auth: senderAuth.prefault({}).describe('SPF, DKIM, DMARC, ARC and Sender ID on inbound mail (port 25), and what their results decide.'),
  dnsbl: dnsbl.prefault({}).describe('DNS block lists (RBL) checked when a client connects to port 25.'),
  submission: submission.prefault({}).describe('The MSA: the submission (587) and submissions (465) listeners.'),
  pop3: pop3.prefault({}).describe('The POP3 and POP3S listeners.'),
  auth: auth.prefault({}).describe('Password guessing: failure limits and lockout, shared by every protocol that logs in.'),
  access: access.prefault({}).describe('Per-listener network allow and deny lists, checked when a client connects.'),
  antivirus: antivirus.prefault({}).describe('Virus scanning of every message on port 25 and submission, before the 250.'),
  attachments: attachments.prefault({}).describe('Dangerous attachments (by name, also inside archives) on port 25 and submission.'),
  spam: spam.prefault({}).describe('The spam filter on port 25: a classifier trained with kakitome spam train, rules, and what a score does.'),
  quarantine: quarantine.prefault({}).describe('Originals the content filters took out of the way (kakitome quarantine list|show|release|delete).'),
  log: log.prefault({}).describe('Logging, one JSON object per line.'),
});

export type Config = Output<typeof configSchema>;
