// Authentication: hello, refresh, expiry, hello timeout (docs/protocol.md
// "Session start", "Token refresh and expiry"; docs/security-auth.md), and
// the token / check-config subcommands.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  AUDIENCE, Client, DOMAIN, LIMITS, b64url, closeAll, connect, mintToken, nowS, runDaemonCli,
  startDaemon, uniqueUser,
} from './lib.mjs';

let d;
before(async () => { d = await startDaemon(); });
afterEach(() => { d.assertAlive(); });
after(async () => { await d?.stop(); });

/** Opens a connection and sends hello with `token`; returns the client. */
async function helloWith(token, extra = {}) {
  const c = await Client.open(d.url);
  c.send({ type: 'hello', v: 1, token, ...extra });
  return c;
}

/** Expects unauthorized (without the token in it) and close 4001. */
async function expectRefused(token) {
  const c = await helloWith(token);
  const e = await c.next('error');
  assert.equal(e.code, 'unauthorized', `got ${e.raw}`);
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0, 'message says why');
  if (token.length > 8) assert.ok(!e.raw.includes(token), 'the token is never echoed');
  for (const part of token.split('.')) {
    if (part.length > 16) assert.ok(!e.raw.includes(part), 'no part of the token is echoed');
  }
  await c.expectNone('welcome', 0);
  const closed = await c.waitClose();
  assert.equal(closed.code, 4001);
}

describe('before hello', () => {
  test('a message before hello gets not-authenticated, the connection stays, hello then works', async () => {
    const user = uniqueUser('early');
    const c = await Client.open(d.url);
    c.send({ type: 'ping', id: 'p0' });
    const e = await c.nextError('not-authenticated');
    assert.equal(e.ref, 'p0');
    c.send({ type: 'signal', to: `x@${DOMAIN}`, data: 1 });
    await c.nextError('not-authenticated');
    c.send({ type: 'join', room: 'r' });
    await c.nextError('not-authenticated');
    await c.expectNone('pong', 50);
    assert.ok(c.isOpen);
    c.send({ type: 'hello', v: 1, token: mintToken(user), device: 'late' });
    const w = await c.next('welcome');
    assert.equal(w.peer, `${user}@${DOMAIN}`);
    await c.roundTrip();
    await c.close();
  });

  test('no hello within the hello timeout: close 4005', async () => {
    const c = await Client.open(d.url);
    const t0 = Date.now();
    const closed = await c.waitClose();
    const took = Date.now() - t0;
    assert.equal(closed.code, 4005);
    assert.ok(took >= LIMITS.hello_timeout_ms - 150, `closed after ${took} ms, timeout is ${LIMITS.hello_timeout_ms}`);
  });

  test('messages other than hello do not extend the hello timeout', async () => {
    const c = await Client.open(d.url);
    const timer = setInterval(() => { if (c.isOpen) c.send({ type: 'ping' }); }, 200);
    try {
      const closed = await c.waitClose();
      assert.equal(closed.code, 4005);
    } finally {
      clearInterval(timer);
    }
  });

  test('a session that said hello is not closed by the hello timeout', async () => {
    const c = await connect(d, uniqueUser('intime'));
    await c.expectNone(undefined, LIMITS.hello_timeout_ms + 300);
    assert.ok(c.isOpen);
    await c.roundTrip();
    await c.close();
  });
});

describe('hello refused', () => {
  const now = () => nowS();
  const cases = {
    expired: () => mintToken('alice', { claims: { exp: now() - 60 } }),
    'expired one second ago': () => mintToken('alice', { claims: { exp: now() - 1 } }),
    'exp missing': () => mintToken('alice', { claims: { exp: undefined } }),
    'exp not a number': () => mintToken('alice', { claims: { exp: String(now() + 3600) } }),
    'nbf in the future': () => mintToken('alice', { claims: { nbf: now() + 3600 } }),
    'iat in the future': () => mintToken('alice', { claims: { iat: now() + 3600 } }),
    'wrong key': () => mintToken('alice', { secret: 'another-secret-another-secret-another-32' }),
    'wrong audience': () => mintToken('alice', { claims: { aud: 'someone-else' } }),
    'audience missing': () => mintToken('alice', { claims: { aud: undefined } }),
    'audience array without ours': () => mintToken('alice', { claims: { aud: ['a', 'b'] } }),
    'alg none, empty signature': () => mintToken('alice', { alg: 'none' }),
    'alg none, with an HS256 signature': () => {
      const t = mintToken('alice', { alg: 'none' });
      const good = mintToken('alice');
      return t.slice(0, t.lastIndexOf('.')) + good.slice(good.lastIndexOf('.'));
    },
    'alg HS384 over the right secret': () => mintToken('alice', { alg: 'HS384' }),
    'alg HS512 over the right secret': () => mintToken('alice', { alg: 'HS512' }),
    // The header says hs256 but the signature is a correct HMAC-SHA-256.
    'alg hs256 (case matters)': () => mintToken('alice', { header: { alg: 'hs256' } }),
    'alg RS256 (no such key configured)': () => mintToken('alice', { header: { alg: 'RS256' } }),
    'tampered payload': () => {
      const [h, , s] = mintToken('alice').split('.');
      const p = b64url(JSON.stringify({ sub: 'mallory', exp: now() + 3600, aud: AUDIENCE }));
      return `${h}.${p}.${s}`;
    },
    'truncated signature': () => mintToken('alice').slice(0, -3),
    'malformed: one word': () => 'not-a-jwt',
    'malformed: empty string': () => '',
    'malformed: two segments': () => mintToken('alice').split('.').slice(0, 2).join('.'),
    'malformed: four segments': () => `${mintToken('alice')}.x`,
    'malformed: payload not JSON': () => {
      const [h] = mintToken('alice').split('.');
      return `${h}.${b64url('not json')}.${b64url('sig')}`;
    },
    'malformed: payload is an array': () => {
      const [h] = mintToken('alice').split('.');
      return `${h}.${b64url('[1]')}.${b64url('sig')}`;
    },
    'malformed: base64 padding': () => mintToken('alice').replace('.', '=.'),
    'typ is not JWT': () => mintToken('alice', { header: { typ: 'at+jwt' } }),
    'crit header present': () => mintToken('alice', { header: { crit: ['exp'] } }),
    'sub of another domain': () => mintToken(`alice@example.org`),
    'sub missing': () => mintToken(undefined),
    'sub starting with a dot': () => mintToken('.alice'),
    'sub with a space': () => mintToken('al ice'),
    'sub of 65 bytes': () => mintToken('a'.repeat(65)),
    'sub with a device part': () => mintToken(`alice@${DOMAIN}/phone`),
    'oversize token (10 KB)': () => mintToken('alice', { claims: { pad: 'x'.repeat(10000) } }),
  };
  for (const [what, make] of Object.entries(cases)) {
    test(`unauthorized + 4001: ${what}`, async () => { await expectRefused(make()); });
  }

  test('v other than 1: unsupported-version + 4000', async () => {
    for (const v of [2, 0]) {
      const c = await helloWith(mintToken(uniqueUser('ver')), { v });
      const e = await c.next('error');
      assert.equal(e.code, 'unsupported-version', e.raw);
      assert.equal((await c.waitClose()).code, 4000);
    }
  });

  const shapes = {
    'without v': (t) => ({ type: 'hello', token: t }),
    'with v a string': (t) => ({ type: 'hello', v: '1', token: t }),
    'without token': () => ({ type: 'hello', v: 1 }),
    'with token a number': () => ({ type: 'hello', v: 1, token: 12345 }),
    'with device a number': (t) => ({ type: 'hello', v: 1, token: t, device: 7 }),
    'with device of 33 bytes': (t) => ({ type: 'hello', v: 1, token: t, device: 'd'.repeat(33) }),
  };
  for (const [what, make] of Object.entries(shapes)) {
    test(`hello ${what}: bad-message, no welcome`, async () => {
      const c = await Client.open(d.url);
      c.send(make(mintToken(uniqueUser('shape'))));
      const e = await c.next('error');
      assert.equal(e.code, 'bad-message', e.raw);
      await c.expectNone('welcome', 100);
      c.ws.terminate();
    });
  }

  test('a refused hello does not disturb the user\'s live session', async () => {
    const user = uniqueUser('live');
    const c = await connect(d, user, { device: 'a' });
    await expectRefused(mintToken(user, { secret: 'x'.repeat(40) }));
    await c.roundTrip();
    await c.close();
  });
});

describe('hello accepted', () => {
  test('sub name@DOMAIN with the domain in another case', async () => {
    const user = uniqueUser('case');
    const c = await connect(d, user, { token: mintToken(`${user}@${DOMAIN.toUpperCase()}`) });
    assert.equal(c.welcome.peer, `${user}@${DOMAIN}`);
    await c.close();
  });

  test('aud as an array that contains the audience', async () => {
    const user = uniqueUser('aud');
    const c = await connect(d, user, { token: mintToken(user, { claims: { aud: ['other', AUDIENCE] } }) });
    assert.equal(c.welcome.peer, `${user}@${DOMAIN}`);
    await c.close();
  });

  test('user names keep their case: Alice and alice are different users', async () => {
    const lower = uniqueUser('alice');
    const upper = lower.replace('alice', 'Alice');
    const a = await connect(d, lower, { device: 'x' });
    const b = await connect(d, upper, { device: 'x' });
    assert.equal(b.welcome.peer, `${upper}@${DOMAIN}`);
    await a.expectNone(undefined, 100); // no 4006: not the same user
    assert.ok(a.isOpen);
    await closeAll(a, b);
  });

  test('unknown claims and header fields are ignored', async () => {
    const user = uniqueUser('extra');
    const t = mintToken(user, { header: { kid: 'whatever' }, claims: { jti: 'j', roles: ['x'], email: 'a@b' } });
    const c = await connect(d, user, { token: t });
    await c.close();
  });

  test('a second hello: already-authenticated, the session is unchanged', async () => {
    const user = uniqueUser('twice');
    const other = uniqueUser('other');
    const c = await connect(d, user, { device: 'one' });
    const peer = await connect(d, uniqueUser('peer'));
    c.send({ type: 'hello', v: 1, token: mintToken(other), device: 'two', id: 'h2' });
    const e = await c.nextError('already-authenticated');
    assert.equal(e.ref, 'h2');
    await c.expectNone('welcome', 50);
    await c.roundTrip();
    // Still the first user and device.
    peer.send({ type: 'signal', to: `${user}@${DOMAIN}/one`, data: 1, id: 's' });
    assert.equal((await c.next('signal')).data, 1);
    peer.send({ type: 'signal', to: `${other}@${DOMAIN}`, data: 2, id: 's2' });
    assert.equal((await peer.nextError('peer-unavailable')).ref, 's2');
    await closeAll(c, peer);
  });
});

describe('refresh', () => {
  test('refresh answers refreshed with the new token\'s exp', async () => {
    const user = uniqueUser('ref');
    const c = await connect(d, user);
    const exp = nowS() + 7200;
    c.send({ type: 'refresh', token: mintToken(user, { claims: { exp } }) });
    const r = await c.next('refreshed');
    assert.equal(r.expires, exp);
    // The name@domain spelling names the same user.
    const exp2 = nowS() + 7300;
    c.send({ type: 'refresh', token: mintToken(`${user}@${DOMAIN}`, { claims: { exp: exp2 } }) });
    assert.equal((await c.next('refreshed')).expires, exp2);
    await c.close();
  });

  const refused = {
    "another user's token": (user) => mintToken(`${user}x`),
    'an expired token': (user) => mintToken(user, { claims: { exp: nowS() - 10 } }),
    'a token with the wrong key': (user) => mintToken(user, { secret: 'y'.repeat(40) }),
    'a token with alg none': (user) => mintToken(user, { alg: 'none' }),
    'a token for another audience': (user) => mintToken(user, { claims: { aud: 'nope' } }),
    'garbage': () => 'garbage',
  };
  for (const [what, make] of Object.entries(refused)) {
    test(`refresh with ${what}: unauthorized, the session continues on its old token`, async () => {
      const user = uniqueUser('rf');
      const exp = nowS() + 1800;
      const c = await connect(d, user, { token: mintToken(user, { claims: { exp } }) });
      const tok = make(user);
      c.send({ type: 'refresh', token: tok, id: 'r1' });
      const e = await c.nextError('unauthorized');
      assert.equal(e.ref, 'r1');
      if (tok.length > 16) assert.ok(!e.raw.includes(tok));
      await c.expectNone(undefined, 150);
      assert.ok(c.isOpen, 'the session is not closed');
      await c.roundTrip();
      // Still the same user: a signal to it arrives.
      const p = await connect(d, uniqueUser('p'));
      p.send({ type: 'signal', to: `${user}@${DOMAIN}`, data: 'still', id: 'x' });
      assert.equal((await c.next('signal')).data, 'still');
      await closeAll(c, p);
    });
  }
});

describe('token expiry', () => {
  test('the session gets token-expired and close 4002 when its token expires', async () => {
    const user = uniqueUser('exp');
    const exp = nowS() + 2;
    const c = await connect(d, user, { token: mintToken(user, { claims: { exp } }) });
    assert.equal(c.welcome.expires, exp);
    const e = await c.nextError('token-expired');
    assert.ok(Date.now() / 1000 >= exp - 0.05, 'not before exp');
    assert.equal(typeof e.message, 'string');
    assert.equal((await c.waitClose()).code, 4002);
  });

  test('a refresh before expiry keeps the session', async () => {
    const user = uniqueUser('keep');
    const c = await connect(d, user, { token: mintToken(user, { claims: { exp: nowS() + 2 } }) });
    const exp = nowS() + 3600;
    c.send({ type: 'refresh', token: mintToken(user, { claims: { exp } }) });
    assert.equal((await c.next('refreshed')).expires, exp);
    await c.expectNone(undefined, 2800);
    assert.ok(c.isOpen);
    await c.roundTrip();
    await c.close();
  });

  test('a refresh to a shorter token moves the expiry earlier', async () => {
    const user = uniqueUser('short');
    const c = await connect(d, user);
    const exp = nowS() + 2;
    c.send({ type: 'refresh', token: mintToken(user, { claims: { exp } }) });
    assert.equal((await c.next('refreshed')).expires, exp);
    await c.nextError('token-expired');
    assert.equal((await c.waitClose()).code, 4002);
  });
});

describe('command line', () => {
  test('webrtc2d token --user x --config FILE prints a token that says hello', async () => {
    const user = uniqueUser('cli');
    const r = runDaemonCli(['token', '--user', user, '--config', d.configPath]);
    assert.equal(r.status, 0, r.stderr);
    const token = r.stdout.trim();
    assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const c = await connect(d, user, { token });
    assert.equal(c.welcome.peer, `${user}@${DOMAIN}`);
    const ttl = c.welcome.expires - nowS();
    assert.ok(ttl > 86000 && ttl <= 86400, `default ttl is a day, got ${ttl}`);
    await c.close();
  });

  test('webrtc2d token --ttl sets the expiry', async () => {
    const user = uniqueUser('ttl');
    const r = runDaemonCli(['token', '--user', user, '--ttl', '60', '--config', d.configPath]);
    assert.equal(r.status, 0, r.stderr);
    const c = await connect(d, user, { token: r.stdout.trim() });
    const ttl = c.welcome.expires - nowS();
    assert.ok(ttl > 55 && ttl <= 60, `ttl ${ttl}`);
    await c.close();
  });

  test('webrtc2d token refuses a bad user name', () => {
    const r = runDaemonCli(['token', '--user', 'bad name', '--config', d.configPath]);
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, '');
  });

  test('webrtc2d check-config prints ok for the running config', () => {
    const r = runDaemonCli(['check-config', d.configPath]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'ok');
  });

  test('webrtc2d check-config names the key and line of an error', () => {
    const bad = path.join(d.dir, 'bad.yaml');
    const text = fs.readFileSync(d.configPath, 'utf8').replace(/room_size: \d+/, 'room_size: many');
    fs.writeFileSync(bad, text);
    const line = text.split('\n').findIndex((l) => l.includes('room_size: many')) + 1;
    const r = runDaemonCli(['check-config', bad]);
    assert.equal(r.status, 1);
    const out = r.stdout + r.stderr;
    assert.match(out, /room_size/);
    assert.match(out, new RegExp(`\\b${line}\\b`), `names line ${line}: ${out}`);
    assert.doesNotMatch(r.stdout, /^ok$/m);
  });

  test('the daemon is still alive', () => { d.assertAlive(); });
});
