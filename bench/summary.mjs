// Builds the summary table of one bench/run.sh run from its JSON results.
// Usage: node bench/summary.mjs bench/results/<timestamp>
// Writes summary.json next to the results and prints Markdown (the table
// that goes into docs/benchmarks.md).
import { readFileSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node bench/summary.mjs RESULTS_DIR");
  process.exit(2);
}

/** @param {string} name @returns {any} the parsed JSON file, or {} */
function load(name) {
  const f = join(dir, name);
  if (!existsSync(f)) return {};
  try {
    return JSON.parse(readFileSync(f, "utf8").trim().split("\n").pop() || "{}");
  } catch {
    return {};
  }
}

const systems = [
  ["webrtc2d", "webrtc2d"],
  ["peerjs", "PeerJS 1.0.2"],
  ["lws", "lws_relay (lws 4.1.6)"],
  ["null", "null_relay (floor)"],
];
const modes = ["plain", "tls"];

/** The sweep points of one system/mode, by rising rate. */
function sweepOf(t) {
  const pts = [];
  for (const name of readdirSync(dir)) {
    const m = name.match(new RegExp(`^${t}-sweep-(\\d+)\\.json$`));
    if (!m) continue;
    const j = load(name);
    const srv = load(`${t}-sweep-${m[1]}.server.json`);
    pts.push({ rate: Number(m[1]), got: j.msgs_per_s, sent: j.sent, received: j.received,
      p50: j.p50_us, p99: j.p99_us, p999: j.p999_us, cpu: srv.server_cpu });
  }
  return pts.sort((a, b) => a.rate - b.rate);
}

/** Highest offered rate delivered (>= 95 %) with p99 under 2 ms. */
function sustained(pts) {
  let best = NaN;
  for (const p of pts) if (p.sent > 0 && p.received >= 0.95 * p.sent && p.p99 < 2000) best = p.rate;
  return best;
}

/** Figures of one system in one mode, or null if it did not run. */
function figures(sys, mode) {
  const t = `${sys}-${mode}`;
  const conns = load(`${t}-conns.json`);
  if (conns.established === undefined) return null;
  const cs = load(`${t}-conns.server.json`);
  const max = load(`${t}-max.json`);
  const maxs = load(`${t}-max.server.json`);
  const half = load(`${t}-half.json`);
  const common = load(`${t}-common.json`);
  const held = conns.held || 0;
  const rssPer = held > 0 && cs.rss_after_kb ? (cs.rss_after_kb - cs.rss_before_kb) / held : NaN;
  const errs = [conns, max, half, common].reduce((n, j) => n + (j.errors_total || 0), 0);
  return {
    target: conns.conns_target,
    held,
    rss_per_conn_kib: rssPer,
    rss_before_mib: (cs.rss_before_kb || 0) / 1024,
    rss_after_mib: (cs.rss_after_kb || 0) / 1024,
    connect_rate: conns.connect_rate,
    connect_cpu_us: held > 0 && cs.connect_cpu_s !== undefined ? (cs.connect_cpu_s * 1e6) / conns.established : NaN,
    max_rate: max.msgs_per_s,
    max_cpu: maxs.server_cpu,
    max_core: maxs.server_core_busy,
    max_client_core: maxs.client_core_busy,
    half_core: load(`${t}-half.server.json`).server_core_busy,
    half_cpu: load(`${t}-half.server.json`).server_cpu,
    max_loadgen_cpu: max.loadgen_cpu,
    max_p50_us: max.p50_us,
    max_p99_us: max.p99_us,
    half_rate: half.rate_target,
    half_got: half.msgs_per_s,
    half: [half.p50_us, half.p99_us, half.p999_us, half.max_us],
    common_rate: common.rate_target,
    common_got: common.msgs_per_s,
    common: [common.p50_us, common.p99_us, common.p999_us, common.max_us],
    sweep: sweepOf(t),
    get sustained() { return sustained(this.sweep); },
    errors: errs,
    error_kinds: Object.assign({}, conns.errors, max.errors, half.errors, common.errors),
    alive: load(`${t}-common.server.json`).alive ?? maxs.alive ?? cs.alive,
    background: Math.max(
      ...["conns", "max", "half", "common"].map((n) => load(`${t}-${n}.server.json`).background || 0),
    ),
  };
}

const fmtInt = (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString("en-US") : "–");
const fmt2 = (v) => (Number.isFinite(v) ? v.toFixed(2) : "–");
const fmt1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : "–");
const fmtMs = (us) => (Number.isFinite(us) && us > 0 ? (us / 1000).toFixed(us < 10000 ? 3 : 1) : "–");
const fmtLat = (a) => (a && a.every(Number.isFinite) && a[0] > 0 ? a.slice(0, 3).map(fmtMs).join(" / ") : "–");
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : "–");

const all = {};
const lines = [];
for (const mode of modes) {
  const f = Object.fromEntries(systems.map(([s]) => [s, figures(s, mode)]));
  all[mode] = f;
  if (!Object.values(f).some(Boolean)) continue;
  const w = f.webrtc2d || {};
  const rows = [
    ["connections held (of target)", (x) => `${fmtInt(x.held)} / ${fmtInt(x.target)}`, "held"],
    ["server RSS per connection, KiB", (x) => fmt2(x.rss_per_conn_kib), "rss_per_conn_kib"],
    ["connects/s (TCP+TLS+upgrade+auth)", (x) => fmtInt(x.connect_rate), "connect_rate"],
    ["server CPU per connection set-up, µs", (x) => fmtInt(x.connect_cpu_us), "connect_cpu_us"],
    ["max relayed msg/s (closed loop)", (x) => fmtInt(x.max_rate), "max_rate"],
    ["server core busy at max (process CPU), 1.0 = one core", (x) => `${fmt2(x.max_core)} (${fmt2(x.max_cpu)})`, "max_core"],
    ["load generator core busy at max", (x) => fmt2(x.max_client_core), null],
    ["half-max rate offered, msg/s", (x) => fmtInt(x.half_rate), "half_rate"],
    ["latency p50 / p99 / p99.9 at half max, ms", (x) => fmtLat(x.half), null],
    ["server process CPU at half max", (x) => fmt2(x.half_cpu), null],
    [`latency p50 / p99 / p99.9 at ${fmtInt((w.common_rate ?? f.peerjs?.common_rate ?? f.lws?.common_rate))} msg/s, ms`, (x) => fmtLat(x.common), null],
    ["highest open-loop rate with p99 < 2 ms, msg/s", (x) => fmtInt(sustained(x.sweep)), "sustained"],
    ["errors (all runs)", (x) => fmtInt(x.errors), null],
  ];
  lines.push(`### ${mode === "tls" ? "TLS (wss://)" : "Plain WebSocket (ws://)"}`, "");
  const present = systems.filter(([s]) => f[s]);
  lines.push(
    `| | ${present.map(([, n]) => n).join(" | ")} | webrtc2d ÷ PeerJS | webrtc2d ÷ lws |`,
    `|---|${present.map(() => "---:").join("|")}|---:|---:|`,
  );
  for (const [label, show, key] of rows) {
    const cells = present.map(([s]) => show(f[s]));
    const r1 = key && f.webrtc2d && f.peerjs ? ratio(f.webrtc2d[key], f.peerjs[key]) : "";
    const r2 = key && f.webrtc2d && f.lws ? ratio(f.webrtc2d[key], f.lws[key]) : "";
    lines.push(`| ${label} | ${cells.join(" | ")} | ${r1} | ${r2} |`);
  }
  lines.push("");
  for (const [s, n] of present) {
    const k = Object.entries(f[s].error_kinds || {}).map(([e, c]) => `${e}=${c}`);
    if (k.length) lines.push(`- ${n} errors: ${k.join(", ")}`);
    if (f[s].alive === false) lines.push(`- ${n}: **the server process died during the run**`);
    if (f[s].background > 0.1)
      lines.push(`- ${n}: other work used up to ${f[s].background} of a core just before a test (the bench processes ran at a higher priority, but the figures may be disturbed)`);
  }
  const withSweep = present.filter(([s]) => f[s].sweep.length);
  if (withSweep.length) {
    lines.push("", `Open-loop sweep (${mode}), p50 / p99 / p99.9 latency in ms at each offered rate (server process CPU, 1.0 = one core; softirq not included):`, "");
    const rates = [...new Set(withSweep.flatMap(([s]) => f[s].sweep.map((p) => p.rate)))].sort((a, b) => a - b);
    lines.push(`| offered msg/s | ${withSweep.map(([, n]) => n).join(" | ")} |`, `|---:|${withSweep.map(() => "---").join("|")}|`);
    for (const r of rates) {
      const cells = withSweep.map(([s]) => {
        const p = f[s].sweep.find((q) => q.rate === r);
        if (!p) return "";
        const lost = p.sent > 0 && p.received < 0.95 * p.sent ? `, ${Math.round((100 * p.received) / p.sent)} % delivered` : "";
        return `${fmtLat([p.p50, p.p99, p.p999])} (${fmt2(p.cpu)}${lost})`;
      });
      lines.push(`| ${fmtInt(r)} | ${cells.join(" | ")} |`);
    }
    lines.push("");
  }
  if (w.held !== undefined) {
    const ok = (b) => (b ? "met" : "**missed**");
    lines.push(
      `- goals (webrtc2d, ${mode}): >= 19,000 connections held: ${ok(w.held >= 19000)}; ` +
        `<= 16 KiB RSS each: ${ok(w.rss_per_conn_kib <= 16)}; ` +
        `>= 200,000 relayed msg/s on one core: ${ok(w.max_rate >= 200000)}; ` +
        `p99 < 2 ms at half that rate: ${ok(w.half[1] > 0 && w.half[1] < 2000)}`,
    );
  }
  lines.push("");
}
writeFileSync(join(dir, "summary.json"), JSON.stringify(all, null, 1) + "\n");
console.log(lines.join("\n"));
