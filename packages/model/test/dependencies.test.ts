import assert from 'node:assert/strict';
import { test } from 'node:test';
import { linkDependencies } from '../src/dependencies.js';
import type { Span, SpanKind } from '../src/span.js';

const T = '0000000000000abc';

function span(
  id: string,
  parentId: string | undefined,
  kind: SpanKind | undefined,
  local: string | undefined,
  remote?: string,
  extra: Partial<Span> = {},
): Span {
  const s: Span = { traceId: T, id: id.padStart(16, '0') };
  if (parentId !== undefined) s.parentId = parentId.padStart(16, '0');
  if (kind) s.kind = kind;
  if (local) s.localEndpoint = { serviceName: local };
  if (remote) s.remoteEndpoint = { serviceName: remote };
  return { ...s, ...extra };
}

const error = { tags: { error: 'boom' } };

test('a shared client/server span pair is one call, from the client service', () => {
  const trace = [
    span('1', undefined, 'SERVER', 'frontend'),
    span('2', '1', 'CLIENT', 'frontend', 'backend'),
    span('2', '1', 'SERVER', 'backend', undefined, { shared: true }),
  ];
  assert.deepEqual(linkDependencies([trace]), [
    { parent: 'frontend', child: 'backend', callCount: 1 },
  ]);
});

test('the root server links from its remote service when it names one', () => {
  assert.deepEqual(linkDependencies([[span('1', undefined, 'SERVER', 'frontend', 'browser')]]), [
    { parent: 'browser', child: 'frontend', callCount: 1 },
  ]);
  assert.deepEqual(linkDependencies([[span('1', undefined, 'SERVER', 'frontend')]]), []);
});

test('a leaf client span links to an uninstrumented remote service', () => {
  const trace = [
    span('1', undefined, 'SERVER', 'frontend'),
    span('2', '1', 'CLIENT', 'frontend', 'mysql'),
  ];
  assert.deepEqual(linkDependencies([trace]), [
    { parent: 'frontend', child: 'mysql', callCount: 1 },
  ]);
});

test('local spans between a server and its remote parent are looked through', () => {
  const trace = [
    span('1', undefined, 'SERVER', 'a'),
    span('2', '1', undefined, 'a'),
    span('3', '2', undefined, 'a'),
    span('4', '3', 'CLIENT', 'a', 'b'),
    span('5', '4', 'SERVER', 'b'),
  ];
  assert.deepEqual(linkDependencies([trace]), [{ parent: 'a', child: 'b', callCount: 1 }]);
});

test('the server prefers the service of its client span over its own remote endpoint', () => {
  const trace = [
    span('1', undefined, 'SERVER', 'a'),
    span('2', '1', 'CLIENT', 'a', 'b-alias'),
    span('3', '2', 'SERVER', 'b', 'proxy'),
  ];
  assert.deepEqual(linkDependencies([trace]), [{ parent: 'a', child: 'b', callCount: 1 }]);
});

test('errors: the span of the call, or the client span a server is a child of', () => {
  const traces = [
    [span('1', undefined, 'SERVER', 'a'), span('2', '1', 'CLIENT', 'a', 'b', error)],
    [
      span('1', undefined, 'SERVER', 'a'),
      span('2', '1', 'CLIENT', 'a', 'b', error),
      span('3', '2', 'SERVER', 'b'),
    ],
    [
      span('1', undefined, 'SERVER', 'a'),
      span('2', '1', 'CLIENT', 'a', 'b'),
      span('3', '2', 'SERVER', 'b', undefined, error),
    ],
    [
      span('1', undefined, 'SERVER', 'a'),
      span('2', '1', 'CLIENT', 'a', 'b'),
      span('3', '2', 'SERVER', 'b'),
    ],
  ];
  assert.deepEqual(linkDependencies(traces), [
    { parent: 'a', child: 'b', callCount: 4, errorCount: 3 },
  ]);
});

test('messaging spans link through the broker only when both sides are named', () => {
  const trace = [
    span('1', undefined, 'PRODUCER', 'producer', 'kafka'),
    span('2', '1', 'CONSUMER', 'consumer', 'kafka', error),
    span('3', '1', 'CONSUMER', 'lost'),
    span('4', '1', 'PRODUCER', 'nobroker'),
  ];
  assert.deepEqual(linkDependencies([trace]), [
    { parent: 'kafka', child: 'consumer', callCount: 1, errorCount: 1 },
    { parent: 'producer', child: 'kafka', callCount: 1 },
  ]);
});

test('a span without a kind that names both services is a client span', () => {
  const trace = [span('1', undefined, 'SERVER', 'a'), span('2', '1', undefined, 'a', 'redis')];
  assert.deepEqual(linkDependencies([trace]), [{ parent: 'a', child: 'redis', callCount: 1 }]);
});

test('a server sharing its client id without the shared flag is still one call', () => {
  const trace = [
    span('1', undefined, 'SERVER', 'a'),
    span('2', '1', 'CLIENT', 'a', 'b'),
    span('2', '1', 'SERVER', 'b'),
  ];
  assert.deepEqual(linkDependencies([trace]), [{ parent: 'a', child: 'b', callCount: 1 }]);
});

test('pieces of one span reported separately are merged before linking', () => {
  const trace = [
    span('1', undefined, 'SERVER', 'a'),
    span('2', '1', 'CLIENT', 'a', 'b'),
    span('2', '1', undefined, 'a', undefined, { tags: { error: '' } }),
  ];
  assert.deepEqual(linkDependencies([trace]), [
    { parent: 'a', child: 'b', callCount: 1, errorCount: 1 },
  ]);
});

test('headless traces: servers whose parents are missing link from their remote service', () => {
  const trace = [
    span('2', '1', 'SERVER', 'b', 'a'),
    span('3', '2', 'CLIENT', 'b', 'c'),
    span('4', '3', 'SERVER', 'c'),
  ];
  assert.deepEqual(linkDependencies([trace]), [
    { parent: 'a', child: 'b', callCount: 1 },
    { parent: 'b', child: 'c', callCount: 1 },
  ]);
});

test('a service calling itself is a link like any other', () => {
  const trace = [
    span('1', undefined, 'SERVER', 'a'),
    span('2', '1', 'CLIENT', 'a', 'a'),
    span('2', '1', 'SERVER', 'a', undefined, { shared: true }),
  ];
  assert.deepEqual(linkDependencies([trace]), [{ parent: 'a', child: 'a', callCount: 1 }]);
});

test('a client under another service without a server span of its own gets the missing link', () => {
  const trace = [
    span('1', undefined, 'SERVER', 'a'),
    span('2', '1', 'CLIENT', 'a', 'b', error),
    span('3', '2', 'CLIENT', 'b', 'c'),
  ];
  assert.deepEqual(linkDependencies([trace]), [
    { parent: 'a', child: 'b', callCount: 1 },
    // As in Zipkin, a span that is the child of an erroneous client span inherits its error.
    { parent: 'b', child: 'c', callCount: 1, errorCount: 1 },
  ]);
});

test('links of many traces are summed and sorted by parent, then child', () => {
  const one = [
    span('1', undefined, 'SERVER', 'web'),
    span('2', '1', 'CLIENT', 'web', 'db'),
    span('3', '1', 'CLIENT', 'web', 'cache'),
  ];
  const two = [span('1', undefined, 'SERVER', 'api', 'web'), span('2', '1', 'CLIENT', 'api', 'db')];
  assert.deepEqual(linkDependencies([one, two, one, []]), [
    { parent: 'api', child: 'db', callCount: 1 },
    { parent: 'web', child: 'api', callCount: 1 },
    { parent: 'web', child: 'cache', callCount: 2 },
    { parent: 'web', child: 'db', callCount: 2 },
  ]);
});

test('a second root span hangs under the first one', () => {
  const trace = [span('1', undefined, 'SERVER', 'a'), span('2', undefined, 'SERVER', 'b')];
  assert.deepEqual(linkDependencies([trace]), [{ parent: 'a', child: 'b', callCount: 1 }]);
});
