// SpamAssassin as a peer of bench/spam.ts: per fold a private instance in a temporary
// directory. Its own site configuration (Debian's plugin list, the *.pre files of
// /etc/spamassassin, and a generated local.cf), its own Bayes database (bayes_path),
// HOME and user_prefs, the rules of the Debian package (/usr/share/spamassassin, named
// explicitly, so an sa-update does not change the figures), local tests only: nothing
// leaves the machine. sa-learn trains the Bayes database on the training fold; a spamd
// on 127.0.0.1 with one child scores messages sent one at a time with spamc.
//
// Two spamd configurations share the database: "all" loads every rule (the standard
// total score), "bayes" only the Bayes rules (23_bayes.cf) and the settings of the
// other rule files (TLDs, bayes_ignore_header, redirector patterns…) with their rules
// left out, so that the Bayes probability, the same, is timed on its own. A small
// plugin puts the Bayes probability and the total score at full precision into a
// header (SpamAssassin's _BAYES_ tag has 4 decimals, _SCORE_ 1).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { childEnv, settlesWithin } from '../../test/harness/processes.ts';
import { familyCpuSeconds } from '../smtp-inbound/daemon.ts';

export const SPAMASSASSIN_INSTALL = 'apt-get update && apt-get install -y spamassassin spamd spamc';
export const SPAMASSASSIN_PROGRAMS = ['sa-learn', 'spamd', 'spamc'];
/** The rules the Debian package ships (a daily sa-update would put newer ones into /var/lib/spamassassin). */
export const RULES_DIR = '/usr/share/spamassassin';
/** Where Debian's *.pre files (which plugins are loaded) are. */
const SITE_DIR = '/etc/spamassassin';
/** As for kakitome's tokenizer in the bench: no message of the corpus is near it. */
const MAX_SIZE = 30 * 1024 * 1024;
const HOST = '127.0.0.1';

/** The path of `program` on PATH or in the sbin directories (spamd is in /usr/sbin, not on a user's PATH). */
export function programPath(program: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  return dirs.map((dir) => join(dir, program)).find((path) => existsSync(path));
}

export function spamAssassinVersion(): string {
  return /SpamAssassin version (\S+)/.exec(execFileSync(programPath('sa-learn')!, ['--version'], { encoding: 'utf8' }))?.[1] ?? '?';
}

export interface SaScore {
  /** The Bayes probability; undefined when SpamAssassin gives none (no token of the message known). */
  bayes: number | undefined;
  /** The total score in points, as SpamAssassin rounds it (3 decimals). */
  score: number;
}

const PLUGIN = `package KakitomeBenchTags;
# bench/spam.ts: the Bayes probability and the total score at full precision as
# template tags (SpamAssassin's _BAYES_ has 4 decimals, _SCORE_ 1).
use strict;
use warnings;
use Mail::SpamAssassin::Plugin;
our @ISA = qw(Mail::SpamAssassin::Plugin);

sub new {
  my ($class, $main) = @_;
  my $self = $class->SUPER::new($main);
  bless $self, $class;
  return $self;
}

sub check_start {
  my ($self, $options) = @_;
  my $pms = $options->{permsgstatus};
  $pms->set_tag('KAKITOMEBAYES', sub { my $status = shift; defined $status->{bayes_score} ? sprintf('%.17g', $status->{bayes_score}) : 'none' });
  $pms->set_tag('KAKITOMESCORE', sub { my $status = shift; sprintf('%.3f', $status->{score}) });
  return;
}

1;
`;

function localCf(dir: string): string {
  return `# bench/spam.ts: one fold's SpamAssassin; what is not set here is SpamAssassin's default.
# Bayes on, from this fold's database only, learning only what sa-learn is given.
use_bayes 1
use_bayes_rules 1
bayes_auto_learn 0
bayes_path ${join(dir, 'bayes', 'bayes')}
# Every learned token is kept (the default expiry would cut the database to ~150,000 tokens).
bayes_auto_expire 0
# The defaults, written out: Bayes scores once 200 ham and 200 spam are learned.
bayes_min_ham_num 200
bayes_min_spam_num 200
# No network tests (besides --local / -L on every command).
skip_rbl_checks 1
dns_available no
ifplugin Mail::SpamAssassin::Plugin::Razor2
use_razor2 0
endif
ifplugin Mail::SpamAssassin::Plugin::Pyzor
use_pyzor 0
endif
ifplugin Mail::SpamAssassin::Plugin::DCC
use_dcc 0
endif
# The Bayes probability and the total score at full precision, in X-Spam-Kakitome.
loadplugin KakitomeBenchTags ${join(dir, 'KakitomeBenchTags.pm')}
add_header all Kakitome bayes=_KAKITOMEBAYES_ score=_KAKITOMESCORE_
`;
}

/** Rule definitions (first word) other than the Bayes rules' are left out of the "bayes" configuration. */
const RULE_LINE = /^\s*(?:body|rawbody|header|full|uri|meta|mimeheader|askdns|urirhssub|uridnssub|urirhsbl|uridnsbl|describe|tflags|score|priority|lang|reuse|test|replace_rules|dns_block_rule)\s+(\S+)/;

/** The rule files of `from` with their rules left out, except 23_bayes.cf whole and the BAYES_ lines (scores, priorities). */
function writeBayesOnlyRules(from: string, to: string): void {
  mkdirSync(to);
  for (const name of readdirSync(from).filter((file) => file.endsWith('.cf'))) {
    const text = readFileSync(join(from, name), 'latin1');
    const isKept = (line: string) => {
      const rule = RULE_LINE.exec(line);
      return !rule || rule[1]!.startsWith('BAYES_');
    };
    const kept = name === '23_bayes.cf' ? text : text.split('\n').filter(isKept).join('\n');
    writeFileSync(join(to, name), kept, 'latin1');
  }
}

// A spamd left behind would keep a port and the database: every one started is stopped
// with its whole process group when the bench exits, also on Ctrl-C or an error.
const liveGroups = new Set<number>();
const liveDirs = new Set<string>();
let exitHooked = false;
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
    for (const group of liveGroups) {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => process.exit(128 + constants.signals[signal]));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface Spamd {
  /** Scores one message: `spamc --headers` with the file on its stdin. */
  scan(file: string): SaScore;
  /** CPU seconds of spamd and its children so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** One fold's SpamAssassin: configuration, Bayes database and HOME in a temporary directory. */
export class SpamAssassin {
  readonly dir = mkdtempSync(join(tmpdir(), 'kakitome-spamassassin-'));
  private readonly env: NodeJS.ProcessEnv;

  constructor() {
    hookExit();
    liveDirs.add(this.dir);
    this.env = childEnv({ HOME: join(this.dir, 'home') });
    for (const sub of ['home', 'site', 'bayes']) mkdirSync(join(this.dir, sub));
    for (const name of readdirSync(SITE_DIR).filter((file) => file.endsWith('.pre'))) copyFileSync(join(SITE_DIR, name), join(this.dir, 'site', name));
    writeFileSync(join(this.dir, 'site', 'local.cf'), localCf(this.dir));
    writeFileSync(join(this.dir, 'KakitomeBenchTags.pm'), PLUGIN);
    writeFileSync(join(this.dir, 'user_prefs'), '');
    writeBayesOnlyRules(RULES_DIR, join(this.dir, 'rules-bayes'));
  }

  private configArgs(rules: string): string[] {
    return ['--local', `--siteconfigpath=${join(this.dir, 'site')}`, `--configpath=${rules}`];
  }

  /** sa-learn on many files at once; how many it learned (it skips a message already learned: same To, Date and body). */
  learn(kind: 'spam' | 'ham', files: readonly string[]): { learned: number; examined: number } {
    const args = [...this.configArgs(RULES_DIR), `--prefspath=${join(this.dir, 'user_prefs')}`, `--max-size=${MAX_SIZE}`, `--${kind}`, ...files];
    const run = spawnSync(programPath('sa-learn')!, args, { encoding: 'utf8', env: this.env, maxBuffer: 64 * 1024 * 1024 });
    const counts = /Learned tokens from (\d+) message\(s\) \((\d+) message\(s\) examined\)/.exec(run.stdout ?? '');
    if (run.status !== 0 || !counts) throw new Error(`sa-learn --${kind} failed (exit ${run.status}): ${run.stderr}${run.stdout}`);
    return { learned: Number(counts[1]), examined: Number(counts[2]) };
  }

  /** spamd drops root for nobody: the directory becomes nobody's (its journal and locks are written while scanning). */
  handOver(): void {
    if (process.getuid?.() === 0) execFileSync('chown', ['-R', 'nobody:', this.dir]);
  }

  /**
   * A spamd with one child on a free port of 127.0.0.1, with every rule ("all") or only
   * Bayes's ("bayes"); in its own process group. Its log (stderr) goes to a file, not a
   * pipe: the scans block this process, and a pipe nobody reads would fill with the
   * log's lines and stop spamd.
   */
  async serve(rules: 'all' | 'bayes'): Promise<Spamd> {
    const port = await freePort();
    const log = join(this.dir, `spamd-${rules}.log`);
    const logFd = openSync(log, 'w');
    const daemon = spawn(
      programPath('spamd')!,
      [
        ...this.configArgs(rules === 'all' ? RULES_DIR : join(this.dir, 'rules-bayes')),
        `--listen=${HOST}:${port}`,
        `--allowed-ips=${HOST}`,
        '--max-children=1',
        '--min-children=1',
        '--min-spare=1',
        '--max-spare=1',
        '--nouser-config',
        `--helper-home-dir=${join(this.dir, 'home')}`,
        `--pidfile=${join(this.dir, `spamd-${rules}.pid`)}`,
        '--syslog=stderr',
        ...(process.getuid?.() === 0 ? ['--username=nobody'] : []),
      ],
      { env: this.env, stdio: ['ignore', logFd, logFd], detached: true },
    );
    closeSync(logFd);
    const pid = daemon.pid!;
    liveGroups.add(pid);
    const exited = new Promise<void>((resolve) => {
      daemon.once('exit', () => resolve());
      daemon.once('error', () => resolve());
    });
    const running = () => daemon.exitCode === null && daemon.signalCode === null;
    const spamc = programPath('spamc')!;
    /** SIGTERM (spamd stops its child), then SIGKILL to the group for whatever is left. */
    const stop = async () => {
      if (running()) daemon.kill('SIGTERM');
      await settlesWithin(exited, 10_000);
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // the group is gone, as it should be
      }
      await exited;
      liveGroups.delete(pid);
    };
    const deadline = Date.now() + 180_000;
    for (;;) {
      const ping = spawnSync(spamc, ['-d', HOST, '-p', String(port), '-K', '--connect-retries=1'], { encoding: 'utf8', env: this.env });
      if (ping.status === 0) break;
      if (!running() || Date.now() > deadline) {
        await stop();
        throw new Error(`spamd (${rules}) did not start:\n${readFileSync(log, 'utf8').split('\n').slice(-20).join('\n')}`);
      }
      await sleep(250);
    }
    return {
      scan: (file) => {
        const out = spawnSync(spamc, ['-d', HOST, '-p', String(port), '-x', `--max-size=${MAX_SIZE}`, '--headers'], {
          input: readFileSync(file),
          env: this.env,
          maxBuffer: 2 * MAX_SIZE,
        });
        if (out.status !== 0) throw new Error(`spamc on ${file}: exit ${out.status}: ${out.stderr?.toString()}`);
        const text = out.stdout.toString('latin1');
        const end = text.search(/\r?\n\r?\n/);
        const tags = /^X-Spam-Kakitome: bayes=(\S+) score=(\S+)/m.exec(end < 0 ? text : text.slice(0, end));
        if (!tags) throw new Error(`spamc on ${file}: no X-Spam-Kakitome header in its answer`);
        return { bayes: tags[1] === 'none' ? undefined : Number(tags[1]), score: Number(tags[2]) };
      },
      cpuSeconds: () => familyCpuSeconds(pid),
      stop,
    };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
    liveDirs.delete(this.dir);
  }
}
