// Runs inside a network namespace of its own (tests/e2e/netns.mjs): a call
// between two Chromium pages whose UDP path is then cut with iptables while
// the signaling (TCP) stays up. Prints one JSON line with what happened.
import { spawnSync } from 'node:child_process';
import { DOMAIN, mintToken, sleep, uniqueUser } from '../integration/lib.mjs';
import { launchBrowser } from './browser.mjs';
import { mediaCounters, pageCall, pageClient, startWebDaemon, waitFor } from './pages.mjs';

const AV = { audio: true, video: { width: 320, height: 240 } };
const DROP_UDP = ['INPUT', '-p', 'udp', '-j', 'DROP'];

function iptables(op) {
  const r = spawnSync('iptables', [op, ...DROP_UDP], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`iptables ${op}: ${r.stderr}`);
}

const ufrag = (page) => page.evaluate(() => /a=ice-ufrag:(\S+)/.exec(window.conn.peerConnection.localDescription.sdp)?.[1]);

const result = { steps: [] };
const d = await startWebDaemon();
const browser = await launchBrowser();
try {
  const users = [uniqueUser('ia'), uniqueUser('ib')];
  const [pa, pb] = await Promise.all(users.map(async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`http://127.0.0.1:${d.port}/`);
    return page;
  }));
  await pageClient(pa, { token: mintToken(users[0]) });
  await pageClient(pb, { token: mintToken(users[1]), autoAccept: AV });
  const call = await pageCall(pa, `${users[1]}@${DOMAIN}`, AV);
  if (!call.ok) throw new Error(`call failed: ${JSON.stringify(call)}`);
  await waitFor(pb, () => window.conn?.state === 'connected');
  result.ufragBefore = [await ufrag(pa), await ufrag(pb)];
  result.framesBefore = (await mediaCounters(pb)).framesDecoded;

  iptables('-I');
  result.steps.push('udp dropped');
  await waitFor(pa, () => window.conn.state === 'reconnecting', 30000);
  result.steps.push('caller saw the path break');
  await sleep(4000); // the SDK restarts ICE 2 s after 'disconnected'
  result.stateWhileBroken = await pa.evaluate(() => window.conn.state);
  iptables('-D');
  result.steps.push('udp allowed again');
  await waitFor(pa, () => window.conn.state === 'connected', 30000);
  await waitFor(pb, () => window.conn.state === 'connected', 30000);
  result.steps.push('both connected again');
  result.ufragAfter = [await ufrag(pa), await ufrag(pb)];
  // Video resumes with the next key frame, and the sender's bandwidth
  // estimate climbs back from the outage: allow it some seconds.
  const f1 = (await mediaCounters(pb)).framesDecoded;
  const t1 = Date.now();
  let f2 = f1;
  while (f2 <= f1 + 10 && Date.now() - t1 < 15000) {
    await sleep(200);
    f2 = (await mediaCounters(pb)).framesDecoded;
  }
  result.framesAfter = [f1, f2];
  result.videoResumedMs = Date.now() - t1;
  await pa.evaluate(() => window.conn.send('after restart'));
  await waitFor(pb, () => window.seen.messages.includes('after restart'));
  result.messageAfter = true;
  result.errors = [...await pa.evaluate(() => window.seen.error), ...await pb.evaluate(() => window.seen.error)];
  result.closed = [...await pa.evaluate(() => window.seen.closed), ...await pb.evaluate(() => window.seen.closed)];
} catch (e) {
  result.error = String(e?.stack ?? e);
} finally {
  await browser.close();
  await d.stop();
}
console.log(JSON.stringify(result));
