// Builds the summary table of one bench/run.sh run from its JSON results.
// Usage: node bench/summary.mjs bench/results/<timestamp>
// Writes summary.json next to the results and prints Markdown (the table
// that goes into docs/benchmarks.md).
import { readFileSync, writeFileSync, existsSync } from "node:fs";
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
];
const modes = ["plain", "tls"];

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
    max_loadgen_cpu: max.loadgen_cpu,
    max_p50_us: max.p50_us,
    max_p99_us: max.p99_us,
    half_rate: half.rate_target,
    half_got: half.msgs_per_s,
    half: [half.p50_us, half.p99_us, half.p999_us, half.max_us],
    common_rate: common.rate_target,
    common_got: common.msgs_per_s,
    common: [common.p50_us, common.p99_us, common.p999_us, common.max_us],
    errors: errs,
    error_kinds: Object.assign({}, conns.errors, max.errors, half.errors, common.errors),
    alive: load(`${t}-common.server.json`).alive ?? maxs.alive ?? cs.alive,
  };
}

const fmtInt = (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString("en-US") : "–");
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
    ["server RSS per connection, KiB", (x) => fmt1(x.rss_per_conn_kib), "rss_per_conn_kib"],
    ["connects/s (TCP+TLS+upgrade+auth)", (x) => fmtInt(x.connect_rate), "connect_rate"],
    ["server CPU per connection set-up, µs", (x) => fmtInt(x.connect_cpu_us), "connect_cpu_us"],
    ["max relayed msg/s (closed loop)", (x) => fmtInt(x.max_rate), "max_rate"],
    ["server CPU at max, one core = 1.0", (x) => (Number.isFinite(x.max_cpu) ? x.max_cpu.toFixed(2) : "–"), "max_cpu"],
    ["half-max rate offered, msg/s", (x) => fmtInt(x.half_rate), "half_rate"],
    ["latency p50 / p99 / p99.9 at half max, ms", (x) => fmtLat(x.half), null],
    [`latency p50 / p99 / p99.9 at ${fmtInt((w.common_rate ?? f.peerjs?.common_rate ?? f.lws?.common_rate))} msg/s, ms`, (x) => fmtLat(x.common), null],
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
