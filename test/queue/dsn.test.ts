// Delivery status notifications: parsed back into their MIME structure (RFC 6522,
// RFC 3464) without a MIME library, so the test checks the bytes, not a parser's tolerance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildDsn, headerSection, type DsnInput } from '../../src/queue/dsn.ts';

const ORIGINAL = Buffer.from(
  'Received: from client by mail.example.test\r\n\tid 0123456789abcdef\r\n' +
    'From: Alice <alice@example.test>\r\nTo: bob@example.net\r\nSubject: Grüße\r\n' +
    'Message-ID: <m1@example.test>\r\n\r\nsecret body line\r\n',
);

interface Part {
  headers: Map<string, string>;
  body: string;
}

/** Splits header fields (unfolded, names lower-cased) from the body at the first empty line. */
function parseEntity(text: string): Part {
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const headers = new Map<string, string>();
  for (const field of head.replace(/\r\n[ \t]/g, ' ').split('\r\n')) {
    const colon = field.indexOf(':');
    headers.set(field.slice(0, colon).toLowerCase(), field.slice(colon + 1).trim());
  }
  return { headers, body: end < 0 ? '' : text.slice(end + 4) };
}

function parseDsn(dsn: Buffer): { top: Part; parts: Part[] } {
  const text = dsn.toString('utf8');
  const top = parseEntity(text);
  const boundary = /boundary="([^"]+)"/.exec(top.headers.get('content-type') ?? '')?.[1];
  assert.ok(boundary, 'multipart boundary');
  const segments = top.body.split(`\r\n--${boundary}`);
  // Preamble before the first delimiter (the body starts with text, then the first "--boundary").
  assert.match(segments[0]!, new RegExp(`--${boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}|MIME`));
  assert.equal(segments.at(-1), '--\r\n', 'close delimiter at the end');
  const parts = segments.slice(1, -1).map((segment) => {
    assert.ok(segment.startsWith('\r\n'), 'delimiter line ends with CRLF');
    return parseEntity(segment.slice(2));
  });
  return { top, parts };
}

function input(overrides: Partial<DsnInput> = {}): DsnInput {
  return {
    kind: 'failed',
    hostname: 'mail.example.test',
    sender: 'alice@example.test',
    queueId: '0123456789abcdef',
    arrivalDate: new Date('2026-03-01T10:00:00Z'),
    date: new Date('2026-03-01T10:05:00Z'),
    recipients: [
      {
        recipient: 'bob@example.net',
        status: '5.1.1',
        reason: 'refused by mx.example.net',
        diagnostic: '550 5.1.1 no such user',
        remoteMta: 'mx.example.net',
        lastAttemptAt: new Date('2026-03-01T10:04:00Z'),
      },
      { recipient: 'carol@example.org', status: '4.4.7', reason: 'delivery given up after 9 attempts' },
    ],
    originalHeader: headerSection(ORIGINAL),
    ...overrides,
  };
}

test('a failure notice is a multipart/report with text, delivery-status and the original header', () => {
  const dsn = buildDsn(input());
  const text = dsn.toString('utf8');
  assert.doesNotMatch(text.replace(/\r\n/g, ''), /[\r\n]/, 'CRLF line ends only');
  const { top, parts } = parseDsn(dsn);

  assert.equal(top.headers.get('from'), 'Mail Delivery System <MAILER-DAEMON@mail.example.test>');
  assert.equal(top.headers.get('to'), '<alice@example.test>');
  assert.equal(top.headers.get('subject'), 'Undelivered Mail Returned to Sender');
  assert.equal(top.headers.get('date'), 'Sun, 1 Mar 2026 10:05:00 +0000');
  assert.match(top.headers.get('message-id')!, /^<[0-9a-f]+\.0123456789abcdef@mail\.example\.test>$/);
  assert.equal(top.headers.get('auto-submitted'), 'auto-replied');
  assert.equal(top.headers.get('return-path'), '<>');
  assert.equal(top.headers.get('mime-version'), '1.0');
  assert.match(top.headers.get('content-type')!, /^multipart\/report; report-type=delivery-status; boundary="/);
  // The original header holds "Grüße" in raw UTF-8: the whole is 8bit.
  assert.equal(top.headers.get('content-transfer-encoding'), '8bit');

  assert.equal(parts.length, 3);
  const [human, status, headers] = parts as [Part, Part, Part];
  assert.match(human.headers.get('content-type')!, /^text\/plain; charset=utf-8/);
  assert.match(human.body, /<bob@example\.net>: refused by mx\.example\.net/);
  assert.match(human.body, /mx\.example\.net said: 550 5\.1\.1 no such user/);
  assert.match(human.body, /<carol@example\.org>: delivery given up after 9 attempts/);
  assert.match(human.body, /queued as 0123456789abcdef/);

  assert.equal(status.headers.get('content-type'), 'message/delivery-status');
  const [perMessage, ...perRecipient] = status.body.replace(/\r\n$/, '').split('\r\n\r\n').map((block) => parseEntity(`${block}\r\n\r\n`).headers);
  assert.equal(perMessage!.get('reporting-mta'), 'dns; mail.example.test');
  assert.equal(perMessage!.get('arrival-date'), 'Sun, 1 Mar 2026 10:00:00 +0000');
  assert.equal(perRecipient.length, 2);
  assert.equal(perRecipient[0]!.get('final-recipient'), 'rfc822; bob@example.net');
  assert.equal(perRecipient[0]!.get('action'), 'failed');
  assert.equal(perRecipient[0]!.get('status'), '5.1.1');
  assert.equal(perRecipient[0]!.get('remote-mta'), 'dns; mx.example.net');
  assert.equal(perRecipient[0]!.get('diagnostic-code'), 'smtp; 550 5.1.1 no such user');
  assert.equal(perRecipient[0]!.get('last-attempt-date'), 'Sun, 1 Mar 2026 10:04:00 +0000');
  assert.equal(perRecipient[1]!.get('final-recipient'), 'rfc822; carol@example.org');
  assert.equal(perRecipient[1]!.get('status'), '4.4.7');
  assert.equal(perRecipient[1]!.has('remote-mta'), false);

  assert.equal(headers.headers.get('content-type'), 'text/rfc822-headers');
  assert.equal(headers.body, ORIGINAL.subarray(0, ORIGINAL.indexOf('\r\n\r\n') + 2).toString('utf8'));
  assert.doesNotMatch(text, /secret body line/, 'only the header is returned');
});

test('the cancelled variant: its own subject and text, Action failed', () => {
  const dsn = buildDsn(input({ kind: 'cancelled', recipients: [{ recipient: 'bob@example.net', status: '5.0.0', reason: 'cancelled by the administrator before delivery' }] }));
  const { top, parts } = parseDsn(dsn);
  assert.equal(top.headers.get('subject'), 'Undelivered Mail: cancelled by the administrator');
  assert.match(parts[0]!.body, /was cancelled by the\r\nadministrator before it was sent/);
  assert.match(parts[0]!.body, /<bob@example\.net>/);
  assert.match(parts[1]!.body, /Action: failed\r\nStatus: 5\.0\.0\r\n/);
  assert.match(parts[1]!.body, /Diagnostic-Code: x-kakitome; cancelled by the administrator before delivery/);
});

test('text from outside cannot add header fields or parts', () => {
  const dsn = buildDsn(
    input({
      sender: 'alice@example.test\r\nBcc: victim@example.org',
      originalHeader: Buffer.from('Subject: plain\r\n'),
      recipients: [{ recipient: 'bob@example.net', status: '5.0.0', reason: 'x\r\nInjected: yes', diagnostic: '550 a\r\n\r\n--boundary', remoteMta: 'mx\r\nEvil: 1' }],
    }),
  );
  const { top, parts } = parseDsn(dsn);
  assert.equal(top.headers.has('bcc'), false);
  assert.equal(top.headers.get('content-transfer-encoding'), '7bit');
  assert.equal(parts.length, 3);
  assert.doesNotMatch(dsn.toString(), /\r\n(Injected|Evil|Bcc):/);
});

test('headerSection: up to the empty line, bounded at a line end, empty for a message without header', () => {
  assert.equal(headerSection(Buffer.from('A: 1\r\nB: 2\r\n\r\nbody\r\n')).toString(), 'A: 1\r\nB: 2\r\n');
  assert.equal(headerSection(Buffer.from('\r\nbody only\r\n')).length, 0);
  assert.equal(headerSection(Buffer.from('A: 1\r\nB: 2\r\n')).toString(), 'A: 1\r\nB: 2\r\n');
  const long = Buffer.from(`A: ${'x'.repeat(50)}\r\nB: ${'y'.repeat(50)}\r\n\r\n`);
  assert.equal(headerSection(long, 80).toString(), `A: ${'x'.repeat(50)}\r\n`);
});

test('Final-Recipient: an ASCII address as is (rfc822), a non-ASCII one as RFC 6533 utf-8-addr-xtext', () => {
  const dsn = buildDsn(
    input({
      recipients: [
        { recipient: 'bob+tag@example.net', status: '5.1.1', reason: 'x' },
        { recipient: 'jürgen@example.net', status: '5.1.1', reason: 'x' },
      ],
    }),
  );
  const status = parseDsn(dsn).parts[1]!.body;
  assert.match(status, /^Final-Recipient: rfc822; bob\+tag@example\.net\r$/m);
  assert.match(status, /^Final-Recipient: utf-8; j\\x\{FC\}rgen@example\.net\r$/m);
  assert.doesNotMatch(status, /[^\x00-\x7f]/);
});
