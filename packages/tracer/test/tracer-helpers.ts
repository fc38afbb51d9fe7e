import { createTracer, type ExportedSpan, type Tracer, type TracerOptions } from '../src/index.js';

/** A tracer whose spans land in an array (main-thread pipeline, no timer interference). */
export function collecting(options: Partial<TracerOptions> = {}): {
  tracer: Tracer;
  spans: ExportedSpan[];
} {
  const spans: ExportedSpan[] = [];
  const tracer = createTracer({
    service: 'test-svc',
    node: 'test-node',
    flushInterval: 60_000,
    flushOnExit: false,
    ...options,
    exporter: { type: 'custom', export: (batch) => void spans.push(...batch) },
  });
  return { tracer, spans };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
