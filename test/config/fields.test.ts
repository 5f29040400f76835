import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bool, type Field, int, list, oneOf, parsed, table, tableOf } from '../../src/config/fields.ts';

/** The problems a field finds in `input`, as `path: message` strings, in the order it found them. */
function problems(field: Field<unknown>, input: unknown): string[] {
  const result = field.validate(input);
  assert.ok(!result.ok, 'the value was accepted');
  return result.problems.map(({ path, message }) => `${JSON.stringify(path)}: ${message}`);
}

const number = parsed('number text', (text) => {
  if (!/^\d+$/.test(text)) throw new Error(`expected digits, got ${JSON.stringify(text)}`);
  return Number(text);
});

test('each kind of field accepts its values and names what is wrong with others', () => {
  assert.equal(bool().parse(true), true);
  assert.deepEqual(problems(bool(), 'yes'), ['[]: expected true or false, got "yes"']);
  assert.equal(int('count', 1, 10).parse(10), 10);
  assert.deepEqual(problems(int('count', 1, 10), 0), ['[]: must be at least 1, got 0']);
  assert.deepEqual(problems(int('count', 1, 10), 11), ['[]: must be at most 10, got 11']);
  assert.deepEqual(problems(int('count', 1, 10), 1.5), ['[]: expected an integer, got 1.5']);
  assert.deepEqual(problems(int('count', 1, 10), Infinity), ['[]: expected a number, got Infinity']);
  assert.deepEqual(problems(int('count', 1, 10), NaN), ['[]: expected a number, got NaN']);
  assert.deepEqual(problems(int('count', 1, 10), '5'), ['[]: expected a number, got "5"']);
  assert.equal(oneOf(['a', 'b']).parse('b'), 'b');
  assert.deepEqual(problems(oneOf(['a', 'b']), 5), ['[]: expected one of "a", "b", got 5']);
  assert.equal(number.parse('42'), 42);
  assert.deepEqual(problems(number, '4x'), ['[]: expected digits, got "4x"']);
  assert.deepEqual(problems(number, ['4']), ['[]: expected a string, got a list']);
  assert.deepEqual(problems(number, new Date(0)), ['[]: expected a string, got a date']);
  assert.deepEqual(problems(number, undefined), ['[]: required key is missing']);
});

test('a list checks every element at its index', () => {
  assert.deepEqual(list(number).parse(['1', '2']), [1, 2]);
  assert.deepEqual(problems(list(number), ['1', 2, 'x']), ['[1]: expected a string, got 2', '[2]: expected digits, got "x"']);
  assert.deepEqual(problems(list(number), '1'), ['[]: expected a list, got "1"']);
});

test('a table checks its keys in shape order, then reports every unknown key', () => {
  const shape = table({ b: number, a: bool().default(false) });
  const value = shape.parse({ a: true, b: '7' });
  assert.deepEqual(Object.keys(value), ['b', 'a']);
  assert.deepEqual(value, { b: 7, a: true });
  assert.deepEqual(problems(shape, { x: 1, a: 'no', y: 2 }), [
    '["b"]: required key is missing',
    '["a"]: expected true or false, got "no"',
    '["x"]: unknown key',
    '["y"]: unknown key',
  ]);
  const nested = table({ inner: table({ n: number }) });
  assert.deepEqual(problems(nested, { inner: { n: '1', m: 2 } }), ['["inner","m"]: unknown key']);
  assert.deepEqual(problems(nested, { inner: [] }), ['["inner"]: expected a table, got a list']);
  assert.deepEqual(problems(nested, { inner: new Date(0) }), ['["inner"]: expected a table, got a date']);
});

test('a table of any keys keeps them on an object without a prototype', () => {
  const routes = tableOf('table of numbers', number);
  const value = routes.parse({ constructor: '1', 'b.example': '2' });
  assert.equal(Object.getPrototypeOf(value), null);
  assert.deepEqual({ ...value }, { constructor: 1, 'b.example': 2 });
  assert.deepEqual(problems(routes, { a: '1', b: 'x' }), ['["b"]: expected digits, got "x"']);
  assert.deepEqual(problems(routes, ['1']), ['[]: expected a table, got a list']);
});

test('default() is used as it is, and a fresh copy of a list each time; prefault() is checked like written input', () => {
  const field = table({ items: list(number).default([]), limit: number.prefault('10') });
  const first = field.parse({});
  first.items.push(1);
  assert.deepEqual(field.parse({}), { items: [], limit: 10 });
  // a prefault that does not parse is a problem of the absent key, not a silent value
  assert.deepEqual(problems(table({ limit: number.prefault('ten') }), {}), ['["limit"]: expected digits, got "ten"']);
  assert.deepEqual(table({ inner: table({ on: bool().default(true) }).prefault({}) }).parse({}), { inner: { on: true } });
});

test('map() and refine() run on a valid value only; what they report is below the field, and fails it', () => {
  let runs = 0;
  const pair = list(number).refine((values, report) => {
    runs++;
    if (values.length !== 2) report([values.length], 'expected two numbers');
  });
  assert.deepEqual(pair.parse(['1', '2']), [1, 2]);
  assert.deepEqual(problems(table({ pair }), { pair: ['1'] }), ['["pair",1]: expected two numbers']);
  assert.equal(runs, 2);
  assert.deepEqual(problems(pair, ['x']), ['[0]: expected digits, got "x"']);
  assert.equal(runs, 2, 'refine ran on an invalid list');

  const sum = list(number).map((values, report) => {
    const total = values.reduce((a, b) => a + b, 0);
    if (total > 10) report([], `sum ${total} is over 10`);
    return total;
  });
  assert.equal(sum.parse(['3', '4']), 7);
  assert.deepEqual(problems(table({ sum }), { sum: ['9', '9'] }), ['["sum"]: sum 18 is over 10']);

  // an unknown key leaves the table whole, so its refinement still has its say
  const checked = table({ n: number }).refine((value, report) => report(['n'], `n is ${value.n}`));
  assert.deepEqual(problems(checked, { n: '1', extra: true }), ['["extra"]: unknown key', '["n"]: n is 1']);
});

test('parse() throws one Error naming every problem with its TOML key path', () => {
  const field = table({ list: list(number), 'a b': bool() });
  assert.throws(() => field.parse({ list: ['1', 'x'], 'a b': 1 }), {
    message: 'list[1]: expected digits, got "x"; "a b": expected true or false, got 1',
  });
});

test('fields carry what the config reference shows', () => {
  assert.equal(list(parsed('CIDR', String)).type, 'list of CIDR');
  assert.equal(oneOf(['x', 'y']).type, 'one of "x", "y"');
  assert.equal(int('port', 1, 65535).type, 'port');
  assert.equal(table({}).type, 'table');
  const described = number.prefault('5').describe('How many.');
  assert.deepEqual([described.type, described.description, described.fallback], ['number text', 'How many.', { value: '5' }]);
  assert.equal(number.fallback, undefined);
  assert.deepEqual(bool().default(false).fallback, { value: false });
  const shape = table({ a: bool(), b: number }).shape;
  assert.deepEqual(Object.keys(shape ?? {}), ['a', 'b']);
});
