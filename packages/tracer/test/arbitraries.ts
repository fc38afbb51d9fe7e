import fc from 'fast-check';
import type { SpanContext } from '../src/context.js';

// Arbitrary valid span contexts for the propagation property tests.

export const word = fc.integer({ min: 0, max: 0xffffffff });
export const flagsArb = fc.integer({ min: 0, max: 7 });

/** Contexts with 64- or 128-bit trace ids, a parent or none, and, when given, a tracestate. */
export function spanContextArb(
  words: fc.Arbitrary<number> = word,
  traceState?: fc.Arbitrary<string>,
): fc.Arbitrary<SpanContext> {
  return fc
    .record({
      wide: fc.boolean(),
      t: fc.tuple(words, words, words, words),
      s: fc.tuple(words, words),
      p: fc.oneof(fc.constant([0, 0] as [number, number]), fc.tuple(words, words)),
      flags: flagsArb,
      traceState: traceState ? fc.option(traceState, { nil: undefined }) : fc.constant(undefined),
    })
    .filter(
      ({ wide, t, s }) =>
        (wide ? t.some((w) => w !== 0) : t[2] !== 0 || t[3] !== 0) && (s[0] !== 0 || s[1] !== 0),
    )
    .map(({ wide, t, s, p, flags, traceState: state }) => ({
      t0: wide ? t[0] : 0,
      t1: wide ? t[1] : 0,
      t2: t[2],
      t3: t[3],
      s0: s[0],
      s1: s[1],
      p0: p[0],
      p1: p[1],
      flags,
      ...(state !== undefined ? { traceState: state } : {}),
    }));
}
