import type { Span } from '@blkkin/model';

/**
 * Realistic spans for benchmarks: traces of 10–50 spans through a storage stack (vm → vlmc →
 * mapper → blocker → osd.N with replication), with tags and annotations like the demo records.
 * Deterministic for a given seed.
 */

export interface WorkloadOptions {
  traces: number;
  seed?: number;
  /** Epoch µs of the last trace; traces are spread before it. */
  endMicros?: number;
  /** µs between consecutive traces. */
  spacingMicros?: number;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

const hex16 = (hi: number, lo: number) =>
  (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');

const OPS = ['write', 'read'] as const;
const PHASES = ['queue', 'journal', 'replicate', 'apply', 'commit'];

/** Generates `traces` traces; returns them flat, trace by trace. */
export function generateSpans(options: WorkloadOptions): Span[] {
  const random = rng(options.seed ?? 42);
  const end = options.endMicros ?? Date.now() * 1000;
  const spacing = options.spacingMicros ?? 100;
  const spans: Span[] = [];
  for (let t = 0; t < options.traces; t++) {
    const traceId =
      hex16(random() * 2 ** 32, random() * 2 ** 32) + hex16(random() * 2 ** 32, t + 1);
    const start = end - (options.traces - t) * spacing;
    const op = OPS[random() < 0.3 ? 0 : 1]!;
    const volume = `vol-${Math.floor(random() * 64)}`;
    const count = 10 + Math.floor(random() * 41);
    let nextId = 1;
    const id = () => hex16(t + 1, nextId++);
    const rootId = id();
    const total = 500 + Math.floor(random() * 20_000);
    spans.push({
      traceId,
      id: rootId,
      kind: 'CLIENT',
      name: op,
      timestamp: start,
      duration: total,
      localEndpoint: { serviceName: 'vm', ipv4: '10.0.0.10' },
      remoteEndpoint: { serviceName: 'vlmc', ipv4: '10.0.0.11', port: 7000 },
      annotations: [
        { timestamp: start + 1, value: 'submit' },
        { timestamp: start + total - 1, value: 'complete' },
      ],
      tags: { volume, offset: String(Math.floor(random() * 2 ** 30)), length: '4096' },
      level: 6,
      node: 'node-0',
    });
    const layers = ['vlmc', 'mapper', 'blocker'];
    let parent = rootId;
    let t0 = start + 10;
    for (const layer of layers) {
      const sid = id();
      const d = Math.max(1, Math.floor(total * (0.9 - layers.indexOf(layer) * 0.1)));
      spans.push({
        traceId,
        parentId: parent,
        id: sid,
        kind: 'SERVER',
        name: op,
        timestamp: t0,
        duration: d,
        localEndpoint: { serviceName: layer, ipv4: `10.0.0.${12 + layers.indexOf(layer)}` },
        annotations: [
          { timestamp: t0 + 2, value: 'sr' },
          { timestamp: t0 + d - 2, value: 'ss' },
        ],
        tags: { volume, object: `${volume}.${Math.floor(random() * 4096)}` },
        level: 6,
        node: `node-${layers.indexOf(layer) + 1}`,
      });
      parent = sid;
      t0 += 5;
    }
    while (nextId <= count) {
      const osd = Math.floor(random() * 4);
      const phase = PHASES[Math.floor(random() * PHASES.length)]!;
      const d = 1 + Math.floor(random() * total * 0.3);
      const ts = t0 + Math.floor(random() * (total * 0.5));
      const span: Span = {
        traceId,
        parentId: parent,
        id: id(),
        kind: random() < 0.5 ? 'CLIENT' : 'SERVER',
        name: phase,
        timestamp: ts,
        duration: d,
        localEndpoint: { serviceName: `osd.${osd}`, ipv4: `10.0.1.${osd + 1}`, port: 6800 },
        annotations: [
          { timestamp: ts + 1, value: `${phase}.start` },
          { timestamp: ts + d, value: `${phase}.done` },
        ],
        tags: {
          pg: `1.${Math.floor(random() * 128).toString(16)}`,
          bytes: '4096',
          object: `${volume}.${Math.floor(random() * 4096)}`,
        },
        level: random() < 0.9 ? 6 : 7,
        node: `node-osd-${osd}`,
      };
      if (random() < 0.01) span.tags!.error = 'EIO';
      spans.push(span);
    }
  }
  return spans;
}

/** Splits spans into batches of about `size`, never splitting a trace. */
export function batches(spans: readonly Span[], size: number): Span[][] {
  const out: Span[][] = [];
  let current: Span[] = [];
  for (let i = 0; i < spans.length; i++) {
    const span = spans[i]!;
    if (current.length >= size && span.traceId !== current[current.length - 1]!.traceId) {
      out.push(current);
      current = [];
    }
    current.push(span);
  }
  if (current.length > 0) out.push(current);
  return out;
}
