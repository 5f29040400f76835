// Reads, parses and validates the configuration file. Every problem becomes one line,
// `FILE:LINE: KEY.PATH: what is wrong`, the shape editors and terminals can jump to;
// several problems are joined with "; " so that the whole report stays one line.

import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { getSystemErrorMessage } from 'node:util';
import { parse, TomlError } from 'smol-toml';
import { formatKeyPath, type Problem } from './fields.ts';
import { lineFinder } from './locate.ts';
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

  const result = configSchema.validate(document);
  if (!result.ok) throw new ConfigError(file, locateProblems(result.problems, source));

  const base = dirname(resolve(file));
  const { data_dir, tls, antivirus } = result.value;
  return {
    ...result.value,
    data_dir: resolve(base, data_dir),
    tls: { ...tls, cert: resolve(base, tls.cert), key: resolve(base, tls.key) },
    antivirus: {
      ...antivirus,
      engine: antivirus.engine.map((engine) => ({
        ...engine,
        socket: engine.socket === '' ? '' : resolve(base, engine.socket),
        rules: engine.rules === '' ? '' : resolve(base, engine.rules),
      })),
    },
  };
}

/** One problem per key path (the first says enough), with its line, in line order. */
function locateProblems(found: readonly Problem[], source: string): ConfigProblem[] {
  const lineOf = lineFinder(source);
  const problems = new Map<string, ConfigProblem>();
  for (const { path, message } of found) {
    const keyPath = formatKeyPath(path);
    if (!problems.has(keyPath)) problems.set(keyPath, { line: lineOf(path), keyPath, message });
  }
  return [...problems.values()].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

function describeSystemError(error: unknown): string {
  const { code, errno } = error as NodeJS.ErrnoException;
  if (code && typeof errno === 'number') return `${code}: ${getSystemErrorMessage(errno)}`;
  return error instanceof Error ? error.message : String(error);
}
