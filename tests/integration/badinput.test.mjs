// Hostile and broken input (docs/protocol.md: "Transport", "Errors",
// "Limits", "Close codes"). A well-behaved pair of sessions runs beside every
// test and must still work at the end; the daemon must still be alive after
// every test.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  Client, DOMAIN, LIMITS, OP, RawClient, closeAll, connect, encodeFrame, mintToken, rawMember, sleep,
  startDaemon, uniqueUser,
} from './lib.mjs';

let d;
let alice;
let bob;
let bobUser;
before(async () => {
  d = await startDaemon();
  alice = await connect(d, uniqueUser('alice'), { device: 'laptop' });
  bobUser = uniqueUser('bob');
  bob = await connect(d, bobUser, { device: 'phone' });
});
afterEach(() => { d.assertAlive(); });
after(async () => {
  await closeAll(alice, bob);
  await d?.stop();
});

/** A fresh authenticated client. */
const fresh = (device = 'dev') => connect(d, uniqueUser('x'), { device });

/** Expects error `code` (with ref when `id` is given); returns it. */
async function expectError(c, code, id) {
  const e = await c.next('error');
  assert.equal(e.code, code, `expected ${code}, got ${e.raw}`);
  assert.equal(typeof e.message, 'string');
  if (id !== undefined) assert.equal(e.ref, id, `ref of ${e.raw}`);
  return e;
}

describe('malformed JSON: bad-json, the connection stays up', () => {
  const cases = {
    'lone brace': '{',
    unterminated: '{"type":"ping"',
    'plain text': 'not json at all',
    'trailing garbage': '{"type":"ping"} x',
    'two values': '{"type":"ping"}{"type":"ping"}',
    'single quotes': "{'type':'ping'}",
    'trailing comma': '{"type":"ping",}',
    'unquoted key': '{type:"ping"}',
    NaN: '{"type":"ping","n":NaN}',
    'leading zero': '{"type":"ping","n":01}',
    'bad escape': '{"type":"ping","s":"\\x41"}',
    'raw control character inside a string': '{"type":"ping","s":"a\u0001b"}',
    empty: '',
    'only whitespace': '   ',
    'unterminated string': '{"type":"ping","s":"abc}',
    'unbalanced brackets': '{"type":"ping","a":[1,2}',
  };
  for (const [what, text] of Object.entries(cases)) {
    test(what, async () => {
      const c = await fresh();
      c.send(text);
      await expectError(c, 'bad-json');
      await c.roundTrip();
      await c.close();
    });
  }
});

test('10000 unclosed brackets: an error, the connection stays up', async () => {
  // Not well-formed JSON, so bad-json; the document names no nesting limit
  // (a server that stops at a depth limit may say bad-message instead).
  const c = await fresh();
  c.send('['.repeat(10000));
  const e = await c.next('error');
  assert.ok(['bad-json', 'bad-message'].includes(e.code), e.raw);
  await c.roundTrip();
  await c.close();
});

describe('well-formed JSON, wrong shape: bad-message', () => {
  const cases = {
    'an array': '[]',
    'a string': '"ping"',
    'a number': '1',
    null: 'null',
    true: 'true',
    'no type': '{}',
    'no type but an id': '{"id":"x"}',
    'type is a number': '{"type":1}',
    'type is null': '{"type":null}',
    'type is an object': '{"type":{"v":"ping"}}',
  };
  for (const [what, text] of Object.entries(cases)) {
    test(what, async () => {
      const c = await fresh();
      c.send(text);
      await expectError(c, 'bad-message');
      await c.roundTrip();
      await c.close();
    });
  }

  test('unknown type: unknown-type with ref', async () => {
    const c = await fresh();
    c.send({ type: 'frobnicate', id: 'u1' });
    await expectError(c, 'unknown-type', 'u1');
    c.send({ type: 'PING' });
    await expectError(c, 'unknown-type');
    await c.roundTrip();
    await c.close();
  });

  test('unknown fields are ignored', async () => {
    const c = await fresh();
    c.send({ type: 'ping', id: 'k', future: { nested: [1, { x: null }] }, n: 1.5 });
    assert.equal((await c.next('pong')).ref, 'k');
    await c.expectNone('error', 50);
    await c.close();
  });

  const to = () => `${bobUser}@${DOMAIN}`;
  const fields = {
    'signal without to': () => ({ type: 'signal', id: 'm', data: 1 }),
    'signal without data': () => ({ type: 'signal', id: 'm', to: to() }),
    'signal with to a number': () => ({ type: 'signal', id: 'm', to: 5, data: 1 }),
    'signal with to null': () => ({ type: 'signal', id: 'm', to: null, data: 1 }),
    'signal with to an array': () => ({ type: 'signal', id: 'm', to: [to()], data: 1 }),
    'refresh without token': () => ({ type: 'refresh', id: 'm' }),
    'refresh with token a number': () => ({ type: 'refresh', id: 'm', token: 5 }),
    'join with room a number': () => ({ type: 'join', id: 'm', room: 5 }),
    'leave with room an object': () => ({ type: 'leave', id: 'm', room: {} }),
  };
  for (const [what, make] of Object.entries(fields)) {
    test(`${what}: bad-message with ref`, async () => {
      const c = await fresh();
      c.send(make());
      await expectError(c, 'bad-message', 'm');
      await c.roundTrip();
      await c.close();
      await bob.expectNone('signal', 0);
    });
  }

  test('id that is not a string, or longer than 128 bytes: bad-message', async () => {
    const c = await fresh();
    c.send({ type: 'signal', to: to(), id: 5, data: 1 });
    await expectError(c, 'bad-message');
    c.send({ type: 'signal', to: to(), id: 'i'.repeat(129), data: 1 });
    await expectError(c, 'bad-message');
    await bob.expectNone('signal', 100);
    // 128 bytes is fine.
    c.send({ type: 'signal', to: to(), id: 'i'.repeat(128), data: 'ok128' });
    assert.equal((await bob.next('signal')).data, 'ok128');
    await c.close();
  });

  const badPeers = {
    'no domain': 'bob',
    'empty user': '@localhost',
    'user starts with a dot': '.bob@localhost',
    'space in user': 'b ob@localhost',
    'user of 65 bytes': `${'u'.repeat(65)}@localhost`,
    'empty device': 'bob@localhost/',
    'device with a slash': 'bob@localhost/a/b',
    'device of 33 bytes': `bob@localhost/${'d'.repeat(33)}`,
    'device with a space': 'bob@localhost/my phone',
    'two @': 'bob@local@host',
    'empty string': '',
    'non-ASCII user': 'bób@localhost',
  };
  for (const [what, peer] of Object.entries(badPeers)) {
    test(`malformed peer id (${what}): bad-message with ref`, async () => {
      const c = await fresh();
      c.send({ type: 'signal', to: peer, id: 'bp', data: 1 });
      await expectError(c, 'bad-message', 'bp');
      await c.close();
    });
  }

  test('a well-formed id of the longest lengths is accepted (peer-unavailable, not bad-message)', async () => {
    const c = await fresh();
    c.send({ type: 'signal', to: `${'u'.repeat(64)}@localhost/${'d'.repeat(32)}`, id: 'long', data: 1 });
    await expectError(c, 'peer-unavailable', 'long');
    c.send({ type: 'signal', to: `a.b_c-D9@localhost`, id: 'chars', data: 1 });
    await expectError(c, 'peer-unavailable', 'chars');
    await c.close();
  });

  test('hello with a malformed device name: bad-message, no welcome', async () => {
    const c = await Client.open(d.url);
    c.send({ type: 'hello', v: 1, token: mintToken(uniqueUser('dv')), device: 'my phone' });
    await expectError(c, 'bad-message');
    await c.expectNone('welcome', 100);
    c.ws.terminate();
  });
});

describe('frames', () => {
  test('a binary frame: bad-message, the connection stays up', async () => {
    const c = await fresh();
    c.send(Buffer.from('{"type":"ping"}'));
    await expectError(c, 'bad-message');
    await c.expectNone('pong', 50);
    await c.roundTrip();
    await c.close();
  });

  test('a message over maxMessageBytes: too-large, discarded, the connection stays up', async () => {
    const c = await fresh();
    const data = 'x'.repeat(LIMITS.max_message_bytes);
    c.send({ type: 'signal', to: `${bobUser}@${DOMAIN}`, id: 'big', data });
    const e = await c.nextError('too-large');
    assert.ok(!e.raw.includes('xxxxxxxx'), 'the payload is not echoed');
    await bob.expectNone('signal', 100);
    await c.roundTrip();
    // One byte over the limit.
    const shell = `{"type":"ping","pad":""}`;
    c.send(`{"type":"ping","pad":"${'p'.repeat(LIMITS.max_message_bytes + 1 - shell.length)}"}`);
    await c.nextError('too-large');
    await c.expectNone('pong', 50);
    await c.roundTrip();
    await c.close();
  });

  test('a fragmented message over the limit in total: too-large, the connection stays up', async () => {
    const c = await fresh();
    const half = 'y'.repeat(40000);
    c.ws.send(`{"type":"signal","to":"${bobUser}@${DOMAIN}","data":"${half}`, { fin: false });
    c.ws.send(`${half}"}`, { fin: true });
    await c.nextError('too-large');
    await bob.expectNone('signal', 100);
    await c.roundTrip();
    await c.close();
  });

  test('a fragmented message within the limit is reassembled', async () => {
    const c = await fresh();
    c.ws.send(`{"type":"signal","to":"${bobUser}@${DOMAIN}",`, { fin: false });
    c.ws.send('"data":{"frag', { fin: false });
    c.ws.send('ments":3}}', { fin: true });
    const m = await bob.next('signal');
    assert.equal(rawMember(m.raw, 'data'), '{"fragments":3}');
    await c.close();
  });

  test('a frame announcing 1 GiB is discarded as it streams, without memory growth', async () => {
    const raw = await RawClient.open(d.port);
    await raw.hello(uniqueUser('huge'));
    const rss0 = d.rssKiB();
    // Header of a masked text frame of 2^30 bytes, then 16 MiB of it.
    const head = Buffer.from([0x81, 0x80 | 127, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4]);
    raw.write(head);
    const chunk = Buffer.alloc(1 << 20, 0x61);
    for (let i = 0; i < 16; i++) {
      if (!raw.sock.write(chunk)) await new Promise((r) => raw.sock.once('drain', r));
      if (raw.ended) break;
    }
    const e = await raw.nextError('too-large').catch(() => null);
    const grown = d.rssKiB() - rss0;
    if (!d.sanitized()) assert.ok(grown < 8 * 1024, `RSS grew by ${grown} KiB`);
    assert.ok(e || raw.closeCode !== null || raw.ended, 'the client is told too-large (or closed)');
    if (!e) assert.fail(`no too-large error (close ${raw.closeCode}, ended ${raw.ended})`);
    raw.destroy();
  });
});

describe('raw WebSocket framing', () => {
  async function rawSession() {
    const raw = await RawClient.open(d.port);
    await raw.hello(uniqueUser('raw'));
    return raw;
  }
  async function expectClose(raw, code) {
    const r = await raw.waitClose();
    assert.equal(r.code, code, `close frame ${r.code} (TCP ended: ${r.ended})`);
    await raw.waitEnd();
  }

  test('a fragmented message with a ping between its fragments is reassembled', async () => {
    const raw = await rawSession();
    raw.frame(OP.TEXT, '{"type":"pi', { fin: false });
    raw.frame(OP.PING, 'hi');
    raw.frame(OP.CONT, 'ng","id":"fr', { fin: false });
    raw.frame(OP.CONT, 'ag"}', { fin: true });
    const p = await raw.next('pong');
    assert.equal(p.ref, 'frag');
    raw.destroy();
  });

  test('a UTF-8 character split across fragments arrives intact', async () => {
    const raw = await rawSession();
    const msg = Buffer.from(`{"type":"signal","to":"${bobUser}@${DOMAIN}","data":"é😀"}`);
    const cut = msg.indexOf(Buffer.from('😀')) + 2; // inside the 4-byte sequence
    const cut2 = msg.indexOf(Buffer.from('é')) + 1;
    raw.frame(OP.TEXT, msg.subarray(0, cut2), { fin: false });
    raw.frame(OP.CONT, msg.subarray(cut2, cut), { fin: false });
    raw.frame(OP.CONT, msg.subarray(cut), { fin: true });
    const m = await bob.next('signal');
    assert.equal(rawMember(m.raw, 'data'), '"é😀"');
    raw.destroy();
  });

  test('a message split into many small TCP writes is reassembled', async () => {
    const raw = await rawSession();
    const bytes = encodeFrame(OP.TEXT, '{"type":"ping","id":"slowly"}');
    for (const b of bytes) {
      raw.write(Buffer.from([b]));
      await sleep(1);
    }
    assert.equal((await raw.next('pong')).ref, 'slowly');
    raw.destroy();
  });

  const invalidUtf8 = {
    'a lone continuation byte': Buffer.from([0x80]),
    'an overlong encoding of /': Buffer.from([0xc0, 0xaf]),
    'a UTF-16 surrogate (ED A0 80)': Buffer.from([0xed, 0xa0, 0x80]),
    'a code point above U+10FFFF': Buffer.from([0xf4, 0x90, 0x80, 0x80]),
    'a truncated sequence at the end': Buffer.from([0xe2, 0x82]),
    'byte FF': Buffer.from([0xff]),
  };
  for (const [what, bad] of Object.entries(invalidUtf8)) {
    test(`invalid UTF-8 in a text frame (${what}): close 1007`, async () => {
      const raw = await rawSession();
      const tail = what.includes('end') ? Buffer.alloc(0) : Buffer.from('"}');
      const head = Buffer.from('{"type":"ping","s":"');
      raw.frame(OP.TEXT, Buffer.concat(what.includes('end') ? [Buffer.from('{"type":"ping"} '), bad] : [head, bad, tail]));
      await expectClose(raw, 1007);
    });
  }

  test('invalid UTF-8 split over fragments: close 1007', async () => {
    const raw = await rawSession();
    raw.frame(OP.TEXT, Buffer.from('{"type":"ping","s":"\xe2', 'latin1'), { fin: false });
    raw.frame(OP.CONT, Buffer.from('(\xa1"}', 'latin1'), { fin: true });
    await expectClose(raw, 1007);
  });

  const violations = {
    'an unmasked client frame': () => encodeFrame(OP.TEXT, '{"type":"ping"}', { mask: false }),
    'RSV1 set without an extension': () => encodeFrame(OP.TEXT, '{"type":"ping"}', { rsv: 4 }),
    'RSV3 set': () => encodeFrame(OP.TEXT, '{"type":"ping"}', { rsv: 1 }),
    'reserved opcode 3': () => encodeFrame(3, 'x'),
    'reserved control opcode 0xB': () => encodeFrame(0xb, 'x'),
    'a control frame of 126 bytes': () => encodeFrame(OP.PING, Buffer.alloc(126, 0x70)),
    'a fragmented ping': () => encodeFrame(OP.PING, 'x', { fin: false }),
    'a continuation without a start': () => encodeFrame(OP.CONT, '{"type":"ping"}'),
    'a new text frame inside a fragmented message': () => Buffer.concat([
      encodeFrame(OP.TEXT, '{"type":', { fin: false }),
      encodeFrame(OP.TEXT, '"ping"}'),
    ]),
    'a 64-bit length with the top bit set': () => Buffer.from([0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]),
  };
  for (const [what, make] of Object.entries(violations)) {
    test(`protocol violation (${what}): close 1002`, async () => {
      const raw = await rawSession();
      raw.write(make());
      await expectClose(raw, 1002);
    });
  }

  test('an unmasked frame before hello: close 1002', async () => {
    const raw = await RawClient.open(d.port);
    raw.write(encodeFrame(OP.TEXT, '{"type":"ping"}', { mask: false }));
    await expectClose(raw, 1002);
  });

  test('a close frame from the client is answered with a close frame', async () => {
    const raw = await rawSession();
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(1000);
    raw.frame(OP.CLOSE, payload);
    const r = await raw.waitClose();
    assert.equal(r.code, 1000);
    await raw.waitEnd();
  });

  test('an empty close frame from the client is answered with a close frame', async () => {
    const raw = await rawSession();
    raw.frame(OP.CLOSE, Buffer.alloc(0));
    await raw.waitEnd();
    assert.notEqual(raw.closeCode, null, 'RFC 6455 §5.5.1: the server answers Close with Close');
  });

  for (const [what, payload] of [['with a payload', 'are-you-there'], ['without a payload', '']]) {
    test(`a client ping frame ${what} is answered with a pong frame`, async () => {
      const raw = await rawSession();
      let pong = null;
      const orig = raw.onFrame.bind(raw);
      raw.onFrame = (op, fin, p) => {
        if (op === OP.PONG) pong = p.toString();
        orig(op, fin, p);
      };
      raw.frame(OP.PING, payload);
      for (let i = 0; i < 60 && pong === null; i++) await sleep(25);
      assert.equal(pong, payload, 'RFC 6455 §5.5.2: a pong with the same application data');
      raw.destroy();
    });
  }
});

describe('rate limit and abuse', () => {
  test('past the burst: rate-limited (with ref), the message is dropped, later messages pass', async () => {
    const c = await fresh();
    const n = LIMITS.message_burst + 10;
    for (let i = 0; i < n; i++) c.send({ type: 'ping', id: `r${i}` });
    let pongs = 0;
    let limited = 0;
    while (pongs + limited < n) {
      const e = await c.next((x) => x.type === 'pong' || x.type === 'error');
      if (e.type === 'pong') pongs += 1;
      else {
        assert.equal(e.code, 'rate-limited', e.raw);
        assert.equal(typeof e.ref, 'string', `the dropped ping had an id, so the error has ref: ${e.raw}`);
        assert.match(e.ref, /^r\d+$/);
        limited += 1;
      }
    }
    assert.ok(limited >= 1, 'some pings are refused');
    // The hello took one token of the burst.
    assert.ok(pongs >= LIMITS.message_burst - 1, `the burst passes (${pongs} pongs)`);
    assert.ok(c.isOpen);
    // Tokens come back at messagesPerSecond.
    await sleep(Math.ceil(1000 / LIMITS.messages_per_second) * 3);
    await c.roundTrip();
    await c.close();
  });

  test('the rate limit is per session: others are not limited', async () => {
    const noisy = await fresh('noisy');
    const quiet = await fresh('quiet');
    for (let i = 0; i < LIMITS.message_burst + 5; i++) noisy.send({ type: 'ping' });
    await noisy.nextError('rate-limited');
    await quiet.roundTrip();
    await closeAll(noisy, quiet);
  });

  test(`${LIMITS.abuse_threshold} client errors are tolerated; one more closes with 1008`, async () => {
    const c = await fresh();
    for (let i = 0; i < LIMITS.abuse_threshold; i++) c.send('{bad');
    for (let i = 0; i < LIMITS.abuse_threshold; i++) await c.nextError('bad-json');
    await c.roundTrip();
    assert.ok(c.isOpen);
    c.send({ type: 'nope' });
    assert.equal((await c.waitClose()).code, 1008);
  });

  test('a flood of bad messages is closed with 1008; others are unaffected', async () => {
    const c = await fresh();
    for (let i = 0; i < 500; i++) c.send(i % 2 ? '][' : { type: 'signal', to: 'x', data: 1 });
    const r = await c.waitClose();
    assert.equal(r.code, 1008);
    const errors = c.queue.filter((e) => e.type === 'error').length;
    assert.ok(errors <= LIMITS.abuse_threshold + 1, `at most threshold+1 errors sent (${errors})`);
    await alice.roundTrip();
  });

  test('errors of mixed kinds count together', async () => {
    const c = await fresh();
    const bad = [
      '{', '[]', JSON.stringify({ type: 'zzz' }), JSON.stringify({ type: 'leave', room: 'none' }),
      JSON.stringify({ type: 'refresh', token: 'garbage' }), Buffer.from('bin'),
      JSON.stringify({ type: 'hello', v: 1, token: 'x' }), 'z'.repeat(LIMITS.max_message_bytes + 1),
    ];
    for (let i = 0; i <= LIMITS.abuse_threshold; i++) c.send(bad[i % bad.length]);
    assert.equal((await c.waitClose()).code, 1008);
  });

  test('peer-unavailable is not the client\'s fault and does not count as abuse', async () => {
    // Trickle ICE sends a burst of candidates; if the peer just went away,
    // each gets peer-unavailable, and that must not cost the sender its session.
    const c = await fresh();
    for (let i = 0; i < LIMITS.abuse_threshold + 10; i++) {
      c.send({ type: 'signal', to: `gone@${DOMAIN}`, id: `c${i}`, data: { candidate: i } });
    }
    for (let i = 0; i < LIMITS.abuse_threshold + 10; i++) await c.nextError('peer-unavailable');
    await c.roundTrip();
    assert.ok(c.isOpen);
    await c.close();
  });
});

describe('slow reader', () => {
  test('a client that never reads is closed (4003) while the others keep working and RSS stays bounded', async () => {
    const slowUser = uniqueUser('slow');
    const slow = await RawClient.open(d.port);
    await slow.hello(slowUser);
    slow.sock.pause(); // from now on the daemon's writes to it pile up
    const rss0 = d.rssKiB();

    const flooders = [];
    for (let i = 0; i < 3; i++) flooders.push(await fresh(`flood${i}`));
    const data = JSON.stringify('f'.repeat(60000));
    const frame = `{"type":"signal","to":"${slowUser}@${DOMAIN}","data":${data}}`;
    for (const f of flooders) for (let i = 0; i < LIMITS.message_burst; i++) f.send(frame);
    const flooded = flooders.length * LIMITS.message_burst * frame.length;

    // A probe learns when the slow session is gone: its signals then come
    // back as peer-unavailable.
    const probe = await fresh('probe');
    let gone = false;
    let maxRss = rss0;
    const deadline = Date.now() + 3000;
    for (let i = 0; Date.now() < deadline && !gone; i++) {
      probe.send({ type: 'signal', to: `${slowUser}@${DOMAIN}`, id: `probe${i}`, data: 0 });
      gone = await probe.nextError('peer-unavailable', 150).then(() => true, () => false);
      maxRss = Math.max(maxRss, d.rssKiB());
    }
    assert.ok(gone, 'the slow session was ended within 3 s');
    const grown = maxRss - rss0;
    if (d.sanitized()) console.log('slow reader: ASan build, RSS bound not checked');
    else assert.ok(grown < 16 * 1024,
      `RSS grew by ${grown} KiB while ${Math.round(flooded / 1048576)} MiB were sent to a reader that does not read`);

    // The well-behaved sessions never noticed.
    await alice.roundTrip();
    alice.send({ type: 'signal', to: `${bobUser}@${DOMAIN}`, id: 'after-flood', data: { ok: true } });
    assert.deepEqual((await bob.next('signal')).data, { ok: true });

    // What the slow client sees once it reads again: queued data, then a
    // 4003 close frame or a dropped connection, never another code.
    slow.sock.resume();
    await slow.waitEnd();
    assert.ok(slow.closeCode === 4003 || slow.closeCode === null, `close code ${slow.closeCode}`);
    console.log(`slow reader: RSS +${grown} KiB for ${Math.round(flooded / 1048576)} MiB sent; it read ${Math.round(slow.bytesIn / 1048576)} MiB, then ${slow.closeCode === null ? 'the TCP connection dropped without a close frame' : `close ${slow.closeCode}`}`);
    await closeAll(flooders, probe);
  });
});

describe('after everything', () => {
  test('the well-behaved sessions still work', async () => {
    await alice.roundTrip();
    await bob.roundTrip();
    alice.send({ type: 'signal', to: `${bobUser}@${DOMAIN}`, id: 'end', data: [1, 'two', { three: 3 }] });
    const m = await bob.next('signal');
    assert.equal(rawMember(m.raw, 'data'), '[1,"two",{"three":3}]');
    assert.ok(alice.isOpen && bob.isOpen);
  });

  test('a new session can still start', async () => {
    const c = await fresh();
    await c.roundTrip();
    await c.close();
  });
});
