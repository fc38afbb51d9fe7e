import fc from 'fast-check';
import { bytesToHex } from '../src/ids.js';
import { normalizeSpan } from '../src/normalize.js';
import type { Span } from '../src/span.js';

// Arbitrary valid spans for the codecs' property tests: raw spans that normalise, normalised.

export const text = (maxLength: number) => fc.string({ unit: 'grapheme', maxLength });

export const hexId = (bytes: number) =>
  fc
    .uint8Array({ minLength: bytes, maxLength: bytes })
    .filter((b) => b.some((x) => x !== 0))
    .map((b) => bytesToHex(b));

export interface SpanArbitraryOptions {
  /** Names, values, keys and the node: what the codec under test can carry. */
  strings?: (maxLength: number) => fc.Arbitrary<string>;
  /** IPv6 addresses as the codec gives them back. */
  ipv6?: fc.Arbitrary<string>;
}

export function validSpan(options: SpanArbitraryOptions = {}): fc.Arbitrary<Span> {
  const strings = options.strings ?? text;
  const micros = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
  const level = fc.integer({ min: 0, max: 7 });
  const endpoint = fc.record(
    {
      serviceName: text(12),
      ipv4: fc.ipV4(),
      ipv6: options.ipv6 ?? fc.ipV6(),
      port: fc.integer({ min: 1, max: 65535 }),
    },
    { requiredKeys: [] },
  );
  return fc
    .record(
      {
        traceId: fc.oneof(hexId(8), hexId(16)),
        parentId: hexId(8),
        id: hexId(8),
        kind: fc.constantFrom('CLIENT', 'SERVER', 'PRODUCER', 'CONSUMER'),
        name: strings(20),
        timestamp: micros,
        duration: micros,
        localEndpoint: endpoint,
        remoteEndpoint: endpoint,
        annotations: fc.array(
          fc.record(
            { timestamp: micros, value: strings(10).filter((v) => v !== ''), level },
            { requiredKeys: ['timestamp', 'value'] },
          ),
          { maxLength: 4 },
        ),
        tags: fc.dictionary(
          strings(8).filter((k) => k !== '' && k !== '__proto__'),
          strings(16),
          { maxKeys: 5 },
        ),
        debug: fc.boolean(),
        shared: fc.boolean(),
        level,
        node: strings(12),
        clockOffset: fc.maxSafeInteger(),
      },
      { requiredKeys: ['traceId', 'id'] },
    )
    .map((raw) => normalizeSpan(raw, 0));
}
