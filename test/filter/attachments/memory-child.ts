// Run by memory.test.ts in a child process: inspects the message file argv[2] (read as
// a stream, never whole) with scratch directory argv[3], sampling memory as it goes,
// and prints one JSON line: the growth of RSS and of heap + external buffers over the
// readings taken just before the inspection, and what was found.
import { createReadStream } from 'node:fs';
import { inspectAttachments } from '../../../src/filter/attachments/index.ts';

const [, , file, scratchDir] = process.argv;
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const used = () => {
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.external };
};
const before = used();
let peak = { ...before };
const sample = () => {
  const now = used();
  peak = { rss: Math.max(peak.rss, now.rss), heap: Math.max(peak.heap, now.heap) };
};
const timer = setInterval(sample, 2);
const report = await inspectAttachments(createReadStream(file!), { scratchDir: scratchDir! });
sample();
clearInterval(timer);
// maxRSS (KiB) is the kernel's own peak, which sampling could miss between readings.
const maxRss = process.resourceUsage().maxRSS * 1024;
process.stdout.write(
  `${JSON.stringify({
    rssBefore: before.rss,
    rssGrowth: Math.max(peak.rss, maxRss) - before.rss,
    heapGrowth: peak.heap - before.heap,
    findings: report.findings.map((f) => [f.kind, ...f.path]),
    decodedSize: report.parts.find((p) => p.archive)?.decodedSize,
  })}\n`,
);
