import { decodeZipkinProto3, encodeZipkinProto3 } from '@blkkin/model';
import { execSync } from 'node:child_process';
import { generateSpans } from './workload.js';

/**
 * decodeZipkinProto3 alone, in ns per span, on realistic 5000-span batches: the median of 11 runs
 * of 10 batches each, after a warm-up, with the machine's load (the bench machine is shared).
 * Run: npx tsc -b && node bench/dist/codec.js
 */
const BATCH = 5000;
const RUNS = 11;

const spans = generateSpans({ traces: 400 });
const batches: Uint8Array[] = [];
for (let i = 0; i + BATCH <= spans.length; i += BATCH) {
  batches.push(encodeZipkinProto3(spans.slice(i, i + BATCH)));
}
for (let i = 0; i < 20; i++) for (const body of batches) decodeZipkinProto3(body);
const runs: number[] = [];
for (let r = 0; r < RUNS; r++) {
  const start = process.hrtime.bigint();
  let count = 0;
  for (let i = 0; i < 5; i++) for (const body of batches) count += decodeZipkinProto3(body).length;
  runs.push(Number(process.hrtime.bigint() - start) / count);
}
runs.sort((a, b) => a - b);
const bytes = batches.reduce((sum, body) => sum + body.length, 0) / (batches.length * BATCH);
console.log(
  `decodeZipkinProto3: median ${runs[RUNS >> 1]!.toFixed(0)} ns/span ` +
    `(min ${runs[0]!.toFixed(0)}, max ${runs[RUNS - 1]!.toFixed(0)}; ${RUNS} runs of ` +
    `${5 * batches.length} batches of ${BATCH} spans, ${bytes.toFixed(0)} bytes/span)`,
);
console.log(execSync('uptime').toString().trim());
