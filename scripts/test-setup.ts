// The first step of `npm test`: makes sure the Debian packages the tests drive (real
// DNS, real clients) are installed. The list is test/debian-packages.txt (.ci/run
// reads the same file). Presence is asked of dpkg (installed, not merely on PATH);
// when everything is there, no apt command runs at all. When something is missing:
// as root, `apt-get update` once, then `apt-get install -y` of the missing packages;
// otherwise one line on stderr naming the command to run, and exit 1.
//
// KAKITOME_TEST_PACKAGES_FILE points at another list (used to test this script).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PACKAGES_FILE = fileURLToPath(new URL('../test/debian-packages.txt', import.meta.url));

/** Package names of a list file: one per line, `#` starts a comment. */
export function parsePackageList(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== '');
}

/** The packages of `wanted` that dpkg does not report as installed (or undefined: no dpkg). */
function missingPackages(wanted: readonly string[]): string[] | undefined {
  const result = spawnSync('dpkg-query', ['-W', '-f=${Package}\\t${Status}\\n', ...wanted], { encoding: 'utf8' });
  if (result.error) return undefined;
  const installed = new Set(
    result.stdout
      .split('\n')
      .map((line) => line.split('\t'))
      .filter(([, status]) => status?.endsWith(' installed'))
      .map(([name]) => name),
  );
  return wanted.filter((name) => !installed.has(name));
}

function apt(args: readonly string[]): void {
  // Another apt run (unattended upgrades, a second terminal) holds the lock: wait for it.
  const result = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', ...args], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.error || result.status !== 0) {
    process.stderr.write(`test-setup: apt-get ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`})\n`);
    process.exit(1);
  }
}

function main(): void {
  const wanted = parsePackageList(readFileSync(process.env.KAKITOME_TEST_PACKAGES_FILE || PACKAGES_FILE, 'utf8'));
  const missing = missingPackages(wanted);
  if (missing === undefined) {
    process.stderr.write(`test-setup: dpkg-query not found; the tests need these Debian packages: ${wanted.join(' ')}\n`);
    process.exit(1);
  }
  if (missing.length === 0) return;
  const install = ['install', '-y', '--no-install-recommends', ...missing];
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      `test-setup: missing Debian packages (${missing.join(' ')}); run as root: apt-get update && apt-get ${install.join(' ')} (or run npm test as root)\n`,
    );
    process.exit(1);
  }
  process.stderr.write(`test-setup: installing the Debian packages the tests need: ${missing.join(' ')}\n`);
  apt(['update']);
  apt(install);
  const still = missingPackages(wanted) ?? missing;
  if (still.length > 0) {
    process.stderr.write(`test-setup: still not installed after apt-get: ${still.join(' ')}\n`);
    process.exit(1);
  }
}

if (import.meta.main) main();
