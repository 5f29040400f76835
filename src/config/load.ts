// Reads, parses and validates the configuration file. Every problem becomes one line,
// `FILE:LINE: KEY.PATH: what is wrong`, the shape editors and terminals can jump to;
// several problems are joined with "; " so that the whole report stays one line.

import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { getSystemErrorMessage } from 'node:util';
import { parse, TomlError } from 'smol-toml';
import type { z } from 'zod';
import { type KeyPath, lineFinder } from './locate.ts';
import { type Config, configSchema } from './schema.ts';

export type ConfigProblem = { line?: number; keyPath?: string; message: string };

export class ConfigError extends Error {
  readonly file: string;
  /** Line of the first problem, when it has one. */
  readonly line?: number;
  /** Key path of the first problem, such as "listen.smtp[1]", when it has one. */
  readonly keyPath?: string;
  readonly problems: readonly ConfigProblem[];

  constructor(file: string, problems: readonly ConfigProblem[]) {
    super(problems.map((problem) => formatProblem(file, problem)).join('; '));
    this.name = 'ConfigError';
    this.file = file;
    this.problems = problems;
    this.line = problems[0]?.line;
    this.keyPath = problems[0]?.keyPath;
  }
}

function formatProblem(file: string, { line, keyPath, message }: ConfigProblem): string {
  return `${file}${line === undefined ? '' : `:${line}`}: ${keyPath ? `${keyPath}: ` : ''}${message}`;
}

/** Reads and validates a config file; paths in it are resolved against its directory. */
export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [{ message: `cannot read: ${describeSystemError(error)}` }]);
  }
  return parseConfig(text, file);
}

/** Validates config text that was read from `file`, which names it in errors and anchors its relative paths. */
export function parseConfig(text: string, file: string): Config {
  const source = text.replace(/^\uFEFF/, ''); // a byte order mark some editors write
  let document: unknown;
  try {
    document = parse(source);
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    // smol-toml's message is "Invalid TOML document: REASON" followed by a code excerpt.
    const reason = error.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
    throw new ConfigError(file, [{ line: error.line, message: `invalid TOML: ${reason}` }]);
  }

  const result = configSchema.safeParse(document, { reportInput: true });
  if (!result.success) throw new ConfigError(file, describeIssues(result.error.issues, source));

  const base = dirname(resolve(file));
  const { data_dir, tls } = result.data;
  return {
    ...result.data,
    data_dir: resolve(base, data_dir),
    tls: { ...tls, cert: resolve(base, tls.cert), key: resolve(base, tls.key) },
  };
}

function describeIssues(issues: readonly z.core.$ZodIssue[], source: string): ConfigProblem[] {
  const lineOf = lineFinder(source);
  const problems = new Map<string, ConfigProblem>(); // one per key path: the first says enough
  const add = (path: KeyPath, message: string): void => {
    const keyPath = formatKeyPath(path);
    if (!problems.has(keyPath)) problems.set(keyPath, { line: lineOf(path), keyPath, message });
  };
  for (const issue of issues) {
    const path = issue.path.map((part) => (typeof part === 'symbol' ? String(part) : part));
    if (issue.code === 'unrecognized_keys') for (const key of issue.keys) add([...path, key], 'unknown key');
    else add(path, describeIssue(issue));
  }
  return [...problems.values()].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a table',
  record: 'a table',
};

function describeIssue(issue: z.core.$ZodIssue): string {
  const got = `got ${describeValue(issue.input)}`;
  switch (issue.code) {
    case 'invalid_type':
      // TOML has no null, so an undefined input can only be a key that is not there.
      if (issue.input === undefined) return 'required key is missing';
      return `expected ${EXPECTED[issue.expected] ?? issue.expected}, ${got}`;
    case 'too_small':
      return `must be at least ${issue.minimum}, ${got}`;
    case 'too_big':
      return `must be at most ${issue.maximum}, ${got}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}, ${got}`;
    default:
      return issue.message;
  }
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return 'a date'; // smol-toml's TomlDate
  if (typeof value === 'object' && value !== null) return 'a table';
  return String(value);
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

function describeSystemError(error: unknown): string {
  const { code, errno } = error as NodeJS.ErrnoException;
  if (code && typeof errno === 'number') return `${code}: ${getSystemErrorMessage(errno)}`;
  return error instanceof Error ? error.message : String(error);
}
