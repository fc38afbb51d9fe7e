/** Bounds on what one span may carry. A span beyond them is rejected, naming the bound. */
export interface SpanLimits {
  /** Spans in one batch. */
  maxSpansPerBatch: number;
  /** Span names, service names, tag keys and the node name (characters). */
  maxNameLength: number;
  /** One tag value or annotation value (characters). */
  maxValueLength: number;
  maxTagsPerSpan: number;
  maxAnnotationsPerSpan: number;
}

export const DEFAULT_LIMITS: Readonly<SpanLimits> = Object.freeze({
  maxSpansPerBatch: 100_000,
  maxNameLength: 256,
  maxValueLength: 65_536,
  maxTagsPerSpan: 256,
  maxAnnotationsPerSpan: 1024,
});
