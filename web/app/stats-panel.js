// The live connection-quality panel of a call: refreshed every second from
// connection.getConnectionStats() (web/sdk/stats.js defines the figures and
// the 1-4.5 quality score).

const REFRESH_MS = 1000;

/** How each candidate type reads to a person. */
const PATH_TEXT = { host: 'host (direct)', srflx: 'srflx (through NAT)', relay: 'relay (through TURN)' };

/** @param {number} score 0 (no path) or 1-4.5 */
function qualityWord(score) {
  if (score <= 0) return 'no connection';
  if (score >= 4) return 'good';
  if (score >= 3.6) return 'fair';
  return 'poor';
}

export class StatsPanel {
  /** @type {Record<string, HTMLElement>} */ #cells;
  /** @type {ReturnType<typeof setInterval> | undefined} */ #timer;
  /** @type {import('../sdk/webrtc2.js').Connection | null} */ #conn = null;

  /** @param {Record<'quality' | 'path' | 'rtt' | 'loss' | 'bitrate', HTMLElement>} cells */
  constructor(cells) {
    this.#cells = cells;
  }

  /** @param {import('../sdk/webrtc2.js').Connection} conn */
  start(conn) {
    this.stop();
    this.#conn = conn;
    this.#show(null);
    this.#timer = setInterval(() => this.#refresh(), REFRESH_MS);
  }

  stop() {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#conn = null;
  }

  async #refresh() {
    const conn = this.#conn;
    if (!conn || conn.state === 'closed') return;
    try {
      const s = await conn.getConnectionStats();
      if (this.#conn === conn) this.#show(s);
    } catch {
      // The connection closed between the check and the read; the next
      // tick (or stop()) sorts it out.
    }
  }

  /** @param {import('../sdk/stats.js').ConnectionStats | null} s */
  #show(s) {
    const c = this.#cells;
    c.quality.textContent = s ? `${s.qualityScore.toFixed(1)} (${qualityWord(s.qualityScore)})` : '…';
    c.quality.dataset.score = s ? String(s.qualityScore) : '';
    c.path.textContent = s?.candidateType ? PATH_TEXT[s.candidateType] : '…';
    c.path.dataset.type = s?.candidateType ?? '';
    c.rtt.textContent = s?.rttMs != null ? `${Math.round(s.rttMs)} ms` : '…';
    c.loss.textContent = s ? `${(s.packetLoss * 100).toFixed(1)} %` : '…';
    c.bitrate.textContent = s ? `${s.bitrateKbps} kbit/s` : '…';
  }
}
