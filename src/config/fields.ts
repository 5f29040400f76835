// The building blocks of the config schema (schema.ts): each field checks a value read
// from the TOML file at its key path, reports what is wrong in the words the operator
// reads, and carries its type name, default and description for the generated config
// reference (reference.ts). Own code rather than a validation library: the schema needs
// only these few kinds of field, and zod 4 loaded ~95 modules for them (importing the
// config loader alone took ~15 MB more RSS with zod than with this module).

import type { KeyPath } from './locate.ts';

export type Problem = { path: KeyPath; message: string };

/** Returned by a check that reported a problem; the enclosing field is then invalid too. */
const INVALID: unique symbol = Symbol('invalid');
type Checked<T> = T | typeof INVALID;
type Check<T> = (input: unknown, path: KeyPath, problems: Problem[]) => Checked<T>;

function fail(problems: Problem[], path: KeyPath, message: string): typeof INVALID {
  problems.push({ path, message });
  return INVALID;
}

/** A field's default, as it would be written in the file; absent for a required key. */
type Fallback = { value: unknown };

/** `(value, report) => result`: `report(path, message)` adds a problem below the field's own path. */
type Refinement<T, U> = (value: T, report: (path: KeyPath, message: string) => void) => U;

export class Field<T, I = unknown> {
  /** The type name the config reference shows, e.g. "duration", "list of CIDR". */
  readonly type: string;
  readonly description: string;
  readonly fallback: Fallback | undefined;
  /** A table's keys, in the order the reference lists them. */
  readonly shape: Readonly<Record<string, Field<unknown>>> | undefined;
  /** A list's element (for the reference of a list of tables, TOML's [[array.of.tables]]). */
  readonly items: Field<unknown> | undefined;
  /** Checks the value at `path`, adding what is wrong to `problems`. */
  readonly check: Check<T>;

  constructor(type: string, check: Check<T>, more: Partial<Pick<Field<T>, 'description' | 'fallback' | 'shape' | 'items'>> = {}) {
    this.type = type;
    this.check = check;
    this.description = more.description ?? '';
    this.fallback = more.fallback;
    this.shape = more.shape;
    this.items = more.items;
  }

  #with(check: Check<T>, more: Partial<Pick<Field<T>, 'description' | 'fallback'>>): Field<T, I> {
    const { description, fallback, shape, items } = this;
    return new Field<T, I>(this.type, check, { description, fallback, shape, items, ...more });
  }

  describe(description: string): Field<T, I> {
    return this.#with(this.check, { description });
  }

  /** An absent key gets `value`, unchecked; an array is copied, so that no two configs share one. */
  default(value: T): Field<T, I> {
    const copy = (): T => (Array.isArray(value) ? ([...value] as T) : value);
    return this.#with((input, path, problems) => (input === undefined ? copy() : this.check(input, path, problems)), { fallback: { value } });
  }

  /** An absent key is read as if `input` were written, e.g. "30m" for a duration or {} for a table. */
  prefault(input: I): Field<T, I> {
    return this.#with((given, path, problems) => this.check(given === undefined ? input : given, path, problems), { fallback: { value: input } });
  }

  /** Turns a valid value into another; problems it reports make the field invalid. */
  map<U>(refine: Refinement<T, U>): Field<U, I> {
    return new Field<U, I>(
      this.type,
      (input, path, problems) => {
        const value = this.check(input, path, problems);
        if (value === INVALID) return INVALID;
        const before = problems.length;
        const result = refine(value, (below, message) => problems.push({ path: [...path, ...below], message }));
        return problems.length === before ? result : INVALID;
      },
      { description: this.description, fallback: this.fallback, shape: this.shape, items: this.items },
    );
  }

  /** Checks a valid value as a whole, e.g. for duplicates across its entries. */
  refine(refine: Refinement<T, void>): Field<T, I> {
    return this.map((value, report) => (refine(value, report), value));
  }

  /** Returns the value or every problem with it. */
  validate(input: unknown): { ok: true; value: T } | { ok: false; problems: Problem[] } {
    const problems: Problem[] = [];
    const value = this.check(input, [], problems);
    // An unknown key is a problem that leaves the value whole (so refinements still run).
    return value === INVALID || problems.length > 0 ? { ok: false, problems } : { ok: true, value };
  }

  /** Returns the value, or throws an Error naming every problem. */
  parse(input: unknown): T {
    const result = this.validate(input);
    if (result.ok) return result.value;
    throw new Error(result.problems.map(({ path, message }) => `${formatKeyPath(path)}: ${message}`).join('; '));
  }
}

export type Output<F> = F extends Field<infer T, any> ? T : never;

/** `expected WHAT, got VALUE`; TOML has no null, so an undefined input is a key that is not there. */
function expected(what: string, input: unknown): string {
  return input === undefined ? 'required key is missing' : `expected ${what}, got ${describeValue(input)}`;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return 'a date'; // smol-toml's TomlDate
  if (typeof value === 'object' && value !== null) return 'a table';
  return String(value);
}

/** A TOML table; a Date is an object too, but not one (smol-toml's TomlDate). */
const isTable = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);

/** A field of one value; `check` calls `reject(message)` for what is wrong with it. */
function leaf<T, I = unknown>(type: string, check: (input: unknown, reject: (message: string) => typeof INVALID) => Checked<T>): Field<T, I> {
  return new Field<T, I>(type, (input, path, problems) => check(input, (message) => fail(problems, path, message)));
}

export function bool(): Field<boolean> {
  return leaf('boolean', (input, reject) => (typeof input === 'boolean' ? input : reject(expected('true or false', input))));
}

/** An integer from `min` to `max`; `type` names it in the reference ("port", "count", "bytes"). */
export function int(type: string, min: number, max: number): Field<number> {
  return leaf(type, (input, reject) => {
    if (typeof input !== 'number' || !Number.isFinite(input)) return reject(expected('a number', input));
    if (!Number.isInteger(input)) return reject(expected('an integer', input));
    if (input < min) return reject(`must be at least ${min}, got ${input}`);
    if (input > max) return reject(`must be at most ${max}, got ${input}`);
    return input;
  });
}

/** A number (integer or not) from `min` to `max`, e.g. a spam score. */
export function decimal(type: string, min: number, max: number): Field<number> {
  return leaf(type, (input, reject) => {
    if (typeof input !== 'number' || !Number.isFinite(input)) return reject(expected('a number', input));
    if (input < min) return reject(`must be at least ${min}, got ${input}`);
    if (input > max) return reject(`must be at most ${max}, got ${input}`);
    return input;
  });
}

export function oneOf<const V extends string>(values: readonly V[]): Field<V> {
  const names = values.map((value) => JSON.stringify(value)).join(', ');
  return leaf(`one of ${names}`, (input, reject) => (values.includes(input as V) ? (input as V) : reject(expected(`one of ${names}`, input))));
}

/** A string read by `parse`, whose Error message becomes the problem; `type` names it in the reference. */
export function parsed<T>(type: string, parse: (text: string) => T): Field<T, string> {
  return leaf<T, string>(type, (input, reject) => {
    if (typeof input !== 'string') return reject(expected('a string', input));
    try {
      return parse(input);
    } catch (error) {
      return reject((error as Error).message);
    }
  });
}

export function list<T>(item: Field<T>): Field<T[], unknown[]> {
  return new Field<T[], unknown[]>(`list of ${item.type}`, (input, path, problems) => {
    if (!Array.isArray(input)) return fail(problems, path, expected('a list', input));
    const values = input.map((element, index) => item.check(element, [...path, index], problems));
    return values.includes(INVALID) ? INVALID : (values as T[]);
  }, { items: item as Field<unknown> });
}

type Shape = Record<string, Field<any, any>>;
type TableInput = Record<string, unknown>;

/** A table with exactly these keys: any other is reported as "unknown key", since a misspelt key ignored is a setting lost. */
export function table<S extends Shape>(shape: S): Field<{ [K in keyof S]: Output<S[K]> }, TableInput> {
  type T = { [K in keyof S]: Output<S[K]> };
  const check: Check<T> = (input, path, problems) => {
    if (!isTable(input)) return fail(problems, path, expected('a table', input));
    const value: Record<string, unknown> = {};
    let valid = true;
    for (const [key, field] of Object.entries(shape)) {
      const checked = field.check(input[key], [...path, key], problems);
      if (checked === INVALID) valid = false;
      value[key] = checked;
    }
    for (const key in input) if (!Object.hasOwn(shape, key)) fail(problems, [...path, key], 'unknown key');
    return valid ? (value as T) : INVALID;
  };
  return new Field<T, TableInput>('table', check, { shape });
}

/** A table of any keys, each value a `value`; `type` names it in the reference. The result has no prototype. */
export function tableOf<T>(type: string, value: Field<T>): Field<Record<string, T>, TableInput> {
  return new Field<Record<string, T>, TableInput>(type, (input, path, problems) => {
    if (!isTable(input)) return fail(problems, path, expected('a table', input));
    const entries: Record<string, T> = Object.create(null);
    let valid = true;
    for (const [key, item] of Object.entries(input)) {
      const checked = value.check(item, [...path, key], problems);
      if (checked === INVALID) valid = false;
      else entries[key] = checked;
    }
    return valid ? entries : INVALID;
  });
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** Writes a path the way it would be written in TOML: `listen.smtp[1]`, `outbound.transport."example.net"`. */
export function formatKeyPath(path: KeyPath): string {
  return path
    .map((part, index) => {
      if (typeof part === 'number') return `[${part}]`;
      const key = BARE_KEY.test(part) ? part : JSON.stringify(part);
      return index === 0 ? key : `.${key}`;
    })
    .join('');
}
