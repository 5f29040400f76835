import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findPra } from '../../../src/policy/senderid/pra.ts';
import { checkSenderId, selectPraRecords } from '../../../src/policy/senderid/check.ts';
import { checkSpf } from '../../../src/policy/spf/check.ts';
import { fakeResolver, type FakeZone } from './fake-dns.ts';

const header = (...lines: string[]) => Buffer.from(lines.map((l) => `${l}\r\n`).join('') + '\r\nbody\r\n');
const pra = (...lines: string[]) => {
  const result = findPra(header(...lines));
  return result.found ? `${result.field} ${result.address}` : `none: ${result.reason}`;
};

test('RFC 4407 §2 steps 3-4: Sender, else the single From', () => {
  assert.equal(pra('From: Joe <joe@example.com>', 'To: x@example.net'), 'from joe@example.com');
  assert.equal(pra('From: joe@example.com', 'Sender: List <list-bounces@lists.example.org>'), 'sender list-bounces@lists.example.org');
  // an empty Sender is not "non-empty": From is used
  assert.equal(pra('Sender:  ', 'From: joe@example.com'), 'from joe@example.com');
  // the domain is normalised, the local part kept as written
  assert.equal(pra('From: Joe.Q <Joe.Q@Example.COM>'), 'from Joe.Q@example.com');
});

test('RFC 4407 §2 steps 1-2: the first resent block', () => {
  // Resent-Sender of the newest block (its Resent-From comes first, nothing in between)
  assert.equal(
    pra('Resent-From: r@resent.example', 'Resent-Sender: s@resent.example', 'Received: by a.example', 'From: joe@example.com'),
    'resent-sender s@resent.example',
  );
  // a Resent-Sender without any Resent-From above it
  assert.equal(pra('Resent-Sender: s@resent.example', 'From: joe@example.com'), 'resent-sender s@resent.example');
  // the newest block has only Resent-From; the Resent-Sender below the Received is an
  // older block's, so step 2 takes the newest Resent-From
  assert.equal(
    pra(
      'Resent-From: new@new.example',
      'Received: from x by y',
      'Resent-Sender: old@old.example',
      'Resent-From: oldfrom@old.example',
      'From: joe@example.com',
    ),
    'resent-from new@new.example',
  );
  // a Return-Path between them separates the blocks as a Received does
  assert.equal(pra('Resent-From: new@new.example', 'Return-Path: <b@x.example>', 'Resent-Sender: old@old.example'), 'resent-from new@new.example');
  // Resent-From alone, Sender and From ignored
  assert.equal(pra('Sender: s@example.com', 'Resent-From: r@resent.example', 'From: joe@example.com'), 'resent-from r@resent.example');
});

test('RFC 4407 §2 steps 5-6: several or malformed fields give no PRA', () => {
  assert.equal(pra('From: a@example.com', 'From: b@example.com'), 'none: more than one From field');
  assert.equal(pra('Sender: a@example.com', 'Sender: b@example.com', 'From: c@example.com'), 'none: more than one Sender field');
  assert.equal(pra('To: x@example.com'), 'none: no From field');
  assert.match(pra('From: a@example.com, b@example.com'), /^none: the From field does not hold exactly one mailbox/);
  assert.match(pra('From: friends: a@example.com;'), /^none: the From field does not hold exactly one mailbox/);
  assert.match(pra('From: Joe'), /^none: the From mailbox is malformed/);
  assert.match(pra('From: joe@[192.0.2.1]'), /^none: the From mailbox has no domain name/);
  assert.match(pra('From: joe@localhost'), /^none: the From mailbox has no domain name/);
  // the selected Sender is malformed: no falling back to From (step 5 goes to step 6)
  assert.match(pra('Sender: Joe', 'From: joe@example.com'), /^none: the Sender mailbox is malformed/);
});

test('RFC 4406 §3.4 record selection: spf2.0 with the pra scope, else v=spf1', () => {
  assert.deepEqual(selectPraRecords([['v=spf1 -all']]), { answer: [['v=spf1 -all']], selected: ['v=spf1 -all'] });
  assert.deepEqual(selectPraRecords([['v=spf1 -all'], ['spf2.0/pra ip4:192.0.2.1 -all'], ['other text']]), {
    answer: [['v=spf1 ip4:192.0.2.1 -all'], ['other text']],
    selected: ['spf2.0/pra ip4:192.0.2.1 -all'],
  });
  assert.deepEqual(selectPraRecords([['SPF2.0/MFROM,PRA', ' +all']]).answer, [['v=spf1 +all']]);
  // an spf2.0 record for another scope hides v=spf1 all the same
  assert.deepEqual(selectPraRecords([['spf2.0/mfrom -all'], ['v=spf1 +all']]), { answer: [], selected: [] });
});

const ZONE: FakeZone = {
  // different rules for the two scopes: MAIL FROM (v=spf1) and PRA (spf2.0/pra)
  'split.example': { TXT: ['v=spf1 -all', 'spf2.0/pra ip4:192.0.2.1 -all'] },
  'classic.example': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
  'mfromonly.example': { TXT: ['spf2.0/mfrom ip4:192.0.2.1 -all', 'v=spf1 +all'] },
  'both.example': { TXT: ['spf2.0/mfrom,pra ip4:192.0.2.1 ~all'] },
  'twice.example': { TXT: ['spf2.0/pra -all', 'spf2.0/pra,mfrom +all'] },
  'includer.example': { TXT: ['spf2.0/pra include:included.example -all'] },
  'included.example': { TXT: ['v=spf1 -all', 'spf2.0/pra ip4:192.0.2.9 -all'] },
  'broken.example': { fail: 'ESERVFAIL' },
};

async function senderId(from: string, ip: string) {
  return checkSenderId({ message: header(`From: ${from}`), ip, helo: 'client.example', resolver: fakeResolver(ZONE), hostname: 'mx.kakitome.test' });
}

test('Sender ID evaluates the PRA against spf2.0/pra, falling back to v=spf1', async () => {
  const split = await senderId('a@split.example', '192.0.2.1');
  assert.deepEqual([split.result, split.pra, split.field, split.record], ['pass', 'a@split.example', 'from', 'spf2.0/pra ip4:192.0.2.1 -all']);
  // the same domain's v=spf1 record still rules MAIL FROM
  const spf = await checkSpf({ ip: '192.0.2.1', helo: 'client.example', mailFrom: 'a@split.example', resolver: fakeResolver(ZONE), hostname: 'mx' });
  assert.equal(spf.result, 'fail');

  assert.equal((await senderId('a@classic.example', '192.0.2.1')).result, 'pass');
  assert.equal((await senderId('a@classic.example', '192.0.2.2')).result, 'fail');
  assert.equal((await senderId('a@both.example', '192.0.2.2')).result, 'softfail');
  assert.equal((await senderId('a@mfromonly.example', '192.0.2.1')).result, 'none', 'an spf2.0 record without pra hides v=spf1');
  assert.equal((await senderId('a@nothing.example', '192.0.2.1')).result, 'none');
  assert.equal((await senderId('a@twice.example', '192.0.2.1')).result, 'permerror', 'two records for the scope');
  assert.equal((await senderId('a@includer.example', '192.0.2.9')).result, 'pass', 'include: targets are read in the pra scope');
  assert.equal((await senderId('a@includer.example', '192.0.2.1')).result, 'fail');
  assert.equal((await senderId('a@broken.example', '192.0.2.1')).result, 'temperror');
});

test('Sender ID without a PRA is permerror', async () => {
  const verdict = await checkSenderId({
    message: header('From: a@example.com', 'From: b@example.com'),
    ip: '192.0.2.1',
    helo: 'client.example',
    resolver: fakeResolver(ZONE),
    hostname: 'mx',
  });
  assert.equal(verdict.result, 'permerror');
  assert.equal(verdict.pra, undefined);
  assert.match(verdict.comment ?? '', /no purported responsible address: more than one From field/);
});
