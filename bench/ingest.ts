import {
  decodeZipkinJson,
  decodeZipkinProto3,
  encodeZipkinJson,
  encodeZipkinProto3,
  type Span,
} from '@blkkin/model';
import { DuckDbStore } from '@blkkin/server';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { batches, generateSpans } from './workload.js';

/**
 * blkkin bench ingest: a real `blkkin serve` (DuckDB store) in a child process, fed realistic
 * batches over HTTP from this process; then the floor, measured in the same run: decoding the
 * same payloads alone and DuckDB appending the same rows alone.
 */

const BIN = fileURLToPath(new URL('../../bin/blkkin.js', import.meta.url));
const BATCH_SPANS = 5000;
const CONCURRENCY = 4;

interface Figures {
  [key: string]: unknown;
}

async function startServe(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      '--max-semi-space-size=64',
      BIN,
      'serve',
      '--port',
      '0',
      '--data',
      dir,
      '--retention',
      '0',
      '--max-body',
      '64MiB',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`blkkin serve exited with ${code}`)));
  });
  return { child, url };
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** Posts every payload with CONCURRENCY requests in flight, retrying 503s; returns retries. */
async function send(url: string, payloads: readonly Buffer[], type: string): Promise<number> {
  let next = 0;
  let retries = 0;
  const worker = async () => {
    while (next < payloads.length) {
      const body = payloads[next++]!;
      for (;;) {
        const res = await fetch(`${url}/api/v2/spans`, {
          method: 'POST',
          headers: { 'content-type': type },
          body,
        });
        await res.arrayBuffer();
        if (res.status === 202) break;
        if (res.status !== 503 && res.status !== 429)
          throw new Error(`ingest answered ${res.status}`);
        retries++;
        await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? 1) * 100));
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return retries;
}

async function waitStored(url: string, target: number): Promise<void> {
  while ((await metric(url, 'blkkin_spans_stored_total')) < target)
    await new Promise((r) => setTimeout(r, 20));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function latencies(
  run: () => Promise<void>,
  n: number,
): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { p50: round(percentile(times, 50), 2), p99: round(percentile(times, 99), 2) };
}

const round = (x: number, digits = 0) => Math.round(x * 10 ** digits) / 10 ** digits;

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? await dirBytes(path) : (await stat(path)).size;
  }
  return total;
}

interface Workload {
  all: Span[];
  protoPayloads: Buffer[];
  jsonPayloads: Buffer[];
  protoSpans: number;
  jsonSpans: number;
  spanCount: number;
  batchCount: number;
}

/** The same spans every time for the same arguments: half sent as proto3, half as JSON. */
function workload(totalSpans: number, end: number): Workload {
  const traces = Math.ceil(totalSpans / 30);
  const all = generateSpans({
    traces,
    seed: 7,
    endMicros: end,
    spacingMicros: Math.floor(3_600e6 / traces),
  });
  const chunks = batches(all, BATCH_SPANS);
  const half = Math.floor(chunks.length / 2);
  const protoChunks = chunks.slice(0, half);
  const jsonChunks = chunks.slice(half);
  return {
    all,
    protoPayloads: protoChunks.map((b) => Buffer.from(encodeZipkinProto3(b))),
    jsonPayloads: jsonChunks.map((b) => Buffer.from(encodeZipkinJson(b))),
    protoSpans: protoChunks.reduce((n, b) => n + b.length, 0),
    jsonSpans: jsonChunks.reduce((n, b) => n + b.length, 0),
    spanCount: all.length,
    batchCount: chunks.length,
  };
}

export async function run(options: { json: boolean; args: string[] }): Promise<Figures> {
  const { values } = parseArgs({
    args: options.args,
    strict: true,
    options: { spans: { type: 'string' } },
  });
  const totalSpans = Number(values.spans ?? 1_000_000);
  const log = (msg: string) => {
    if (!options.json) console.log(msg);
    else process.stderr.write(`${msg}\n`);
  };

  // Traces average 30 spans. Generated again for the floor, so that the client holds no spans
  // while it measures query latency (its own garbage collection would count as server latency).
  const end = Date.now() * 1000;
  const first = workload(totalSpans, end);
  const { protoSpans, jsonSpans, batchCount, spanCount } = first;
  const sampleIds = Array.from(
    { length: 500 },
    (_, i) => first.all[Math.floor((i * spanCount) / 500)]!.traceId,
  );
  let payloads: { proto: Buffer[]; json: Buffer[] } | undefined = {
    proto: first.protoPayloads,
    json: first.jsonPayloads,
  };
  first.all = [];
  first.protoPayloads = [];
  first.jsonPayloads = [];
  log(
    `bench ingest: ${spanCount} spans in ${batchCount} batches (${protoSpans} proto3, ${jsonSpans} JSON)`,
  );

  const dir = await mkdtemp(join(tmpdir(), 'blkkin-bench-ingest-'));
  const floorDir = await mkdtemp(join(tmpdir(), 'blkkin-bench-floor-'));
  try {
    // 1. Through the server.
    const { child, url } = await startServe(dir);
    let t = performance.now();
    const protoRetries = await send(url, payloads.proto, 'application/x-protobuf');
    await waitStored(url, protoSpans);
    const protoSeconds = (performance.now() - t) / 1000;
    log(`proto3: ${round(protoSpans / protoSeconds)} stored spans/s`);
    t = performance.now();
    const jsonRetries = await send(url, payloads.json, 'application/json');
    payloads = undefined;
    await waitStored(url, protoSpans + jsonSpans);
    const jsonSeconds = (performance.now() - t) / 1000;
    log(`JSON: ${round(jsonSpans / jsonSeconds)} stored spans/s`);

    // 2. Query latency at the full size.
    let k = 0;
    const byId = await latencies(async () => {
      const res = await fetch(`${url}/api/v2/trace/${sampleIds[k++ % sampleIds.length]}`);
      if (res.status !== 200) throw new Error(`trace by id answered ${res.status}`);
      await res.arrayBuffer();
    }, 300);
    const searches = [
      'serviceName=osd.1&limit=10',
      'serviceName=vlmc&minDuration=15000&limit=10',
      'serviceName=osd.2&annotationQuery=error&limit=10',
      'annotationQuery=volume%3Dvol-7&limit=10',
      'serviceName=mapper&spanName=write&limit=10',
    ];
    let s = 0;
    const search = await latencies(async () => {
      const res = await fetch(`${url}/api/v2/traces?${searches[s++ % searches.length]}`);
      if (res.status !== 200) throw new Error(`search answered ${res.status}`);
      await res.arrayBuffer();
    }, 200);
    log(
      `trace by id p50 ${byId.p50} ms p99 ${byId.p99} ms; search p50 ${search.p50} ms p99 ${search.p99} ms`,
    );
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    const bytesPerSpan = (await dirBytes(dir)) / spanCount;
    log(`disk: ${round(bytesPerSpan, 1)} bytes/span`);

    // 3. The floor: the same payloads decoded alone, the same rows appended to DuckDB alone.
    const again = workload(totalSpans, end);
    t = performance.now();
    for (const p of again.protoPayloads) decodeZipkinProto3(p);
    const decodeProto = protoSpans / ((performance.now() - t) / 1000);
    t = performance.now();
    for (const p of again.jsonPayloads) decodeZipkinJson(p);
    const decodeJson = jsonSpans / ((performance.now() - t) / 1000);
    const store = await DuckDbStore.open(floorDir);
    const writeChunks = batches(again.all, 50_000);
    t = performance.now();
    for (const b of writeChunks) await store.write(b);
    const append = spanCount / ((performance.now() - t) / 1000);
    await store.close();
    // Decoding and appending in series, with nothing else: the best a single pipeline could do.
    const floorProto = 1 / (1 / decodeProto + 1 / append);
    const floorJson = 1 / (1 / decodeJson + 1 / append);
    const protoRate = protoSpans / protoSeconds;
    const jsonRate = jsonSpans / jsonSeconds;
    log(
      `floor: decode proto3 ${round(decodeProto)}/s, JSON ${round(decodeJson)}/s, DuckDB append ${round(append)}/s`,
    );
    return {
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
      storedSpans: spanCount,
      batchSpans: BATCH_SPANS,
      concurrency: CONCURRENCY,
      proto3SpansPerSec: round(protoRate),
      jsonSpansPerSec: round(jsonRate),
      retries503: protoRetries + jsonRetries,
      bytesPerSpanOnDisk: round(bytesPerSpan, 1),
      traceByIdMs: byId,
      searchMs: search,
      floor: {
        decodeProto3SpansPerSec: round(decodeProto),
        decodeJsonSpansPerSec: round(decodeJson),
        duckdbAppendSpansPerSec: round(append),
        proto3SpansPerSec: round(floorProto),
        jsonSpansPerSec: round(floorJson),
      },
      fractionOfFloor: {
        proto3: round(protoRate / floorProto, 3),
        json: round(jsonRate / floorJson, 3),
      },
      fractionOfAppendAlone: {
        proto3: round(protoRate / append, 3),
        json: round(jsonRate / append, 3),
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(floorDir, { recursive: true, force: true });
  }
}
