// Two of mailauth's dependencies are heavy for what kakitome asks of them, so this module
// puts stand-ins into the CommonJS module cache under their own file names before
// mailauth loads; their require() then finds the stand-in, and the real file is not read.
//
// - Joi: mailauth requires it (lib/tools.js, lib/spf/index.js) for exactly two checks,
//   that a DKIM key's p= is base64 (RFC 6376 §3.6.1) and that an SPF domain is a host
//   name (RFC 7208 §4.3). Joi and its helpers cost ~5 MB of every process's memory for
//   two regular expressions. The stand-in answers only those two schemas, with Joi's
//   results: test/policy/mailauth-stand-ins.test.ts compares it with the real Joi on
//   many inputs, and it throws if mailauth starts asking for anything else.
// - encoding-japanese: libmime (mailauth's header folding and Content-Type parsing)
//   requires it at load for decoding ISO-2022-JP and EUC-JP, which no check here needs;
//   its tables cost ~7 MB. The stand-in loads the real module on first use, so
//   behaviour is unchanged.
//
// Import this module before any mailauth module (src/policy/mailauth.ts does, first).
import Module, { createRequire } from 'node:module';

/** What a Joi schema's validate() returns: an error when the value does not match. */
export type Validation = { value: unknown; error?: Error };

type Check = (value: string) => boolean;

class StringSchema {
  readonly #check: Check | undefined;
  readonly #rule: string;

  constructor(check?: Check, rule = 'string') {
    this.#check = check;
    this.#rule = rule;
  }

  /** Joi.string().base64({ paddingRequired: false }), the only form mailauth uses. */
  base64(options: { paddingRequired?: boolean; urlSafe?: boolean }): StringSchema {
    expectOptions('base64', options, { paddingRequired: false });
    return new StringSchema(isUnpaddedBase64, 'base64');
  }

  /** Joi.string().domain({ allowUnicode: false, tlds: false }), the only form mailauth uses. */
  domain(options: { allowUnicode?: boolean; tlds?: unknown }): StringSchema {
    expectOptions('domain', options, { allowUnicode: false, tlds: false });
    return new StringSchema(isAsciiDomain, 'domain');
  }

  validate(value: unknown): Validation {
    // Joi: an absent value is valid unless required; a string must be non-empty.
    if (value === undefined) return { value };
    if (typeof value !== 'string') return failed(value, '"value" must be a string');
    if (value === '') return failed(value, '"value" is not allowed to be empty');
    if (this.#check && !this.#check(value)) {
      return failed(value, this.#rule === 'base64' ? '"value" must be a valid base64 string' : '"value" must contain a valid domain name');
    }
    return { value };
  }
}

function failed(value: unknown, message: string): Validation {
  const error = new Error(message);
  error.name = 'ValidationError';
  return { value, error };
}

function expectOptions(rule: string, given: object, expected: Record<string, unknown>): void {
  const same =
    Object.keys(given).length === Object.keys(expected).length &&
    Object.entries(expected).every(([key, value]) => (given as Record<string, unknown>)[key] === value);
  if (!same) throw new Error(`mailauth stand-in for Joi: Joi.string().${rule}(${JSON.stringify(given)}) is not supported; update src/policy/mailauth-stand-ins.ts`);
}

// Groups of four base64 characters, then an optional tail of two or three with its
// padding optional (RFC 4648 §4; Joi's paddingRequired: false).
const UNPADDED_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

export function isUnpaddedBase64(value: string): boolean {
  return UNPADDED_BASE64.test(value);
}

// Joi's domain rule without Unicode and without a TLD list: at most 256 characters,
// ASCII, no separators, at least two labels of 1 to 63 letters, digits and inner
// hyphens (RFC 1035 §2.3.1), the last one starting with a letter. (Joi also passes the
// name through a WHATWG URL first; for an ASCII name without separators that changes
// only letter case, or gives up and keeps the name, so no verdict depends on it.)
const SEPARATORS = /[\x00-\x20@:/\\#!$&'()*+,;=?]/;
const LABEL = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
const LAST_LABEL = /^[a-zA-Z](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/;

export function isAsciiDomain(value: string): boolean {
  if (value.length > 256 || /[^\x00-\x7f]/.test(value) || SEPARATORS.test(value)) return false;
  const labels = value.split('.');
  if (labels.length < 2) return false;
  return labels.every((label, index) => label.length <= 63 && (index === labels.length - 1 ? LAST_LABEL : LABEL).test(label));
}

export const joiStandIn = { string: () => new StringSchema() };

type Require = ReturnType<typeof createRequire>;

/** Puts `exports` into the module cache under the file name that `from`'s require(name) resolves to. */
function install(from: Require, name: string, exports: (filename: string) => unknown): void {
  const filename = from.resolve(name);
  const cache = from.cache; // one cache for every require(): Module._cache
  if (cache[filename]) return; // already loaded (a test that used the real module first)
  const standIn = new Module(filename);
  standIn.filename = filename;
  standIn.loaded = true;
  standIn.exports = exports(filename);
  cache[filename] = standIn;
}

/** A module object that loads the real module at `filename` the first time one of its properties is read. */
function loadedOnFirstUse(from: Require, filename: string): object {
  let real: Record<string | symbol, unknown> | undefined;
  const load = (): Record<string | symbol, unknown> => {
    if (!real) {
      delete from.cache[filename]; // the stand-in steps aside for the real module
      real = from(filename) as Record<string | symbol, unknown>;
    }
    return real;
  };
  return new Proxy({}, { get: (_target, key) => load()[key], has: (_target, key) => key in load() });
}

const requireFromMailauth = createRequire(createRequire(import.meta.url).resolve('mailauth/lib/tools.js'));
const requireFromLibmime = createRequire(requireFromMailauth.resolve('libmime'));
install(requireFromMailauth, 'joi', () => joiStandIn);
install(requireFromLibmime, 'encoding-japanese', (filename) => loadedOnFirstUse(requireFromLibmime, filename));
