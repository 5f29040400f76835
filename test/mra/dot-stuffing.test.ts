import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dotStuff, topOfMessage } from '../../src/mra/pop3/dot-stuffing.ts';

const b = (s: string) => Buffer.from(s);

test('lines starting with a dot get another (RFC 1939 §3)', () => {
  assert.equal(dotStuff(b('.a\r\nb\r\n..c\r\n.\r\n')).toString(), '..a\r\nb\r\n...c\r\n..\r\n');
  const plain = b('Subject: x\r\n\r\nbody\r\n');
  assert.equal(dotStuff(plain), plain, 'no copy when nothing to stuff');
  assert.equal(dotStuff(b('no final line end')).toString(), 'no final line end\r\n');
  assert.equal(dotStuff(b('')).length, 0);
});

test('TOP returns the header, the blank line and n body lines', () => {
  const m = b('A: 1\r\nB: 2\r\n\r\nline1\r\nline2\r\nline3\r\n');
  assert.equal(topOfMessage(m, 0).toString(), 'A: 1\r\nB: 2\r\n\r\n');
  assert.equal(topOfMessage(m, 2).toString(), 'A: 1\r\nB: 2\r\n\r\nline1\r\nline2\r\n');
  assert.equal(topOfMessage(m, 10).toString(), m.toString());
  assert.equal(topOfMessage(b('A: 1\r\n'), 0).toString(), 'A: 1\r\n', 'a message with no body is all header');
});
