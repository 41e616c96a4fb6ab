// The SDK's pure parts, in Node: the quality score (docs/sdk.md), the
// replaying handler slots and the reconnect backoff. Everything that needs a
// browser is tested in Chromium (tests/e2e/).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../../web/sdk/backoff.js';
import { MAX_REPLAY_EVENTS, ReplaySlot } from '../../web/sdk/handlers.js';
import { qualityScore } from '../../web/sdk/stats.js';

test('qualityScore: the documented points of the E-model curve', () => {
  assert.equal(qualityScore(0.2, 0, 0), 4.4);
  assert.equal(qualityScore(150, 0, 0.01), 4.3);
  assert.equal(qualityScore(50, 5, 0.05), 3.9);
  assert.equal(qualityScore(300, 20, 0.1), 3.0);
  assert.equal(qualityScore(5000, 500, 1), 1);
});

test('qualityScore falls as RTT, jitter or loss grow, and stays in [1, 4.5]', () => {
  let prev = Infinity;
  for (const rtt of [0, 20, 100, 200, 320, 400, 800, 2000]) {
    const q = qualityScore(rtt, 0, 0);
    assert.ok(q <= prev, `rtt ${rtt}: ${q} after ${prev}`);
    prev = q;
  }
  prev = Infinity;
  for (const loss of [0, 0.005, 0.02, 0.05, 0.1, 0.3, 1]) {
    const q = qualityScore(30, 2, loss);
    assert.ok(q <= prev, `loss ${loss}: ${q} after ${prev}`);
    prev = q;
  }
  assert.ok(qualityScore(30, 80, 0) < qualityScore(30, 1, 0), "jitter that pushes the delay past 160 ms costs");
  for (const [r, j, l] of [[-5, -1, -0.5], [1e9, 1e9, 10], [0, 0, 0]]) {
    const q = qualityScore(r, j, l);
    assert.ok(q >= 1 && q <= 4.5, `${[r, j, l]}: ${q}`);
  }
});

test('a "latest" slot replays only the last event to a late handler, once', async () => {
  const slot = new ReplaySlot('latest', (e) => { throw e; });
  slot.emit('a');
  slot.emit('b');
  const got = [];
  slot.handler = (v) => got.push(v);
  assert.deepEqual(got, [], 'delivered in a microtask, not inside the setter');
  await Promise.resolve();
  assert.deepEqual(got, ['b']);
  slot.emit('c');
  assert.deepEqual(got, ['b', 'c']);
  slot.handler = (v) => got.push(`again ${v}`);
  await Promise.resolve();
  assert.deepEqual(got, ['b', 'c'], 'a delivered event is not replayed to the next handler');
});

test('a "queue" slot replays every event in order, bounded, and reports handler errors', async () => {
  const errors = [];
  const slot = new ReplaySlot('queue', (e) => errors.push(e.message));
  for (let i = 0; i < MAX_REPLAY_EVENTS + 3; i++) slot.emit(i);
  assert.equal(slot.dropped, 3);
  const got = [];
  slot.handler = (v) => {
    if (v === 5) throw new Error('handler broke on 5');
    got.push(v);
  };
  await Promise.resolve();
  assert.equal(got.length, MAX_REPLAY_EVENTS - 1);
  assert.deepEqual(got.slice(0, 6), [0, 1, 2, 3, 4, 6]);
  assert.deepEqual(errors, ['handler broke on 5']);
  assert.throws(() => { slot.handler = 'not a function'; }, TypeError);
});

test('backoff doubles from initialMs to maxMs with equal jitter', () => {
  assert.equal(backoffDelay(0, {}, () => 0), 125);
  assert.equal(backoffDelay(0, {}, () => 0.999999), 250);
  assert.equal(backoffDelay(3, {}, () => 0), 1000);
  assert.equal(backoffDelay(50, {}, () => 0), 4000);
  assert.equal(backoffDelay(50, { initialMs: 100, maxMs: 400 }, () => 0.999999), 400);
});
