// Summarises a V8 CPU profile (.cpuprofile, from `node --cpu-prof` or the benchmarks'
// --cpu-prof DIR): self time by function and by package or source folder, and the
// inclusive time of chosen functions, so that a profile can be read without a browser.
//
//   node bench/profile-summary.ts FILE.cpuprofile [--top 30] [--include NAME]... [--callers NAME]...
//
// --callers NAME: for the samples spent in NAME itself, the nearest callers that are not
// native (three frames), so that a system call such as writeUtf8String is traced to the
// code that makes it.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '30' },
    include: { type: 'string', multiple: true, default: [] },
    callers: { type: 'string', multiple: true, default: [] },
  },
});
if (positionals.length !== 1) {
  console.error('usage: node bench/profile-summary.ts FILE.cpuprofile [--top 30] [--include NAME]... [--callers NAME]...');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** Where a frame's code lives: a package, a src/ folder, node's own, or V8's. */
function place(url: string): string {
  if (!url) return '(native/V8)';
  if (url.startsWith('node:')) return url;
  const pkg = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (pkg) return pkg[1]!;
  const src = url.match(/\/(src|bench|test)\/(.*)\/[^/]+$/);
  if (src) return `${src[1]}/${src[2]}`;
  return url.split('/').pop()!;
}

const self = new Map<string, number>();
const selfPlace = new Map<string, number>();
const inclusive = new Map<string, number>();
const callers = new Map<string, Map<string, number>>();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  const node = byId.get(id)!;
  const f = node.callFrame;
  const name = `${f.functionName || '(anonymous)'} ${place(f.url)}:${f.lineNumber + 1}`;
  self.set(name, (self.get(name) ?? 0) + dt);
  selfPlace.set(place(f.url), (selfPlace.get(place(f.url)) ?? 0) + dt);
  if (values.callers.includes(f.functionName)) {
    const chain: string[] = [];
    for (let cur = parent.get(id); cur !== undefined && chain.length < 3; cur = parent.get(cur)) {
      const frame = byId.get(cur)!.callFrame;
      if (frame.url) chain.push(`${frame.functionName || '(anonymous)'} ${place(frame.url)}:${frame.lineNumber + 1}`);
    }
    const tally = callers.get(f.functionName) ?? new Map<string, number>();
    const key = chain.join(' < ') || '(no JavaScript caller)';
    tally.set(key, (tally.get(key) ?? 0) + dt);
    callers.set(f.functionName, tally);
  }
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const fn = byId.get(cur)!.callFrame.functionName;
    for (const want of values.include) if (fn === want && !seen.has(want)) {
      seen.add(want);
      inclusive.set(want, (inclusive.get(want) ?? 0) + dt);
    }
  }
});
const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
const busy = total - idle;
const pct = (v: number) => `${((100 * v) / busy).toFixed(1).padStart(5)} %`;
console.log(`${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (percentages of busy)`);
console.log('\nself time by place:');
for (const [k, v] of [...selfPlace].sort((a, b) => b[1] - a[1]).slice(0, 20)) if (k !== '(native/V8)' || v) console.log(`  ${pct(v)}  ${k}`);
console.log('\nself time by function:');
for (const [k, v] of [...self].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) console.log(`  ${pct(v)}  ${k}`);
if (inclusive.size > 0) {
  console.log('\ninclusive time:');
  for (const [k, v] of [...inclusive].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(v)}  ${k}`);
}
for (const [name, tally] of callers) {
  console.log(`\ncallers of ${name}:`);
  for (const [chain, v] of [...tally].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  ${pct(v)}  ${chain}`);
}
