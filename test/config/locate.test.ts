import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type KeyPath, lineFinder, locateLine } from '../../src/config/locate.ts';

/** Asserts the line of each path in one text. */
function assertLines(text: string, expected: [KeyPath, number][]): void {
  const lineOf = lineFinder(text);
  for (const [path, line] of expected) assert.equal(lineOf(path), line, JSON.stringify(path));
}

test('top-level keys, table headers and keys inside tables', () => {
  const text = [
    '# kakitome', //                         1
    'hostname = "mail.example.com"', //      2
    '', //                                   3
    '[tls]', //                              4
    'cert = "a.pem"', //                     5
    '  key="b.pem"   # indented', //         6
    '[ outbound . transport ]', //           7
    '"example.net" = "10.0.0.5:25"', //      8
    "'literal.example' = 'x'", //            9
  ].join('\n');
  assertLines(text, [
    [['hostname'], 2],
    [['tls'], 4],
    [['tls', 'cert'], 5],
    [['tls', 'key'], 6],
    [['outbound', 'transport'], 7],
    [['outbound'], 7],
    [['outbound', 'transport', 'example.net'], 8],
    [['outbound', 'transport', 'literal.example'], 9],
  ]);
});

test('dotted keys, quoted parts and escapes in quoted keys', () => {
  const text = [
    'listen.smtp = ["0.0.0.0:25"]', //          1
    'outbound . "transport" . "a.example" = "x"', // 2
    '[relay.names]', //                         3
    '"tab\\tin\\u0041key" = "y"', //            4
  ].join('\n');
  assertLines(text, [
    [['listen'], 1],
    [['listen', 'smtp'], 1],
    [['listen', 'smtp', 0], 1],
    [['outbound', 'transport', 'a.example'], 2],
    [['relay', 'names', 'tab\tinAkey'], 4],
  ]);
});

test('array elements on their own lines, with comments and trailing commas', () => {
  const text = [
    '[listen]', //                       1
    'smtp = [', //                       2
    '  "0.0.0.0:25",   # first', //     3
    '  # "commented:1",', //            4
    '  "[::]:25", "127.0.0.1:25",', //  5
    '', //                               6
    '  "192.0.2.1:25",', //             7
    ']', //                              8
    'pop3 = ["a", "b"]', //             9
  ].join('\n');
  assertLines(text, [
    [['listen', 'smtp'], 2],
    [['listen', 'smtp', 0], 3],
    [['listen', 'smtp', 1], 5],
    [['listen', 'smtp', 2], 5],
    [['listen', 'smtp', 3], 7],
    [['listen', 'pop3', 1], 9],
  ]);
});

test('strings that look like keys, tables or comments are skipped', () => {
  const text = [
    'a = "not [a table] # nor a comment"', //   1
    'b = """', //                              2
    'c = 1', //                                3
    '[fake]', //                               4
    'with an escaped \\""" inside', //          5
    'ends with quotes""""', //                 6
    "d = '''", //                              7
    "e = 2 '' ", //                            8
    "'''", //                                  9
    "f = 'C:\\path\\'", //                     10
    'g = 3', //                                11
  ].join('\n');
  assertLines(text, [
    [['b'], 2],
    [['c'], 1], // not a key: falls back to the top, line 1
    [['fake'], 1],
    [['d'], 7],
    [['e'], 1],
    [['f'], 10],
    [['g'], 11],
  ]);
});

test('a multi-line string may end in extra quotes, also inside an array', () => {
  assertLines(['a = ["""one"""", """two""""",', '  "three"]'].join('\n'), [
    [['a', 1], 1],
    [['a', 2], 2],
  ]);
});

test('an escaped quote does not end a basic string', () => {
  const text = ['a = """x\\"""', 'b = 1', '"""', 'c = ["y\\", ", ', '  "z"]'].join('\n');
  assertLines(text, [
    [['b'], 1],
    [['c', 1], 5],
  ]);
});

test('inline tables, also inside arrays, and nested arrays', () => {
  const text = [
    'tls = { cert = "a.pem", certfile = "b.pem" }', // 1
    'routes = [', //                                   2
    '  { domain = "a.example" },', //                  3
    '  { domain = "b.example",', //                    4
    '    hop = "x" },', //                             5
    ']', //                                            6
    'matrix = [[1, 2], [', //                          7
    '  3]]', //                                        8
  ].join('\n');
  assertLines(text, [
    [['tls', 'certfile'], 1],
    [['routes', 0, 'domain'], 3],
    [['routes', 1], 4],
    [['routes', 1, 'hop'], 5],
    [['matrix', 1, 0], 8],
    [['matrix', 0, 1], 7],
  ]);
});

test('arrays of tables are numbered in order', () => {
  const text = ['[[rule]]', 'name = "a"', '[[rule]]', 'name = "b"', '[other]', '[[rule]]', 'name = "c"'].join('\n');
  assertLines(text, [
    [['rule', 0, 'name'], 2],
    [['rule', 1, 'name'], 4],
    [['rule', 2], 6],
    [['rule', 2, 'name'], 7],
  ]);
});

test('a missing key falls back to its table, then to line 1', () => {
  const text = ['hostname = "x"', '', '[outbound]', 'hold = "1s"'].join('\n');
  assertLines(text, [
    [['outbound', 'smtp_port'], 3],
    [['outbound', 'transport', 'example.net'], 3],
    [['listen', 'smtp'], 1],
    [['data_dir'], 1],
    [[], 1],
  ]);
});

test('CRLF line endings count lines the same', () => {
  assert.equal(locateLine('a = 1\r\n\r\n[tls]\r\ncert = "x"\r\n', ['tls', 'cert']), 4);
});

test('a number and a quoted key that reads like one are different paths', () => {
  const text = ['list = [', '  1,', '  2,', ']', '[list2]', '"1" = true'].join('\n');
  assertLines(text, [
    [['list', 1], 3],
    [['list2', '1'], 6],
    [['list2', 1], 5],
  ]);
});

test('text that is not valid TOML does not hang the scanner', () => {
  for (const text of ['a = [1, }', 'x = {', '[unclosed', '"open key = 1', '= 5', 'a = """never closed', 'b = "\\U99999999"']) {
    assert.equal(typeof locateLine(text, ['a']), 'number');
  }
});
