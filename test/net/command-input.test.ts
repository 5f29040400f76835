import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandInput, LINE_TOO_LONG } from '../../src/net/command-input.ts';

test('lines are cut at LF, CRLF or bare LF, and wait for their end', () => {
  const input = new CommandInput();
  input.append(Buffer.from('EHLO a\r\nNOOP\nQU'));
  assert.equal(input.takeLine(10), 'EHLO a');
  assert.equal(input.takeLine(10), 'NOOP');
  assert.equal(input.takeLine(10), undefined);
  input.append(Buffer.from('IT\r'));
  assert.equal(input.takeLine(10), undefined);
  input.append(Buffer.from('\n'));
  assert.equal(input.takeLine(10), 'QUIT');
});

test('a line over the bound is reported once and dropped up to its end', () => {
  const input = new CommandInput();
  input.append(Buffer.from('x'.repeat(12)));
  assert.equal(input.takeLine(10), LINE_TOO_LONG);
  input.append(Buffer.from('y'.repeat(50)));
  assert.equal(input.takeLine(10), undefined, 'reported once');
  input.append(Buffer.from('z\r\nNEXT\r\n'));
  assert.equal(input.takeLine(10), 'NEXT');
  input.append(Buffer.from(`${'w'.repeat(11)}\r\nOK\r\n`));
  assert.equal(input.takeLine(10), LINE_TOO_LONG);
  assert.equal(input.takeLine(10), 'OK');
  input.append(Buffer.from(`${'v'.repeat(10)}\r`));
  assert.equal(input.takeLine(10), undefined, 'a CR waiting for its LF is not counted');
});

test('takeAll, restore and peek serve the DATA phase and read-ahead', () => {
  const input = new CommandInput();
  input.append(Buffer.from('body\r\n.\r\nQUIT\r\n'));
  assert.equal(input.peek(4).toString(), 'body');
  assert.equal(input.takeAll().toString(), 'body\r\n.\r\nQUIT\r\n');
  assert.equal(input.length, 0);
  input.restore(Buffer.from('QUIT\r\n'));
  assert.equal(input.takeLine(10), 'QUIT');
});

test('takeBytes takes exactly the counted octets (a literal), then lines go on', () => {
  const input = new CommandInput();
  input.append(Buffer.from('abc'));
  assert.equal(input.takeBytes(5), undefined, 'waits for all of them');
  input.append(Buffer.from('de\r\nfg)\r\n'));
  assert.equal(input.takeBytes(5)!.toString(), 'abcde');
  assert.equal(input.takeBytes(4)!.toString(), '\r\nfg');
  assert.equal(input.takeBytes(0)!.length, 0);
  assert.equal(input.takeLine(10), ')');
  assert.equal(input.length, 0);
});
