// Two Chromium pages that may only use relayed candidates
// (iceTransportPolicy: 'relay') call each other through webrtc2d's own TURN
// relay, with nothing but the credentials the server hands out in welcome.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DOMAIN, freePort, mintToken, scrape, sleep, uniqueUser } from '../integration/lib.mjs';
import { launchBrowser } from './browser.mjs';
import { mediaCounters, pageCall, pageClient, startWebDaemon, waitFor } from './pages.mjs';

const AV = { audio: true, video: { width: 320, height: 240 } };
const RELAY_ONLY = { rtcConfiguration: { iceTransportPolicy: 'relay' } };

/** The candidate types of the pair the page's connection uses, from getStats(). */
function selectedPair(page) {
  return page.evaluate(async () => {
    const stats = await window.conn.peerConnection.getStats();
    const byId = new Map([...stats.values()].map((s) => [s.id, s]));
    for (const s of stats.values()) {
      if (s.type !== 'transport' || !s.selectedCandidatePairId) continue;
      const pair = byId.get(s.selectedCandidatePairId);
      return {
        local: byId.get(pair.localCandidateId)?.candidateType,
        remote: byId.get(pair.remoteCandidateId)?.candidateType,
        protocol: byId.get(pair.localCandidateId)?.relayProtocol,
      };
    }
    return null;
  });
}

describe("calls relayed by webrtc2d's own TURN server", () => {
  let d;
  let browser;
  let turnPort;
  before(async () => {
    turnPort = await freePort();
    const extra = [
      'turn:',
      `  listen: [{address: "127.0.0.1:${turnPort}"}]`,
      '  min_port: 43000',
      '  max_port: 43999',
      // The pages' relayed addresses are on loopback: allowed explicitly,
      // as an operator would allow an internal range.
      '  allowed_peer_ranges: ["127.0.0.0/8"]',
    ].join('\n');
    [d, browser] = await Promise.all([startWebDaemon(undefined, { turn: true, extra }), launchBrowser()]);
  });
  after(async () => {
    await browser?.close();
    await d?.stop();
  });

  test('relay-only pages connect through the relay with the welcome credentials; media and data flow', async () => {
    const users = [uniqueUser('ra'), uniqueUser('rb')];
    const pages = await Promise.all(users.map(async () => {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`http://127.0.0.1:${d.port}/`);
      return page;
    }));
    const [pa, pb] = pages;
    const ids = await Promise.all(pages.map((p, i) => pageClient(p, {
      token: mintToken(users[i]),
      options: RELAY_ONLY,
      autoAccept: i === 1 ? AV : undefined,
    })));
    for (const id of ids) assert.ok(id.peerId, JSON.stringify(id));

    // welcome put the own relay first, with a credential for this user only.
    const relay = ids[0].iceServers[0];
    assert.deepEqual(relay.urls, [`turn:127.0.0.1:${turnPort}?transport=udp`, `turn:127.0.0.1:${turnPort}?transport=tcp`]);
    assert.match(relay.username, new RegExp(`^\\d+:${users[0]}$`));
    assert.ok(Number(relay.username.split(':')[0]) > Date.now() / 1000 + 3000, 'valid for a while');
    assert.notEqual(relay.credential, ids[1].iceServers[0].credential);

    const call = await pageCall(pa, `${users[1]}@${DOMAIN}`, AV);
    assert.ok(call.ok, JSON.stringify(call));
    await waitFor(pb, () => window.conn?.state === 'connected', 20000);
    await waitFor(pa, () => window.conn?.state === 'connected', 20000);

    // Both sides use relayed candidates at both ends of the selected pair.
    for (const [page, who] of [[pa, 'caller'], [pb, 'callee']]) {
      const pair = await waitFor(page, async () => {
        const stats = await window.conn.peerConnection.getStats();
        for (const s of stats.values()) if (s.type === 'transport' && s.selectedCandidatePairId) return true;
        return false;
      }, 10000).then(() => selectedPair(page));
      // ICE may settle on the UDP or the TCP allocation (both URLs are
      // handed out): either way both ends are relayed candidates.
      assert.equal(pair?.local, 'relay', `${who}: ${JSON.stringify(pair)}`);
      assert.equal(pair?.remote, 'relay', `${who}: ${JSON.stringify(pair)}`);
      assert.ok(['udp', 'tcp'].includes(pair.protocol), `${who}: ${JSON.stringify(pair)}`);
      const stats = await page.evaluate(() => window.conn.getConnectionStats());
      assert.equal(stats.candidateType, 'relay', `${who}: ${JSON.stringify(stats)}`);
    }

    // Media both ways, then the data channel.
    const before = await Promise.all([mediaCounters(pa), mediaCounters(pb)]);
    await sleep(2000);
    const later = await Promise.all([mediaCounters(pa), mediaCounters(pb)]);
    for (const i of [0, 1]) {
      assert.ok(later[i].framesDecoded > before[i].framesDecoded, `page ${i}: video frames decoded grow`);
      assert.ok(later[i].audioBytesReceived > before[i].audioBytesReceived, `page ${i}: audio bytes grow`);
    }
    await pa.evaluate(() => window.conn.send('through the relay'));
    await waitFor(pb, () => window.seen.messages.includes('through the relay'));
    await pb.evaluate(() => window.conn.send(new Uint8Array(200000).fill(7).buffer));
    await waitFor(pa, () => window.seen.messages.some((m) => m.bytes === 200000));

    // The relay counted it: two allocations at least (one per page) and
    // packets relayed; published once a second.
    await sleep(1200);
    const m = await scrape(d);
    assert.ok(m.get('webrtc2_turn_allocations') >= 2, `allocations ${m.get('webrtc2_turn_allocations')}`);
    assert.ok(m.get('webrtc2_turn_relayed_packets_total') > 100, `packets ${m.get('webrtc2_turn_relayed_packets_total')}`);
    assert.ok(m.get('webrtc2_turn_relayed_bytes_total') > 200000, `bytes ${m.get('webrtc2_turn_relayed_bytes_total')}`);

    await pa.evaluate(() => window.conn.close());
    await waitFor(pb, () => window.seen.closed.length === 1);
    await Promise.all(pages.map((p) => p.context().close()));
  });
});
