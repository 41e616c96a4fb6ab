// Session start and signal relay (docs/protocol.md: "Session start",
// "Signals: relaying between peers", "Liveness").

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  Client, DOMAIN, LIMITS, RawClient, WAIT_MS, closeAll, connect, mintToken, rawMember, sleep,
  startDaemon, uniqueUser,
} from './lib.mjs';

let d;
before(async () => { d = await startDaemon(); });
afterEach(() => { d.assertAlive(); });
after(async () => { await d?.stop(); });

/** Sends a signal whose data is the exact text `dataRaw`. */
function sendSignalRaw(c, to, dataRaw, id) {
  const idPart = id === undefined ? '' : `,"id":${JSON.stringify(id)}`;
  c.send(`{"type":"signal","to":${JSON.stringify(to)}${idPart},"data":${dataRaw}}`);
}

describe('hello and welcome', () => {
  test('welcome carries every field, and limits equal the config', async () => {
    const user = uniqueUser('alice');
    const exp = Math.floor(Date.now() / 1000) + 1800;
    const c = await connect(d, user, { device: 'laptop', token: mintToken(user, { claims: { exp } }) });
    const w = c.welcome;
    assert.equal(w.type, 'welcome');
    assert.equal(w.v, 1);
    assert.match(w.session, /^[A-Za-z0-9_-]{22}$/, '128-bit base64url id (22 characters, unpadded)');
    assert.equal(w.peer, `${user}@${DOMAIN}`);
    assert.equal(w.device, 'laptop');
    assert.equal(w.expires, exp);
    assert.ok(Array.isArray(w.iceServers), 'iceServers is an array');
    assert.ok(w.iceServers.some((s) => JSON.stringify(s.urls).includes('stun:stun.example.org:3478')),
      `configured STUN server announced: ${JSON.stringify(w.iceServers)}`);
    assert.deepEqual(w.limits, {
      maxMessageBytes: LIMITS.max_message_bytes,
      maxQueuedBytes: LIMITS.max_queued_bytes,
      messagesPerSecond: LIMITS.messages_per_second,
      messageBurst: LIMITS.message_burst,
      sessionsPerUser: LIMITS.sessions_per_user,
      roomsPerSession: LIMITS.rooms_per_session,
      roomSize: LIMITS.room_size,
    });
    await c.close();
  });

  test('peer is alice@localhost for the user alice', async () => {
    // Names are kept as sent; use a unique-per-run "alice" only in this file.
    const c = await connect(d, 'alice', { device: 'desk' });
    assert.equal(c.welcome.peer, 'alice@localhost');
    await c.close();
  });

  test('sub "name@domain" is accepted and names the same user', async () => {
    const user = uniqueUser('full');
    const c = await connect(d, user, { token: mintToken(`${user}@${DOMAIN}`) });
    assert.equal(c.welcome.peer, `${user}@${DOMAIN}`);
    await c.close();
  });

  test('without device the server picks the first 8 characters of the session id', async () => {
    const user = uniqueUser('nodev');
    const c = await connect(d, user);
    assert.equal(c.welcome.device, c.welcome.session.slice(0, 8));
    await c.close();
  });

  test('session ids are distinct', async () => {
    const user = uniqueUser('ids');
    const a = await connect(d, user, { device: 'a' });
    const b = await connect(d, user, { device: 'b' });
    assert.notEqual(a.welcome.session, b.welcome.session);
    await closeAll(a, b);
  });

  test('the subprotocol webrtc2.v1 is selected when offered', async () => {
    const c = await Client.open(d.url, { protocols: ['webrtc2.v1'] });
    assert.equal(c.ws.protocol, 'webrtc2.v1');
    await c.close();
    const plain = await Client.open(d.url);
    assert.equal(plain.ws.protocol, '');
    await plain.close();
  });
});

describe('ping', () => {
  test('ping answers pong; id is echoed as ref', async () => {
    const c = await connect(d, uniqueUser('ping'));
    c.send({ type: 'ping' });
    const p = await c.next('pong');
    assert.equal(p.ref, undefined);
    c.send({ type: 'ping', id: 'x-1' });
    assert.equal((await c.next('pong')).ref, 'x-1');
    await c.close();
  });
});

describe('signal relay', () => {
  let alice;
  let bob;
  let aliceUser;
  let bobUser;
  before(async () => {
    aliceUser = uniqueUser('alice');
    bobUser = uniqueUser('bob');
    alice = await connect(d, aliceUser, { device: 'laptop' });
    bob = await connect(d, bobUser, { device: 'phone' });
  });
  after(async () => { await closeAll(alice, bob); });

  /** Sends `raw` as data to bob and returns what bob got (the error alice got instead fails). */
  async function relayExact(raw) {
    const id = `s${Math.random().toString(36).slice(2, 8)}`;
    sendSignalRaw(alice, `${bobUser}@${DOMAIN}`, raw, id);
    try {
      return await bob.next('signal');
    } catch (e) {
      const err = alice.take((x) => x.type === 'error');
      if (err) {
        assert.equal(err.msg.ref, id, `an error about a request with an id carries ref: ${err.raw}`);
        assert.fail(`the server refused the signal: ${err.raw}`);
      }
      throw e;
    }
  }

  const payloads = {
    'object (SDP-like)': '{"sdp":"v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\n","type":"offer"}',
    'odd whitespace inside data': '{ "a" : [1, 2.50e3 , "\\u00e9"] }',
    'whitespace, tabs and newlines': '{\n\t"k"\t:\r\n [ ]\n}',
    'empty object': '{}',
    'empty array': '[]',
    'nested array': '[1,[2,[3,[{"x":null}]]],-0,1E+2]',
    string: '"just a string"',
    'string with escapes': '"q\\" bs\\\\ sl\\/ nl\\n tab\\t u\\u0000 \\ud83d\\ude00"',
    'raw unicode': '"héllo wörld 中文 🎉 \u2028"',
    'unicode keys': '{"ключ":"значение","🔑":["ü"]}',
    number: '-12.5e-3',
    integer: '42',
    'big integer': '123456789012345678901234567890',
    true: 'true',
    false: 'false',
    null: 'null',
    'deep nesting (64)': '['.repeat(64) + ']'.repeat(64),
    'many tokens': '[' + Array(5000).fill('0').join(',') + ']',
    'duplicate keys are not merged': '{"a":1,"a":2}',
  };

  for (const [name, raw] of Object.entries(payloads)) {
    test(`data byte-for-byte: ${name}`, async () => {
      const m = await relayExact(raw);
      assert.equal(rawMember(m.raw, 'data'), raw, `received frame: ${m.raw.slice(0, 200)}`);
      assert.equal(m.from, `${aliceUser}@${DOMAIN}`);
      assert.equal(m.fromDevice, 'laptop');
      assert.equal(m.type, 'signal');
      assert.equal(m.to, undefined, 'the receiver is not told the "to" field');
      assert.equal(m.id, undefined, 'the sender\'s id is not forwarded');
    });
  }

  test('data nested deeper than 64 levels: bad-message with ref, nothing relayed', async () => {
    // protocol.md: data is "nested at most 64 levels deep".
    const id = 'deep65';
    sendSignalRaw(alice, `${bobUser}@${DOMAIN}`, '['.repeat(65) + ']'.repeat(65), id);
    const err = await alice.nextError('bad-message');
    assert.equal(err.ref, id, 'the error carries the request id as ref');
    await bob.expectNone('signal');
  });

  test('data byte-for-byte: 60 KiB payload', async () => {
    // Exactly 60 KiB of data bytes, with multi-byte characters and escapes inside.
    const chunk = 'a=candidate:1 1 udp 2130706431 10.0.0.1 9 typ host é🎉\\r\\n ';
    let body = '';
    while (Buffer.byteLength(body) + Buffer.byteLength(chunk) < 60 * 1024 - 10) body += chunk;
    body += 'x'.repeat(60 * 1024 - 10 - Buffer.byteLength(body));
    const big = `{"sdp":"${body}"}`;
    assert.equal(Buffer.byteLength(big), 60 * 1024);
    const m = await relayExact(big);
    assert.equal(rawMember(m.raw, 'data'), big);
  });

  test('a signal of exactly maxMessageBytes is relayed', async () => {
    const to = `${bobUser}@${DOMAIN}`;
    const shell = `{"type":"signal","to":${JSON.stringify(to)},"data":""}`;
    const pad = LIMITS.max_message_bytes - Buffer.byteLength(shell);
    const raw = `"${'z'.repeat(pad)}"`;
    const text = `{"type":"signal","to":${JSON.stringify(to)},"data":${raw}}`;
    assert.equal(Buffer.byteLength(text), LIMITS.max_message_bytes);
    alice.send(text);
    const m = await bob.next('signal');
    assert.equal(rawMember(m.raw, 'data'), raw);
    await alice.expectNone('error');
  });

  test('unknown fields are ignored', async () => {
    sendSignalRaw(alice, `${bobUser}@${DOMAIN}`, '1', undefined);
    alice.send(`{"type":"signal","future":{"x":[1,2]},"to":"${bobUser}@${DOMAIN}","data":[7]}`);
    assert.equal(rawMember((await bob.next('signal')).raw, 'data'), '1');
    assert.equal(rawMember((await bob.next('signal')).raw, 'data'), '[7]');
    await alice.expectNone('error');
  });

  test('the answer goes back to alice@localhost/laptop', async () => {
    sendSignalRaw(bob, `${aliceUser}@${DOMAIN}/laptop`, '{"type":"answer"}', 'a1');
    const m = await alice.next('signal');
    assert.equal(m.from, `${bobUser}@${DOMAIN}`);
    assert.equal(m.fromDevice, 'phone');
    assert.deepEqual(m.data, { type: 'answer' });
  });
});

describe('fan-out', () => {
  test('a signal to user@domain reaches every session of that user, not the sender', async () => {
    const a = uniqueUser('alice');
    const b = uniqueUser('bob');
    const alice = await connect(d, a, { device: 'laptop' });
    const phone = await connect(d, b, { device: 'phone' });
    const laptop = await connect(d, b, { device: 'laptop' });
    const desk = await connect(d, b, { device: 'desk' });
    sendSignalRaw(alice, `${b}@${DOMAIN}`, '{"n":1}', 'f1');
    for (const c of [phone, laptop, desk]) {
      const m = await c.next('signal');
      assert.equal(rawMember(m.raw, 'data'), '{"n":1}');
      assert.equal(m.from, `${a}@${DOMAIN}`);
      assert.equal(m.fromDevice, 'laptop');
    }
    await alice.expectNone();
    await closeAll(alice, phone, laptop, desk);
  });

  test('a signal to user@domain/device reaches that device only', async () => {
    const a = uniqueUser('alice');
    const b = uniqueUser('bob');
    const alice = await connect(d, a, { device: 'laptop' });
    const phone = await connect(d, b, { device: 'phone' });
    const laptop = await connect(d, b, { device: 'laptop' });
    sendSignalRaw(alice, `${b}@${DOMAIN}/phone`, '"only phone"', 'f2');
    const m = await phone.next('signal');
    assert.equal(m.data, 'only phone');
    await laptop.expectNone('signal');
    await alice.expectNone('error');
    await closeAll(alice, phone, laptop);
  });

  test('a signal to one\'s own user reaches the other devices, not the sender', async () => {
    const a = uniqueUser('self');
    const laptop = await connect(d, a, { device: 'laptop' });
    const phone = await connect(d, a, { device: 'phone' });
    const tablet = await connect(d, a, { device: 'tablet' });
    sendSignalRaw(laptop, `${a}@${DOMAIN}`, '{"sync":true}', 'self1');
    for (const c of [phone, tablet]) {
      const m = await c.next('signal');
      assert.equal(m.fromDevice, 'laptop');
      assert.equal(m.from, `${a}@${DOMAIN}`);
    }
    await laptop.expectNone();
    await closeAll(laptop, phone, tablet);
  });

  test('a signal to one\'s own user with no other session is peer-unavailable', async () => {
    const a = uniqueUser('lonely');
    const c = await connect(d, a, { device: 'only' });
    sendSignalRaw(c, `${a}@${DOMAIN}`, '1', 'me');
    const e = await c.nextError('peer-unavailable');
    assert.equal(e.ref, 'me');
    await c.expectNone('signal');
    await c.close();
  });

  test('a signal to one\'s own device is peer-unavailable, not an echo', async () => {
    const a = uniqueUser('echo');
    const c = await connect(d, a, { device: 'here' });
    sendSignalRaw(c, `${a}@${DOMAIN}/here`, '1', 'me2');
    // The fan-out rule excludes the sending session; with nobody else
    // receiving it the sender is told so.
    const e = await c.nextError('peer-unavailable');
    assert.equal(e.ref, 'me2');
    await c.expectNone('signal');
    await c.close();
  });
});

describe('peer-unavailable', () => {
  let alice;
  let bobUser;
  let bob;
  before(async () => {
    alice = await connect(d, uniqueUser('alice'), { device: 'laptop' });
    bobUser = uniqueUser('bob');
    bob = await connect(d, bobUser, { device: 'phone' });
  });
  after(async () => { await closeAll(alice, bob); });

  async function expectUnavailable(to, id) {
    const secret = `payload-${id}-must-not-be-echoed`;
    sendSignalRaw(alice, to, JSON.stringify(secret), id);
    const e = await alice.nextError('peer-unavailable');
    assert.equal(e.ref, id);
    assert.equal(typeof e.message, 'string');
    assert.ok(e.message.length > 0);
    assert.ok(!e.message.includes(secret), 'message never contains the payload');
    return e;
  }

  test('unknown user', async () => {
    await expectUnavailable(`nobody-${uniqueUser()}@${DOMAIN}`, 'u1');
  });

  test('unknown device of an online user', async () => {
    await expectUnavailable(`${bobUser}@${DOMAIN}/tablet`, 'u2');
    await bob.expectNone('signal');
  });

  test('other domain (no federation)', async () => {
    await expectUnavailable(`${bobUser}@example.org`, 'u3');
    await bob.expectNone('signal');
  });

  test('offline user (was online, disconnected)', async () => {
    const gone = uniqueUser('gone');
    const g = await connect(d, gone);
    await g.close();
    // The close handshake is complete, so the server has ended the session.
    const e = await expectUnavailable(`${gone}@${DOMAIN}`, 'u4');
    assert.ok(e, 'peer-unavailable for a user who went offline');
  });

  test('without id the error has no ref', async () => {
    sendSignalRaw(alice, `nobody@${DOMAIN}`, '1');
    const e = await alice.nextError('peer-unavailable');
    assert.equal('ref' in e, false);
  });

  test('the sender\'s session keeps working', async () => {
    await alice.roundTrip();
  });
});

describe('device replacement and session limit', () => {
  test('a new session of the same device closes the old one with 4006', async () => {
    const u = uniqueUser('phone');
    const peerUser = uniqueUser('peer');
    const peer = await connect(d, peerUser);
    const old = await connect(d, u, { device: 'phone' });
    const fresh = await connect(d, u, { device: 'phone' });
    const closed = await old.waitClose();
    assert.equal(closed.code, 4006);
    assert.equal(fresh.welcome.device, 'phone');
    assert.notEqual(fresh.welcome.session, old.welcome.session);
    // The device name now routes to the new session.
    sendSignalRaw(peer, `${u}@${DOMAIN}/phone`, '"to new"', 'r1');
    assert.equal((await fresh.next('signal')).data, 'to new');
    await peer.expectNone('error');
    await closeAll(peer, fresh);
  });

  test('more than sessionsPerUser sessions: too-many-sessions and close 4004', async () => {
    const u = uniqueUser('many');
    const sessions = [];
    for (let i = 0; i < LIMITS.sessions_per_user; i++) sessions.push(await connect(d, u, { device: `d${i}` }));
    const extra = await Client.open(d.url);
    extra.send({ type: 'hello', v: 1, token: mintToken(u), device: 'dx' });
    const e = await extra.nextError('too-many-sessions');
    assert.equal(typeof e.message, 'string');
    assert.equal((await extra.waitClose()).code, 4004);
    // The existing sessions are untouched.
    for (const s of sessions) await s.roundTrip();
    // Replacing a device is allowed at the limit.
    const again = await connect(d, u, { device: 'd0' });
    assert.equal((await sessions[0].waitClose()).code, 4006);
    // After one leaves, a new device fits again.
    await sessions[1].close();
    const ok = await connect(d, u, { device: 'dnew' });
    await closeAll(again, sessions[2], ok);
  });

  test('the daemon is still alive', () => { d.assertAlive(); });
});

describe('liveness', () => {
  // A daemon of its own with fast WebSocket pings: every 500 ms, and a peer
  // silent for 1500 ms is dropped (the protocol's 30 s / 75 s, scaled down).
  let fast;
  before(async () => {
    fast = await startDaemon({ limits: { ...LIMITS, ping_interval_ms: 500, ping_timeout_ms: 1500 } });
  });
  after(async () => { await fast?.stop(); });

  test('the server pings; a client that answers stays connected while idle', async () => {
    const c = await connect(fast, uniqueUser('idle'));
    let pings = 0;
    c.ws.on('ping', () => { pings += 1; });
    await sleep(2600);
    assert.ok(c.isOpen, `ws answers pings with pongs, so it is alive (closed: ${JSON.stringify(c.closeInfo)})`);
    assert.ok(pings >= 2, `server pings seen: ${pings}`);
    await c.roundTrip();
    await c.close();
  });

  test('a client that sends nothing, not even a pong, is dropped (no 1001)', async () => {
    const raw = await RawClient.open(fast.port);
    await raw.hello(uniqueUser('mute'));
    const t0 = Date.now();
    await raw.waitEnd(WAIT_MS);
    const took = Date.now() - t0;
    assert.ok(took >= 1400, `dropped after ${took} ms, before the 1500 ms timeout`);
    assert.notEqual(raw.closeCode, 1001, '1001 is not used for a dead peer');
    fast.assertAlive();
  });

  test('with sub-second ping settings a client that answers pings is not dropped', async () => {
    // ping_interval_ms 300 / ping_timeout_ms 900 is a valid config; a client
    // that answers every ping must survive it.
    const quick = await startDaemon({ limits: { ...LIMITS, ping_interval_ms: 300, ping_timeout_ms: 900 } });
    try {
      const c = await connect(quick, uniqueUser('quick'));
      let pings = 0;
      c.ws.on('ping', () => { pings += 1; });
      await sleep(2000);
      assert.ok(c.isOpen, `an answering client was dropped (close ${JSON.stringify(c.closeInfo)}, ${pings} pings seen)`);
      await c.close();
    } finally {
      await quick.stop();
    }
  });
});
