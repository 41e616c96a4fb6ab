// bench/turn_summary.mjs: the markdown table of a bench/turn_bench.sh run.
// Usage: node bench/turn_summary.mjs RESULTS.jsonl [machine.txt]
// Reads one JSON line per test ({system, test, ...turn_load's fields}) and
// prints webrtc2d beside coturn with the ratio webrtc2d / coturn.
import { readFileSync } from 'node:fs';

const [file, machine] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/turn_summary.mjs RESULTS.jsonl [machine.txt]');
  process.exit(2);
}

/** @type {Map<string, object>} "system/test" -> the last line of that test */
const rows = new Map();
for (const line of readFileSync(file, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  try {
    const r = JSON.parse(line);
    rows.set(`${r.system}/${r.test}`, r);
  } catch {
    // a truncated line from an interrupted run: skip it
  }
}

const fmt = (v, digits = 0) =>
  v === undefined || v === null || Number.isNaN(v) || v < 0
    ? '-'
    : Number(v).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** A cell: the value, or why there is none (failed, server died). */
function cell(sys, test, pick, digits) {
  const r = rows.get(`${sys}/${test}`);
  if (!r) return { text: 'not run' };
  if (r.mode === 'failed') return { text: `failed: ${String(r.error).trim().slice(0, 80)}` };
  const v = pick(r);
  let text = typeof v === 'string' ? v : fmt(v, digits);
  if (r.server_died) text += ' (server died)';
  return { text, value: typeof v === 'number' ? v : undefined };
}

const lines = [
  // [label, test, pick, digits, ratio?]
  ['relayed pkt/s, 120 B one way (delivered)', 'tp120', (r) => r.delivered_per_s, 0, true],
  ['  loss %', 'tp120', (r) => r.loss_pct, 2],
  ['  server CPU, cores', 'tp120', (r) => r.server_cpu_frac, 2],
  ['  server CPU µs per relayed packet', 'tp120', (r) => r.cpu_us_per_pkt, 2, true],
  ['  relayed pkt/s per fully used core', 'tp120', (r) => r.pkts_per_core_s, 0, true],
  ['  core busy, server / generator core', 'tp120', (r) => r.core_busy && `${fmt(r.core_busy[0], 2)} / ${fmt(r.core_busy[1], 2)}`],
  ['relayed pkt/s, 1200 B one way', 'tp1200', (r) => r.delivered_per_s, 0, true],
  ['  loss %', 'tp1200', (r) => r.loss_pct, 2],
  ['  server CPU µs per relayed packet', 'tp1200', (r) => r.cpu_us_per_pkt, 2, true],
  ['  relayed pkt/s per fully used core', 'tp1200', (r) => r.pkts_per_core_s, 0, true],
  ['relayed pkt/s, 120 B both ways (echo)', 'echo', (r) => r.delivered_per_s, 0, true],
  ['  loss %', 'echo', (r) => r.loss_pct, 2],
  ['  server CPU µs per relayed packet', 'echo', (r) => r.cpu_us_per_pkt, 2, true],
  ['  relayed pkt/s per fully used core', 'echo', (r) => r.pkts_per_core_s, 0, true],
  ['allocations/s (401, Allocate, Refresh 0)', 'allocs', (r) => r.allocs_per_s, 0, true],
  ['  server CPU µs per allocation', 'allocs', (r) => r.cpu_us_per_alloc, 1, true],
  ['  server CPU, cores', 'allocs', (r) => r.server_cpu_frac, 2],
  ['  errors (timeouts; by code)', 'allocs', (r) => `${r.timeouts}; ${JSON.stringify(r.errors).replace(/"/g, '')}`],
  ['latency at half max: relayed pkt/s asked / sent', 'half', (r) => `${fmt(r.relayed_per_s)} / ${fmt(r.offered_relayed_per_s ?? 2 * r.sent / r.seconds)}`],
  ['  relay RTT p50 / p99 / p99.9, µs', 'half', (r) => `${fmt(r.relay_rtt_us.p50, 1)} / ${fmt(r.relay_rtt_us.p99, 1)} / ${fmt(r.relay_rtt_us.p999, 1)}`],
  ['  direct RTT p50 / p99 / p99.9, µs', 'half', (r) => `${fmt(r.direct_rtt_us.p50, 1)} / ${fmt(r.direct_rtt_us.p99, 1)} / ${fmt(r.direct_rtt_us.p999, 1)}`],
  ['  added per pass p50 / p99, µs', 'half', (r) => `${fmt(r.added_per_pass_us.p50, 1)} / ${fmt(r.added_per_pass_us.p99, 1)}`],
  ['  loss %, server CPU', 'half', (r) => `${fmt(r.loss_pct, 2)}, ${fmt(r.server_cpu_frac, 2)}`],
  ['latency at the common rate: relayed pkt/s asked / sent', 'common', (r) => `${fmt(r.relayed_per_s)} / ${fmt(r.offered_relayed_per_s ?? 2 * r.sent / r.seconds)}`],
  ['  relay RTT p50 / p99 / p99.9, µs', 'common', (r) => `${fmt(r.relay_rtt_us.p50, 1)} / ${fmt(r.relay_rtt_us.p99, 1)} / ${fmt(r.relay_rtt_us.p999, 1)}`],
  ['  direct RTT p50 / p99 / p99.9, µs', 'common', (r) => `${fmt(r.direct_rtt_us.p50, 1)} / ${fmt(r.direct_rtt_us.p99, 1)} / ${fmt(r.direct_rtt_us.p999, 1)}`],
  ['  added per pass p50 / p99, µs', 'common', (r) => `${fmt(r.added_per_pass_us.p50, 1)} / ${fmt(r.added_per_pass_us.p99, 1)}`],
  ['  loss %, server CPU', 'common', (r) => `${fmt(r.loss_pct, 2)}, ${fmt(r.server_cpu_frac, 2)}`],
  ['turnutils_uclient: exit code', 'uclient', (r) => String(r.exit)],
  ['  sent / received / lost', 'uclient', (r) => `${fmt(r.sent)} / ${fmt(r.received)} / ${fmt(r.lost)}`],
  ['  average RTT ms, jitter ms, wall s', 'uclient', (r) => `${r.rtt_ms ?? '-'}, ${r.jitter_ms ?? '-'}, ${fmt(r.seconds, 1)}`],
  ['  last line', 'uclient', (r) => (r.exit === 0 ? '' : `\`${String(r.last_line ?? '').trim()}\``)],
];

if (machine) {
  try {
    console.log('```\n' + readFileSync(machine, 'utf8').trim() + '\n```\n');
  } catch {
    // no machine notes: the table alone
  }
}
console.log('| | webrtc2d | coturn | webrtc2d ÷ coturn |');
console.log('|---|---:|---:|---:|');
for (const [label, test, pick, digits, ratio] of lines) {
  const a = cell('webrtc2d', test, pick, digits);
  const b = cell('coturn', test, pick, digits);
  let q = '';
  if (ratio && a.value > 0 && b.value > 0) q = `${(a.value / b.value).toFixed(2)}×`;
  console.log(`| ${label.replace(/^ {2}/, '&nbsp;&nbsp;')} | ${a.text} | ${b.text} | ${q} |`);
}
// Latency at the same offered loads for both (the sweep).
const rates = [...new Set([...rows.values()].filter((r) => /^sweep\d+$/.test(r.test)).map((r) => Number(r.test.slice(5))))].sort((x, y) => x - y);
if (rates.length) {
  const us = (q) => (q ? `${fmt(q.p50, 0)} / ${fmt(q.p99, 0)}` : '-');
  const one = (sys, rate) => {
    const r = rows.get(`${sys}/sweep${rate}`);
    if (!r) return ['not run', '', '', '', ''];
    if (r.mode === 'failed') return ['failed', '', '', '', ''];
    return [fmt(r.offered_relayed_per_s ?? (2 * r.sent) / r.seconds), us(r.relay_rtt_us), us(r.direct_rtt_us), us(r.added_per_pass_us), `${fmt(r.loss_pct, 2)} %, ${fmt(r.server_cpu_frac, 2)}, ${fmt(r.gen_cpu_frac, 2)}`];
  };
  console.log('\nOpen-loop latency, 120-byte round trips through the relay (two passes) and direct; p50 / p99 in µs; loss, server CPU, generator CPU:\n');
  console.log('| relayed pkt/s asked | system | sent | relay RTT | direct RTT | added per pass | loss, server CPU, generator CPU |');
  console.log('|---:|---|---:|---:|---:|---:|---|');
  for (const rate of rates)
    for (const sys of ['webrtc2d', 'coturn'])
      console.log(`| ${fmt(rate)} | ${sys} | ${one(sys, rate).join(' | ')} |`);
}

const bg = [...rows.values()].map((r) => r.background).filter((x) => typeof x === 'number');
if (bg.length) console.log(`\nBackground load before the tests (busiest core, 1 s): ${Math.min(...bg).toFixed(2)}-${Math.max(...bg).toFixed(2)} of a core.`);
