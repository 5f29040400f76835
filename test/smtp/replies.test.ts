// RFC 5321 §4.2 reply lines: code, text of printable ASCII, CRLF. Found by the
// smtp-session fuzz target: four replies carried "§" (UTF-8) in their text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatReply, REPLY } from '../../src/smtp/replies.ts';

const REPLY_LINE = /^[2-5][0-5]\d(?:[ -][\x09\x20-\x7e]*)?\r\n$/;

test('every named SMTP reply is written as RFC 5321 reply lines of printable ASCII', () => {
  let checked = 0;
  for (const [name, entry] of Object.entries(REPLY)) {
    const reply = typeof entry === 'function' ? (entry as (arg: string) => Parameters<typeof formatReply>[0])('mail.example.test') : entry;
    const text = formatReply(reply);
    for (const line of text.split(/(?<=\r\n)/)) assert.match(line, REPLY_LINE, `${name}: ${JSON.stringify(line)}`);
    checked++;
  }
  assert.ok(checked > 30, `only ${checked} replies found`);
});

test('a reply text holding CR, LF or non-ASCII stays one line: those characters are written as "?"', () => {
  const text = formatReply({ code: 550, enhanced: '5.7.1', text: 'refused\r\n250 2.0.0 injected, caf\u00e9 \u00a7 \u2026' });
  assert.equal(text, '550 5.7.1 refused??250 2.0.0 injected, caf? ? ?\r\n');
});
