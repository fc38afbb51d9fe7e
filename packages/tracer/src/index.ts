export * from './context.js';
export * from './propagation/index.js';
export { Levels, toLevel, levelName, DEFAULT_LEVEL, type Level, type LevelName } from './levels.js';
export type {
  Endpoint,
  ExportedSpan,
  ExporterConfig,
  SamplerConfig,
  SpanKind,
  StartSpanOptions,
  TracerOptions,
  TracerStats,
} from './options.js';
export { createTracer, Tracer, Span, NOOP_SPAN } from './tracer.js';
export { agentSocketPath } from './transport.js';
export * from './instrument/index.js';
