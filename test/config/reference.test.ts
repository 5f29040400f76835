import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderConfigReference } from '../../src/config/reference.ts';

const reference = renderConfigReference();
const rows = reference.trimEnd().split('\n').slice(2);
const cellsOf = (row: string): string[] => row.split(/(?<!\\)\|/).slice(1, -1).map((cell) => cell.trim());
const rowFor = (key: string): string[] => {
  const row = rows.find((line) => line.startsWith(`| \`${key}\` |`));
  assert.ok(row, `no row for ${key}`);
  return cellsOf(row);
};

test('the reference is a Markdown table with one row per table and key, in schema order', () => {
  assert.deepEqual(reference.split('\n').slice(0, 2), ['| key | type | default | description |', '|---|---|---|---|']);
  assert.ok(reference.endsWith('|\n'));
  assert.deepEqual(
    rows.map((row) => cellsOf(row)[0]),
    [
      'hostname', 'data_dir',
      'listen', 'listen.smtp', 'listen.submission', 'listen.submissions', 'listen.pop3', 'listen.pop3s',
      'tls', 'tls.cert', 'tls.key', 'tls.legacy_cbc_ciphers',
      'dns', 'dns.servers',
      'relay', 'relay.trusted_networks',
      'pop_before_smtp', 'pop_before_smtp.enabled', 'pop_before_smtp.ttl',
      'outbound', 'outbound.smtp_port', 'outbound.source_ip', 'outbound.hold', 'outbound.max_age',
      'outbound.retry_initial', 'outbound.retry_max', 'outbound.max_connections', 'outbound.max_per_domain', 'outbound.connect_timeout',
      'outbound.transport',
      'smtp', 'smtp.max_message_size', 'smtp.max_recipients', 'smtp.max_connections', 'smtp.max_connections_per_ip',
      'smtp.idle_timeout', 'smtp.max_header_bytes', 'smtp.max_header_fields', 'smtp.max_received_headers',
      'sender_auth', 'sender_auth.dmarc_reject', 'sender_auth.dmarc_quarantine', 'sender_auth.spf_fail', 'sender_auth.temperror', 'sender_auth.sender_id',
      'dnsbl', 'dnsbl.zones', 'dnsbl.allow', 'dnsbl.scored_zones',
      'submission', 'submission.max_messages_per_hour', 'submission.received_client_ip',
      'pop3', 'pop3.apop', 'pop3.idle_timeout', 'pop3.max_connections', 'pop3.max_connections_per_ip',
      'auth', 'auth.max_failures_per_ip', 'auth.max_failures_per_account', 'auth.lockout',
      'access',
      ...['smtp', 'submission', 'submissions', 'pop3', 'pop3s'].flatMap((role) => [`access.${role}`, `access.${role}.allow`, `access.${role}.deny`]),
      'antivirus', 'antivirus.action', 'antivirus.fail_open', 'antivirus.rescan_on_retrieval', 'antivirus.engine',
      ...['type', 'socket', 'address', 'rules', 'timeout'].map((key) => `antivirus.engine[].${key}`),
      'attachments', 'attachments.inbound', 'attachments.outbound', 'attachments.extra_blocked_extensions',
      'spam', 'spam.enabled', 'spam.junk_score', 'spam.quarantine_score', 'spam.reject_score', 'spam.min_ham', 'spam.min_spam',
      'spam.max_tokens', 'spam.max_user_tokens', 'spam.junk_keep',
      'spam.scores',
      ...['spf_fail', 'spf_softfail', 'dkim_fail', 'dmarc_fail', 'dmarc_quarantine', 'senderid_fail', 'dnsbl_listed', 'attachment_blocked', 'display_name_imitation'].map((key) => `spam.scores.${key}`),
      'spam.rule',
      ...['name', 'header', 'body', 'pattern', 'keywords', 'score'].map((key) => `spam.rule[].${key}`),
      'quarantine', 'quarantine.keep',
      'log', 'log.level',
    ].map((key) => `\`${key}\``),
  );
});

test('every row has four cells and a description', () => {
  for (const row of rows) {
    const cells = cellsOf(row);
    assert.equal(cells.length, 4, row);
    assert.ok(cells[3]!.length > 10, `no description: ${row}`);
  }
});

test('types and defaults are written as in the TOML file', () => {
  assert.deepEqual(rowFor('hostname').slice(0, 3), ['`hostname`', 'host name', '*(required)*']);
  assert.deepEqual(rowFor('data_dir').slice(0, 3), ['`data_dir`', 'path', '`"data"`']);
  assert.deepEqual(rowFor('listen').slice(0, 3), ['`listen`', 'table', '']);
  assert.deepEqual(rowFor('listen.smtp').slice(0, 3), ['`listen.smtp`', 'list of "address:port"', '`[]`']);
  assert.deepEqual(rowFor('relay.trusted_networks').slice(0, 3), ['`relay.trusted_networks`', 'list of CIDR', '`[]`']);
  assert.deepEqual(rowFor('pop_before_smtp.enabled').slice(0, 3), ['`pop_before_smtp.enabled`', 'boolean', '`false`']);
  assert.deepEqual(rowFor('pop_before_smtp.ttl').slice(0, 3), ['`pop_before_smtp.ttl`', 'duration', '`"30m"`']);
  assert.deepEqual(rowFor('outbound.smtp_port').slice(0, 3), ['`outbound.smtp_port`', 'port', '`25`']);
  assert.deepEqual(rowFor('outbound.max_age').slice(0, 3), ['`outbound.max_age`', 'duration', '`"5d"`']);
  assert.deepEqual(rowFor('outbound.transport').slice(0, 3), ['`outbound.transport`', 'table of domain = "host:port"', '`{}`']);
  assert.deepEqual(rowFor('log.level').slice(0, 3), [
    '`log.level`',
    'one of "fatal", "error", "warn", "info", "debug", "trace"',
    '`"info"`',
  ]);
});

test('rendering twice gives the same text', () => {
  assert.equal(renderConfigReference(), reference);
});
