// The stats layer: a connection's quality in a few numbers, from
// RTCPeerConnection.getStats(), and a 0-5 quality score in the shape of the
// ITU-T G.107 E-model (a MOS estimate).
//
// qualityScore (docs/sdk.md, "Connection quality"):
//   d  = rttMs / 2 + 2 * jitterMs + 10             one-way delay, with a
//                                                  jitter buffer of 2x jitter
//                                                  and 10 ms of codec delay
//   Id = d / 40            when d < 160 ms          delay impairment
//        (d - 120) / 10    otherwise
//   Ie = 95 * P / (P + 25) with P = loss in %       loss impairment of a codec
//                                                  with concealment (Bpl 25,
//                                                  Ie 0: Opus-like)
//   R  = 93.2 - Id - Ie
//   MOS = 1 + 0.035 R + 7e-6 R (R - 60) (100 - R)   for 0 < R < 100
//         (1 at R <= 0, 4.5 at R >= 100)
//   qualityScore = MOS rounded to 0.1, in [1, 4.5]; 0 when no path is up.
// A perfect LAN scores 4.4; 150 ms RTT with 1 % loss 4.3; 50 ms RTT, 5 ms
// jitter and 5 % loss 3.9; 300 ms RTT, 20 ms jitter and 10 % loss 3.0.

/**
 * @typedef {object} ConnectionStats
 * @property {number | null} rttMs round-trip time of the selected ICE path
 * @property {number} packetLoss fraction (0..1) of media packets lost since
 *   the previous call (since the start on the first)
 * @property {number} jitterMs receive jitter of incoming media (audio
 *   preferred), 0 for data-only connections
 * @property {number} bitrateKbps bits sent and received per second on the
 *   selected path since the previous call
 * @property {'host' | 'srflx' | 'relay' | null} candidateType how this side
 *   reaches the peer: 'relay' when either end uses a TURN relay, 'srflx' for
 *   a NAT-mapped (server or peer reflexive) address, 'host' for a direct one
 * @property {number} qualityScore 0 (no path) or 1-4.5, see above
 * @property {number} bytesSent on the selected path, since the start
 * @property {number} bytesReceived on the selected path, since the start
 */

/**
 * @typedef {object} StatsSample
 * @property {number} at performance.now() of the sample
 * @property {number} bytes bytes sent + received on the path
 * @property {number} lost media packets lost so far
 * @property {number} received media packets received so far
 */

/**
 * The E-model score of a path (see the header).
 * @param {number} rttMs
 * @param {number} jitterMs
 * @param {number} lossFraction 0..1
 * @returns {number} MOS in [1, 4.5], rounded to 0.1
 */
export function qualityScore(rttMs, jitterMs, lossFraction) {
  const d = Math.max(0, rttMs) / 2 + 2 * Math.max(0, jitterMs) + 10;
  const id = d < 160 ? d / 40 : (d - 120) / 10;
  const p = Math.min(100, Math.max(0, lossFraction * 100));
  const ie = (95 * p) / (p + 25);
  const r = 93.2 - id - ie;
  let mos;
  if (r <= 0) mos = 1;
  else if (r >= 100) mos = 4.5;
  else mos = 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r);
  return Math.round(Math.min(4.5, Math.max(1, mos)) * 10) / 10;
}

/**
 * The selected candidate pair of a stats report, or null.
 * @param {RTCStatsReport} report
 */
function selectedPair(report) {
  let pair = null;
  for (const s of report.values()) {
    if (s.type === 'transport' && s.selectedCandidatePairId) return report.get(s.selectedCandidatePairId) ?? null;
  }
  for (const s of report.values()) {
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
  }
  return pair;
}

/** @param {string | undefined} t */
function normalType(t) {
  if (t === 'relay') return 'relay';
  if (t === 'srflx' || t === 'prflx') return 'srflx';
  if (t === 'host') return 'host';
  return null;
}

/**
 * Reads the stats of `pc` and summarises them against `prev` (the previous
 * sample of the same connection, or null).
 * @param {RTCPeerConnection} pc
 * @param {StatsSample | null} prev
 * @param {number} since performance.now() when the connection started
 * @returns {Promise<{stats: ConnectionStats, sample: StatsSample}>}
 */
export async function readStats(pc, prev, since) {
  const report = await pc.getStats();
  const now = performance.now();
  const pair = selectedPair(report);
  let lost = 0;
  let received = 0;
  let audioJitter = null;
  let videoJitter = null;
  for (const s of report.values()) {
    if (s.type !== 'inbound-rtp') continue;
    lost += Math.max(0, s.packetsLost ?? 0);
    received += s.packetsReceived ?? 0;
    if (typeof s.jitter === 'number') {
      if (s.kind === 'audio') audioJitter = Math.max(audioJitter ?? 0, s.jitter);
      else videoJitter = Math.max(videoJitter ?? 0, s.jitter);
    }
  }
  const bytes = pair ? (pair.bytesSent ?? 0) + (pair.bytesReceived ?? 0) : 0;
  const base = prev ?? { at: since, bytes: 0, lost: 0, received: 0 };
  const dLost = Math.max(0, lost - base.lost);
  const dReceived = Math.max(0, received - base.received);
  const packetLoss = dLost + dReceived > 0 ? dLost / (dLost + dReceived) : 0;
  const dt = Math.max(1, now - base.at);
  const bitrateKbps = Math.round((Math.max(0, bytes - base.bytes) * 8) / dt);
  const rttS = pair?.currentRoundTripTime ?? null;
  const rttMs = typeof rttS === 'number' ? Math.round(rttS * 10000) / 10 : null;
  const jitterMs = Math.round(((audioJitter ?? videoJitter ?? 0) * 1000) * 10) / 10;
  let candidateType = null;
  if (pair) {
    const local = normalType(report.get(pair.localCandidateId)?.candidateType);
    const remote = normalType(report.get(pair.remoteCandidateId)?.candidateType);
    candidateType = local === 'relay' || remote === 'relay' ? 'relay' : local;
  }
  const up = pair !== null && (pc.connectionState === 'connected' || pc.iceConnectionState === 'connected'
    || pc.iceConnectionState === 'completed');
  const stats = {
    rttMs,
    packetLoss: Math.round(packetLoss * 10000) / 10000,
    jitterMs,
    bitrateKbps,
    candidateType,
    qualityScore: up ? qualityScore(rttMs ?? 0, jitterMs, packetLoss) : 0,
    bytesSent: pair?.bytesSent ?? 0,
    bytesReceived: pair?.bytesReceived ?? 0,
  };
  return { stats, sample: { at: now, bytes, lost, received } };
}
