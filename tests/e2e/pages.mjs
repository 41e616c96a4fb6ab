// Page-side helpers for the SDK tests: a WebRTC2Client in a real Chromium
// page loaded from a real webrtc2d, with what a developer's handlers see
// recorded in window.seen.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep, startDaemon } from '../integration/lib.mjs';

export const WEB = path.join(process.env.W2_SOURCE_DIR
  ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'), 'web');

/**
 * A daemon serving the repository's web/, on `port` if given; `opts` are
 * further startDaemon options (e.g. `auth: ['guest_tokens: true']`, `limits`).
 */
export function startWebDaemon(port, opts = {}) {
  return startDaemon({ ...opts, web: WEB, port });
}

/**
 * Creates window.client (a WebRTC2Client) in `page` and waits for ready.
 * Resolves with {peerId, device} or {error: {code, message, name}}.
 * Incoming calls are kept in window.incoming; with `autoAccept` they are
 * accepted with those media constraints and the connection kept as
 * window.conn (window.connError on failure).
 * @param {import('playwright-core').Page} page
 * @param {{token: string, device?: string, autoAccept?: object | null, options?: object}} opts
 */
export function pageClient(page, opts) {
  return page.evaluate(async ({ token, device, autoAccept, options }) => {
    const sdk = await import('/sdk/webrtc2.js');
    window.sdk = sdk;
    window.seen = { incoming: [], error: [], state: [], member: [], messages: [], closed: [], streams: [] };
    const client = new sdk.WebRTC2Client({
      signalingServer: `ws://${location.host}/signal`,
      authentication: { type: 'token', token },
      device,
      ...options,
    });
    window.client = client;
    client.onError = (e) => window.seen.error.push({ code: e?.code, message: e?.message });
    client.onStateChange = (s) => window.seen.state.push(s);
    client.onMember = (m) => window.seen.member.push(m);
    /** Follows a connection: its messages, stream and close reason. */
    window.watch = (conn) => {
      window.conn = conn;
      conn.onMessage = (m) => window.seen.messages.push(typeof m === 'string' ? m : { bytes: m.byteLength });
      conn.onRemoteStream = (s) => window.seen.streams.push(s.id);
      conn.onClose = (r) => window.seen.closed.push(r);
      return conn;
    };
    client.onIncoming = async (req) => {
      window.seen.incoming.push({ from: req.from, fromDevice: req.fromDevice, media: req.media });
      window.request = req;
      if (autoAccept === null || autoAccept === undefined) return;
      try {
        window.watch(await req.accept({ mediaConstraints: autoAccept }));
      } catch (e) {
        window.connError = { code: e.code, message: e.message };
      }
    };
    try {
      return await client.ready;
    } catch (e) {
      return { error: { name: e.name, code: e.code, message: e.message } };
    }
  }, opts);
}

/**
 * Calls `peerId` from the page's client; resolves {ok: true, ms} with the
 * connection as window.conn (watched), or {error: {code, message}}.
 */
export function pageCall(page, peerId, mediaConstraints) {
  return page.evaluate(async ([to, mc]) => {
    const t0 = performance.now();
    try {
      const conn = await window.client.connect({ peerId: to, mediaConstraints: mc });
      window.watch(conn);
      return { ok: true, ms: performance.now() - t0, callId: conn.callId };
    } catch (e) {
      return { error: { code: e.code, message: e.message, name: e.name } };
    }
  }, [peerId, mediaConstraints]);
}

/**
 * Waits until `fn` (run in the page; it may be async) returns something
 * truthy, and returns that. Playwright's waitForFunction would take an async
 * predicate's promise itself as truthy, so the polling is done here.
 */
export async function waitFor(page, fn, timeout = 10000, arg = undefined) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await page.evaluate(fn, arg);
    if (v) return v;
    if (Date.now() > deadline) {
      throw new Error(`waitFor: not true within ${timeout} ms: ${String(fn).replace(/\s+/g, ' ').slice(0, 160)}`);
    }
    await sleep(50);
  }
}

/**
 * Media counters of the page's connection, from getStats(): video frames
 * decoded and audio bytes received (inbound), and bytes sent (outbound).
 */
export function mediaCounters(page) {
  return page.evaluate(async () => {
    const r = await window.conn.peerConnection.getStats();
    const out = { framesDecoded: 0, audioBytesReceived: 0, videoBytesSent: 0, audioBytesSent: 0 };
    for (const s of r.values()) {
      if (s.type === 'inbound-rtp' && s.kind === 'video') out.framesDecoded += s.framesDecoded ?? 0;
      if (s.type === 'inbound-rtp' && s.kind === 'audio') out.audioBytesReceived += s.bytesReceived ?? 0;
      if (s.type === 'outbound-rtp' && s.kind === 'video') out.videoBytesSent += s.bytesSent ?? 0;
      if (s.type === 'outbound-rtp' && s.kind === 'audio') out.audioBytesSent += s.bytesSent ?? 0;
    }
    return out;
  });
}
