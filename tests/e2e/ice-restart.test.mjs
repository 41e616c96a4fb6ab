// ICE restart when the path breaks: a call's UDP path is cut (iptables, in a
// network namespace of the test's own) while signaling stays up; the SDK
// restarts ICE and the call comes back on new ICE credentials.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { netnsAvailable, runInNetns } from './netns.mjs';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ice-restart.child.mjs');

test('a broken path is restarted: new ICE credentials, media and data flow again', { skip: !netnsAvailable() && 'needs root, ip and iptables' }, async () => {
  const { result: r, stderr } = await runInNetns(CHILD, { timeoutMs: 150000 });
  assert.equal(r.error, undefined, `${r.error}\nsteps: ${r.steps}\n${stderr.slice(-2000)}`);
  assert.deepEqual(r.steps, ['udp dropped', 'caller saw the path break', 'udp allowed again', 'both connected again']);
  assert.notEqual(r.ufragAfter[0], r.ufragBefore[0], 'the caller restarted ICE (new ufrag)');
  assert.notEqual(r.ufragAfter[1], r.ufragBefore[1], 'the callee restarted ICE (new ufrag)');
  assert.ok(r.framesAfter[1] > r.framesAfter[0] + 10, `video flows again: ${r.framesAfter} after ${r.videoResumedMs} ms`);
  assert.equal(r.messageAfter, true);
  assert.deepEqual(r.closed, [], 'the call never ended');
  assert.deepEqual(r.errors, []);
});
