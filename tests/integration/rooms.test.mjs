// Rooms (docs/protocol.md: "Rooms").

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { DOMAIN, LIMITS, closeAll, connect, startDaemon, uniqueUser } from './lib.mjs';

let d;
before(async () => { d = await startDaemon(); });
afterEach(() => { d.assertAlive(); });
after(async () => { await d?.stop(); });

let roomCounter = 0;
function roomName(prefix = 'room') {
  roomCounter += 1;
  return `${prefix}-${roomCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A connected session with a readable label. */
async function member(prefix, device) {
  const user = uniqueUser(prefix);
  const c = await connect(d, user, { device });
  c.peer = `${user}@${DOMAIN}`;
  c.device = device;
  return c;
}

/** Sends join and returns the joined answer (failing on an error). */
async function join(c, room, id) {
  c.send(id ? { type: 'join', room, id } : { type: 'join', room });
  const m = await c.next((e) => (e.type === 'joined' && e.msg.room === room) || e.type === 'error');
  assert.equal(m.type, 'joined', `join refused: ${m.raw}`);
  return m;
}

/** Sends a join whose room is the raw JSON text `roomJson`. */
function joinRaw(c, roomJson, id) {
  c.send(`{"type":"join","room":${roomJson}${id ? `,"id":"${id}"` : ''}}`);
}

const sortMembers = (ms) => [...ms].sort((a, b) => `${a.peer}/${a.device}`.localeCompare(`${b.peer}/${b.device}`));

describe('join and leave', () => {
  test('first joiner gets an empty member list; the next one sees the first', async () => {
    const room = roomName();
    const alice = await member('alice', 'laptop');
    const bob = await member('bob', 'phone');
    const j1 = await join(alice, room, 'j1');
    assert.equal(j1.room, room);
    assert.deepEqual(j1.members, []);
    const j2 = await join(bob, room, 'j2');
    assert.deepEqual(j2.members, [{ peer: alice.peer, device: 'laptop' }]);
    const ev = await alice.next('member');
    assert.deepEqual({ ...ev }, { type: 'member', room, peer: bob.peer, device: 'phone', event: 'joined' });
    await bob.expectNone('member');
    await closeAll(alice, bob);
  });

  test('members lists the other sessions, including the same user\'s other devices', async () => {
    const room = roomName();
    const user = uniqueUser('multi');
    const laptop = await connect(d, user, { device: 'laptop' });
    const phone = await connect(d, user, { device: 'phone' });
    const carol = await member('carol', 'desk');
    await join(laptop, room);
    await join(carol, room);
    const j = await join(phone, room);
    assert.deepEqual(sortMembers(j.members), sortMembers([
      { peer: `${user}@${DOMAIN}`, device: 'laptop' },
      { peer: carol.peer, device: 'desk' },
    ]));
    const ev = await laptop.next((e) => e.type === 'member' && e.msg.device === 'phone');
    assert.equal(ev.peer, `${user}@${DOMAIN}`);
    assert.equal(ev.event, 'joined');
    await closeAll(laptop, phone, carol);
  });

  test('leave answers left; the others get member left', async () => {
    const room = roomName();
    const alice = await member('alice', 'laptop');
    const bob = await member('bob', 'phone');
    const carol = await member('carol', 'tab');
    await join(alice, room);
    await join(bob, room);
    await join(carol, room);
    await alice.next((e) => e.type === 'member' && e.msg.device === 'tab');
    bob.send({ type: 'leave', room });
    const left = await bob.next('left');
    assert.deepEqual({ ...left }, { type: 'left', room });
    for (const c of [alice, carol]) {
      const ev = await c.next((e) => e.type === 'member' && e.msg.event === 'left');
      assert.deepEqual({ ...ev }, { type: 'member', room, peer: bob.peer, device: 'phone', event: 'left' });
    }
    await bob.expectNone((e) => e.type === 'member' && e.msg.event === 'left');
    // Bob is out: leaving again is not-in-room.
    bob.send({ type: 'leave', room, id: 'again' });
    const e = await bob.nextError('not-in-room');
    assert.equal(e.ref, 'again');
    await closeAll(alice, bob, carol);
  });

  test('re-joining answers joined again and notifies no one', async () => {
    const room = roomName();
    const alice = await member('alice', 'laptop');
    const bob = await member('bob', 'phone');
    await join(alice, room);
    await join(bob, room);
    await alice.next('member');
    const again = await join(bob, room, 'j-again');
    assert.deepEqual(again.members, [{ peer: alice.peer, device: 'laptop' }]);
    await alice.expectNone('member');
    await bob.expectNone('error');
    // Still exactly one membership: one leave empties it.
    bob.send({ type: 'leave', room });
    await bob.next('left');
    await alice.next((e) => e.type === 'member' && e.msg.event === 'left');
    bob.send({ type: 'leave', room });
    await bob.nextError('not-in-room');
    await closeAll(alice, bob);
  });

  test('leaving a room one is not in: not-in-room (with ref), session continues', async () => {
    const alice = await member('alice', 'laptop');
    alice.send({ type: 'leave', room: roomName('never'), id: 'l1' });
    const e = await alice.nextError('not-in-room');
    assert.equal(e.ref, 'l1');
    assert.equal(typeof e.message, 'string');
    alice.send({ type: 'leave', room: roomName('never') });
    assert.equal('ref' in (await alice.nextError('not-in-room')), false);
    await alice.roundTrip();
    await alice.close();
  });

  test('a room ends with its last member: a later joiner is first again', async () => {
    const room = roomName();
    const alice = await member('alice', 'laptop');
    const bob = await member('bob', 'phone');
    await join(alice, room);
    alice.send({ type: 'leave', room });
    await alice.next('left');
    const j = await join(bob, room);
    assert.deepEqual(j.members, []);
    await closeAll(alice, bob);
  });

  test('a room joined by a session whose connection ends: the others get member left', async () => {
    const room = roomName();
    const alice = await member('alice', 'laptop');
    const bob = await member('bob', 'phone');
    await join(alice, room);
    await join(bob, room);
    await alice.next('member');
    bob.ws.terminate(); // no close handshake: the TCP connection just drops
    const ev = await alice.next((e) => e.type === 'member' && e.msg.event === 'left');
    assert.deepEqual({ ...ev }, { type: 'member', room, peer: bob.peer, device: 'phone', event: 'left' });
    // A clean close too.
    const carol = await member('carol', 'tab');
    await join(carol, room);
    await alice.next((e) => e.type === 'member' && e.msg.event === 'joined');
    await carol.close();
    const ev2 = await alice.next((e) => e.type === 'member' && e.msg.event === 'left');
    assert.equal(ev2.peer, carol.peer);
    await alice.close();
  });

  test('a replaced session (4006) leaves its rooms', async () => {
    const room = roomName();
    const alice = await member('alice', 'laptop');
    const user = uniqueUser('bob');
    const old = await connect(d, user, { device: 'phone' });
    await join(alice, room);
    await join(old, room);
    await alice.next('member');
    const fresh = await connect(d, user, { device: 'phone' });
    assert.equal((await old.waitClose()).code, 4006);
    const ev = await alice.next((e) => e.type === 'member' && e.msg.event === 'left');
    assert.equal(ev.peer, `${user}@${DOMAIN}`);
    assert.equal(ev.device, 'phone');
    // The new session is not in the room.
    fresh.send({ type: 'leave', room });
    await fresh.nextError('not-in-room');
    await closeAll(alice, fresh);
  });
});

describe('room limits', () => {
  test('room-full once the room has roomSize members', async () => {
    const room = roomName('full');
    const ms = [];
    for (let i = 0; i < LIMITS.room_size; i++) {
      const c = await member(`m${i}`, `dev${i}`);
      await join(c, room);
      ms.push(c);
    }
    const late = await member('late', 'x');
    late.send({ type: 'join', room, id: 'full1' });
    const e = await late.nextError('room-full');
    assert.equal(e.ref, 'full1');
    for (const c of ms) await c.expectNone((x) => x.type === 'member' && x.msg.peer === late.peer, 50);
    // A place frees when one leaves.
    ms[0].send({ type: 'leave', room });
    await ms[0].next('left');
    const j = await join(late, room);
    assert.equal(j.members.length, LIMITS.room_size - 1);
    await closeAll(ms, late);
  });

  test('too-many-rooms once the session is in roomsPerSession rooms', async () => {
    const c = await member('rooms', 'd');
    const rooms = [];
    for (let i = 0; i < LIMITS.rooms_per_session; i++) {
      rooms.push(roomName('lim'));
      await join(c, rooms[i]);
    }
    c.send({ type: 'join', room: roomName('lim'), id: 'tm' });
    const e = await c.nextError('too-many-rooms');
    assert.equal(e.ref, 'tm');
    // Re-joining one of its rooms is not a new room.
    await join(c, rooms[0]);
    // Leaving one makes room for another.
    c.send({ type: 'leave', room: rooms[1] });
    await c.next('left');
    await join(c, roomName('lim'));
    await c.close();
  });

  test('the limit is per session: another session of the same user has its own', async () => {
    const user = uniqueUser('per');
    const a = await connect(d, user, { device: 'a' });
    const b = await connect(d, user, { device: 'b' });
    for (let i = 0; i < LIMITS.rooms_per_session; i++) await join(a, roomName('ps'));
    await join(b, roomName('ps'));
    await closeAll(a, b);
  });
});

describe('room names', () => {
  test('escaped unicode in the name means the same room as raw UTF-8', async () => {
    const alice = await member('alice', 'laptop');
    const bob = await member('bob', 'phone');
    const name = `été 😀 ${roomName('uni')}`;
    // Every non-ASCII UTF-16 unit as \uXXXX (the emoji becomes a surrogate pair).
    const escaped = JSON.stringify(name).replace(/[\u0080-\uffff]/g,
      (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
    assert.ok(escaped.includes('\\u00e9') && escaped.includes('\\ud83d\\ude00'), escaped);
    joinRaw(alice, escaped);
    const j = await alice.next('joined');
    assert.equal(j.room, name, 'room comes back unescaped');
    const jb = await join(bob, name);
    assert.deepEqual(jb.members, [{ peer: alice.peer, device: 'laptop' }]);
    const ev = await alice.next('member');
    assert.equal(ev.room, name);
    await closeAll(alice, bob);
  });

  test('quotes, backslashes, slashes and spaces round-trip', async () => {
    const alice = await member('alice', 'laptop');
    for (const name of ['a"b\\c', 'a/b', ' lead and trail ', '{"json":"lookalike"}', '#general', '\u00a0nbsp']) {
      const j = await join(alice, name);
      assert.equal(j.room, name);
      alice.send({ type: 'leave', room: name });
      assert.equal((await alice.next('left')).room, name);
    }
    // "a\/b" is the JSON spelling of "a/b": the same room.
    const bob = await member('bob', 'phone');
    await join(alice, 'a/b');
    joinRaw(bob, '"a\\/b"');
    const jb = await bob.next('joined');
    assert.equal(jb.room, 'a/b');
    assert.deepEqual(jb.members, [{ peer: alice.peer, device: 'laptop' }]);
    await closeAll(alice, bob);
  });

  test('128 bytes is allowed, also in multi-byte characters', async () => {
    const alice = await member('alice', 'laptop');
    await join(alice, 'r'.repeat(128));
    await join(alice, 'é'.repeat(64)); // 128 bytes
    alice.send({ type: 'leave', room: 'r'.repeat(128) });
    await alice.next('left');
    await join(alice, '😀'.repeat(32)); // 128 bytes
    await alice.close();
  });

  const bad = {
    'empty': '""',
    '129 bytes': JSON.stringify('r'.repeat(129)),
    '130 bytes of é (65 characters)': JSON.stringify('é'.repeat(65)),
    '129 bytes after unescaping': `"${'\\u0041'.repeat(129)}"`,
    'control character \\u0001': '"a\\u0001b"',
    'newline': '"a\\nb"',
    'tab': '"a\\tb"',
    'NUL': '"a\\u0000b"',
    'unit separator \\u001f': '"\\u001f"',
    'a number': '5',
    'null': 'null',
    'an object': '{"name":"x"}',
    'an array': '["x"]',
  };
  for (const [what, json] of Object.entries(bad)) {
    test(`bad room name: ${what} -> bad-message`, async () => {
      const alice = await member('bad', 'x');
      joinRaw(alice, json, 'bad1');
      const e = await alice.nextError('bad-message');
      assert.equal(e.ref, 'bad1');
      await alice.expectNone('joined', 50);
      await alice.roundTrip();
      await alice.close();
    });
  }

  test('join without room -> bad-message', async () => {
    const alice = await member('bad', 'x');
    alice.send({ type: 'join', id: 'nr' });
    assert.equal((await alice.nextError('bad-message')).ref, 'nr');
    alice.send({ type: 'leave' });
    await alice.nextError('bad-message');
    await alice.close();
  });

  test('the daemon is still alive', () => { d.assertAlive(); });
});
