import type { SpanContext } from '../context.js';
import type { HeaderCarrier, HeaderGetter, HeaderSetter } from './carrier.js';

/**
 * A text (header) propagation format. Implementations never throw: `extract` returns undefined on
 * anything it cannot read, `inject` writes nothing for a context it cannot express.
 */
export interface TextFormat {
  /** Short name: 'w3c', 'b3-single', 'b3-multi', 'b3', or a composite's names joined by '+'. */
  readonly name: string;
  /** The lowercase header names this format reads or writes. */
  readonly fields: readonly string[];
  /** Writes `ctx` into the carrier. */
  inject(ctx: SpanContext, carrier: HeaderCarrier, setter?: HeaderSetter): void;
  /**
   * Reads the remote span's context: its span id is the remote caller's span, which becomes the
   * parent of the next local span (`tracer.startSpan(name, { parent: extracted })`).
   */
  extract(carrier: HeaderCarrier, getter?: HeaderGetter): SpanContext | undefined;
  /**
   * A sampling decision carried without ids (B3 `b3: 0`, `b3: d`, or `X-B3-Sampled` without
   * `X-B3-TraceId`), as TraceFlags bits; undefined when there is none. Only consulted when
   * `extract` found no context.
   */
  extractSampling?(carrier: HeaderCarrier, getter?: HeaderGetter): number | undefined;
}
