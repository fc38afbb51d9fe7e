import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { collecting, sleep } from './tracer-helpers.js';

test('without withSpan, there is no active span and explicit parents work', async () => {
  const { tracer, spans } = collecting();
  assert.equal(tracer.activeSpan(), undefined);
  const root = tracer.startSpan('root');
  await sleep(1);
  const child = tracer.startSpan('child', { parent: root });
  child.end();
  root.end();
  await tracer.flush();
  assert.equal(
    spans.find((s) => s.name === 'child')!.parentId,
    root.context.s0.toString(16).padStart(8, '0') + root.context.s1.toString(16).padStart(8, '0'),
  );
  await tracer.close();
});

test('withSpan / activeSpan across await, timers, and event emitters', async () => {
  const { tracer, spans } = collecting();
  const root = tracer.startSpan('root');
  const seen: Record<string, unknown> = {};
  const emitter = new EventEmitter();
  let bound: (() => void) | undefined;
  await tracer.withSpan(root, async () => {
    seen.sync = tracer.activeSpan();
    await delay(1);
    seen.afterAwait = tracer.activeSpan();
    await new Promise<void>((resolve) =>
      setTimeout(() => {
        seen.timer = tracer.activeSpan();
        resolve();
      }, 1),
    );
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        seen.immediate = tracer.activeSpan();
        resolve();
      }),
    );
    emitter.on('sync', () => (seen.emitSync = tracer.activeSpan()));
    emitter.emit('sync');
    // A listener bound here runs with root active even when emitted from elsewhere.
    bound = tracer.bind(() => (seen.bound = tracer.activeSpan()));
    emitter.on('later', bound);
    emitter.on('later', () => (seen.unbound = tracer.activeSpan()));
    const child = tracer.startSpan('implicit-child');
    await tracer.withSpan(child, async () => {
      await delay(1);
      seen.nested = tracer.activeSpan();
      tracer.startSpan('grandchild').end();
    });
    seen.afterNested = tracer.activeSpan();
    child.end();
  });
  assert.equal(tracer.activeSpan(), undefined);
  emitter.emit('later');
  for (const key of [
    'sync',
    'afterAwait',
    'timer',
    'immediate',
    'emitSync',
    'bound',
    'afterNested',
  ])
    assert.equal(seen[key], root, key);
  assert.equal(seen.unbound, undefined);
  assert.notEqual(seen.nested, root);
  root.end();
  await tracer.flush();
  const byName = Object.fromEntries(spans.map((s) => [s.name, s]));
  assert.equal(byName['implicit-child']!.parentId, byName.root!.id);
  assert.equal(byName.grandchild!.parentId, byName['implicit-child']!.id);
  assert.equal(byName.grandchild!.traceId, byName.root!.traceId);
  // parent: null starts a new trace even with an active span.
  tracer.withSpan(root, () => {
    const fresh = tracer.startSpan('fresh', { parent: null });
    assert.notEqual(fresh.context.t3, root.context.t3);
  });
  await tracer.close();
});

test('concurrent requests keep their own active spans', async () => {
  const { tracer } = collecting();
  const results = await Promise.all(
    [1, 2, 3].map((i) => {
      const span = tracer.startSpan(`req-${i}`);
      return tracer.withSpan(span, async () => {
        await delay(5 - i);
        const active = tracer.activeSpan();
        span.end();
        return active === span;
      });
    }),
  );
  assert.deepEqual(results, [true, true, true]);
  await tracer.close();
});
