#!/usr/bin/env bash
# bench/turn_bench.sh: the TURN relay benchmark, webrtc2d's built-in relay
# (src/turn/) vs coturn, in one go. `make bench-turn` runs it.
#
# UDP only, all on loopback. The server under test runs pinned to one core
# (SERVER_CPU, default 0), the load generator bench/turn_load.c to the other
# (CLIENT_CPU, default 1). The two servers run one after the other in the
# same invocation, each with the same tests:
#   tp120   relayed packets/s, client -> relay -> peer, CLIENTS allocations
#           with a channel each, WINDOW packets in flight per client
#           (closed loop), 120-byte payloads; with the server's CPU time
#           (utime + stime, all threads) per relayed packet;
#   tp1200  the same with 1200-byte payloads;
#   echo    120 bytes both ways: each peer echoes to its relayed address,
#           so the server relays every packet twice;
#   allocs  allocations/s: ALLOC_WINDOW cycles at a time of new socket,
#           Allocate (401), Allocate, Refresh LIFETIME=0;
#   half    latency p50/p99/p99.9 at half of that server's own echo maximum
#           (open loop), relay round trip against a direct round trip over
#           the same sockets in the same run;
#   common  the same at COMMON_RATE relayed packets/s for both servers;
#   sweep   the same at each of SWEEP_RATES relayed packets/s (SWEEP_DURATION
#           s each): the same offered load for both;
#   uclient coturn's own turnutils_uclient (UCLIENT_ARGS) against an echoing
#           turnutils_peer, for its figures (it is not a strong generator).
# Results: bench/results/turn-<timestamp>/ (gitignored): results.jsonl (one
# JSON line per test), server logs, summary.md (the table for
# docs/benchmarks.md, made by bench/turn_summary.mjs).
#
# Fairness: webrtc2d's relay is one thread (the TURN I/O thread; the main
# thread idles); coturn gets relay-threads=COTURN_RELAY_THREADS (default 1)
# and both processes are pinned to the same single core, so neither can use
# more than one core whatever its threads. webrtc2d gets
# bandwidth_bytes_per_s 0 (coturn's max-bps default is also no cap) and
# unauth_requests_per_s 1000000 (its default 50 per source address would
# throttle the 401s of the allocation test, which all come from 127.0.0.1;
# coturn has no such limit).
#
# Every wait is bounded, every process it starts is killed on exit.
#
# Knobs (environment): SYSTEMS="webrtc2d coturn" TESTS="tp120 tp1200 echo
#   allocs half common uclient" CLIENTS=64 WINDOW=16 ALLOC_WINDOW=256
#   DURATION=10 WARMUP=2 COMMON_RATE=20000 (relayed packets/s)
#   SWEEP_RATES="10000 50000 100000 150000 200000" SWEEP_DURATION=5
#   COTURN_RELAY_THREADS=1 UCLIENT_ARGS="-m 20 -l 120 -n 2000 -z 1"
#   SERVER_CPU=0 CLIENT_CPU=1 BUILD=build-bench SKIP_BUILD=0 IDLE_WAIT=20
#   BACKGROUND_MAX=0.10 (before each test, wait up to IDLE_WAIT s until no
#   other work uses more than that of either core; the background seen is
#   recorded with each result)
#   W2_PORT=3578 COTURN_PORT=3579 PRIO=-20 (nice value of the bench's own
#   session group: see bench/run.sh; needs root)
set -euo pipefail

# A session of our own at PRIO: see bench/session.sh.
. "$(dirname "$0")/session.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SYSTEMS=${SYSTEMS:-"webrtc2d coturn"}
TESTS=${TESTS:-"tp120 tp1200 echo allocs half common sweep uclient"}
CLIENTS=${CLIENTS:-64}
WINDOW=${WINDOW:-16}
ALLOC_WINDOW=${ALLOC_WINDOW:-256}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
COMMON_RATE=${COMMON_RATE:-20000}
SWEEP_RATES=${SWEEP_RATES-"10000 50000 100000 150000 200000"}
SWEEP_DURATION=${SWEEP_DURATION:-5}
COTURN_RELAY_THREADS=${COTURN_RELAY_THREADS:-1}
UCLIENT_ARGS=${UCLIENT_ARGS:-"-m 20 -l 120 -n 2000 -z 1"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BUILD=${BUILD:-build-bench}
IDLE_WAIT=${IDLE_WAIT:-20}
BACKGROUND_MAX=${BACKGROUND_MAX:-0.10}
SKIP_BUILD=${SKIP_BUILD:-0}
W2_PORT=${W2_PORT:-3578}
COTURN_PORT=${COTURN_PORT:-3579}
PEER_PORT=3480
SECRET="turn-bench-secret-0123456789" # >= 16 bytes; loopback only

OUT="$ROOT/bench/results/turn-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1

PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	sleep 0.3
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'echo "turn_bench.sh: interrupted"; exit 130' INT TERM

say() { printf '[turn_bench %(%H:%M:%S)T] %s\n' -1 "$*"; }

# ---------------------------------------------------------------- build

if [ "$SKIP_BUILD" != 1 ]; then
	say "building $BUILD (RelWithDebInfo)"
	cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$OUT/cmake.log"
	cmake --build "$BUILD" -j2 --target webrtc2d turn_load >>"$OUT/cmake.log" 2>&1 ||
		{ say "build failed (see $OUT/cmake.log)"; exit 1; }
fi
LOAD="$BUILD/turn_load"
[ -x "$LOAD" ] && [ -x "$BUILD/webrtc2d" ] || { say "no $LOAD or $BUILD/webrtc2d"; exit 1; }

{
	echo "date: $(date -Is)"
	echo "host: $(uname -srm), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null) (uncommitted changes under src/: $(git status --porcelain src 2>/dev/null | wc -l) files)"
	echo "coturn: $(turnserver --version 2>/dev/null | head -1)"
	echo "autogroup: $AUTOGROUP"
	echo "load before the run: $(cat /proc/loadavg)"
	echo "knobs: CLIENTS=$CLIENTS WINDOW=$WINDOW ALLOC_WINDOW=$ALLOC_WINDOW DURATION=$DURATION WARMUP=$WARMUP COMMON_RATE=$COMMON_RATE COTURN_RELAY_THREADS=$COTURN_RELAY_THREADS"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"

# ---------------------------------------------------------------- servers

SERVER_PID=
PORT=

# Waits (<= 5 s) until a UDP socket listens on 127.0.0.1:$1.
wait_udp() {
	local i
	for i in $(seq 50); do
		ss -Huln "sport = :$1" 2>/dev/null | grep -q . && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

start_webrtc2d() {
	local dir="$OUT/webrtc2d"
	mkdir -p "$dir/state"
	cat >"$dir/config.yaml" <<EOF
roles: [turn]
state_dir: $dir/state
turn:
  listen: [{address: "127.0.0.1:$W2_PORT"}]
  secret: "$SECRET"
  allowed_peer_ranges: ["127.0.0.0/8"]
  bandwidth_bytes_per_s: 0
  max_allocations: 16000
  max_allocations_per_user: 16000
  unauth_requests_per_s: 1000000
EOF
	WEBRTC2_LOG_LEVEL=warn taskset -c "$SERVER_CPU" "$BUILD/webrtc2d" --config "$dir/config.yaml" \
		>>"$dir/server.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	PORT=$W2_PORT
	wait_udp "$PORT"
}

start_coturn() {
	local dir="$OUT/coturn"
	mkdir -p "$dir"
	cat >"$dir/turnserver.conf" <<EOF
listening-ip=127.0.0.1
relay-ip=127.0.0.1
listening-port=$COTURN_PORT
min-port=49152
max-port=65535
relay-threads=$COTURN_RELAY_THREADS
fingerprint
realm=bench.local
use-auth-secret
static-auth-secret=$SECRET
allow-loopback-peers
no-multicast-peers
no-tcp-relay
no-tls
no-dtls
no-cli
no-software-attribute
log-file=$dir/server.log
simple-log
EOF
	taskset -c "$SERVER_CPU" turnserver -c "$dir/turnserver.conf" --pidfile="$dir/pid" \
		--userdb="$dir/db" >>"$dir/stdout.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	PORT=$COTURN_PORT
	wait_udp "$PORT"
}

stop_server() {
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	for _ in $(seq 30); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
}

# ---------------------------------------------------------------- tests

# "busy total" ticks of one core (busy = user nice system irq softirq).
core_ticks() {
	awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat
}
# Other work on the two cores over one second, before a test (max of both).
background() {
	local a0 b0 a1 b1
	a0=$(core_ticks "$SERVER_CPU"); b0=$(core_ticks "$CLIENT_CPU")
	sleep 1
	a1=$(core_ticks "$SERVER_CPU"); b1=$(core_ticks "$CLIENT_CPU")
	awk -v a0="$a0" -v a1="$a1" -v b0="$b0" -v b1="$b1" 'BEGIN {
		split(a0, w, " "); split(a1, x, " "); split(b0, y, " "); split(b1, z, " ");
		p = (x[2] > w[2]) ? (x[1] - w[1]) / (x[2] - w[2]) : 0;
		q = (z[2] > y[2]) ? (z[1] - y[1]) / (z[2] - y[2]) : 0;
		printf "%.2f", (p > q ? p : q) }'
}

# Waits (at most IDLE_WAIT s) until other work leaves both cores idle but
# for BACKGROUND_MAX of a core; prints the last background measured.
wait_idle() {
	local deadline=$((SECONDS + IDLE_WAIT)) bg
	while :; do
		bg=$(background)
		if awk -v b="$bg" -v m="$BACKGROUND_MAX" 'BEGIN {exit !(b <= m)}' ||
			[ $SECONDS -ge $deadline ]; then
			echo "$bg"
			return 0
		fi
		sleep 1
	done
}

# run_load SYSTEM TEST turn_load-args...: one JSON line into results.jsonl.
run_load() {
	local sys=$1 test=$2 bg line
	shift 2
	bg=$(wait_idle)
	say "$sys $test (background load $bg): turn_load $*"
	if ! line=$(timeout $((${DURATION%.*} + ${WARMUP%.*} + 40)) taskset -c "$CLIENT_CPU" \
		"$LOAD" "$@" --server "127.0.0.1:$PORT" --secret "$SECRET" --pid "$SERVER_PID" \
		--duration "$DURATION" --warmup "$WARMUP" 2>>"$OUT/$sys/load.log"); then
		say "$sys $test FAILED: $(tail -1 "$OUT/$sys/load.log")"
		line="{\"mode\":\"failed\",\"error\":$(tail -1 "$OUT/$sys/load.log" | jq -Rs .)}"
	fi
	tail -1 "$OUT/$sys/load.log"
	if ! kill -0 "$SERVER_PID" 2>/dev/null; then
		say "$sys DIED during $test"
		line="${line%\}},\"server_died\":true}"
	fi
	echo "$line" | jq -c --arg s "$sys" --arg t "$test" --argjson bg "$bg" \
		'{system: $s, test: $t, background: $bg} + .' >>"$OUT/results.jsonl"
}

field() { # SYSTEM TEST JQ-PATH
	jq -r --arg s "$1" --arg t "$2" "select(.system == \$s and .test == \$t) | $3 // empty" \
		"$OUT/results.jsonl" | tail -1
}

run_uclient() {
	local sys=$1 peer_pid out="$OUT/$sys/uclient.log" rc=0 t0 t1
	taskset -c "$CLIENT_CPU" turnutils_peer -L 127.0.0.2 -p "$PEER_PORT" >"$OUT/$sys/peer.log" 2>&1 &
	peer_pid=$!
	PIDS+=("$peer_pid")
	sleep 0.3
	say "$sys uclient: turnutils_uclient $UCLIENT_ARGS -c -W SECRET -u bench -e 127.0.0.2 -r $PEER_PORT -p $PORT 127.0.0.1"
	t0=$(date +%s.%N)
	# shellcheck disable=SC2086
	timeout 120 taskset -c "$CLIENT_CPU" turnutils_uclient $UCLIENT_ARGS -c -W "$SECRET" -u bench \
		-e 127.0.0.2 -r "$PEER_PORT" -p "$PORT" 127.0.0.1 >"$out" 2>&1 || rc=$?
	t1=$(date +%s.%N)
	kill -TERM "$peer_pid" 2>/dev/null || true
	wait "$peer_pid" 2>/dev/null || true
	{ grep -E "tot_send_msgs|Total lost|round trip delay|jitter|Total transmit time" "$out" || tail -2 "$out"; } |
		tail -5 | sed 's/^/    /' || true
	# uclient prints e.g. "tot_send_msgs=40000, tot_recv_msgs=40000" and
	# "Average round trip delay 0.300000 ms; min = 0 ms, max = 3 ms".
	awk -v s="$sys" -v rc="$rc" -v secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" '
		/tot_send_msgs=/ { split($0, a, /tot_send_msgs=|, tot_recv_msgs=/); sent = a[2] + 0; recv = a[3] + 0 }
		/Total lost packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") lost = $(i + 1) + 0 }
		/Average round trip delay/ { for (i = 1; i < NF; i++) if ($i == "delay") rtt = $(i + 1) + 0 }
		/Average jitter/ { for (i = 1; i < NF; i++) if ($i == "jitter") jit = $(i + 1) + 0 }
		END { printf "{\"system\":\"%s\",\"test\":\"uclient\",\"exit\":%d,\"seconds\":%.2f,\"sent\":%d,\"received\":%d,\"lost\":%d,\"rtt_ms\":%s,\"jitter_ms\":%s}\n",
			s, rc, secs, sent, recv, lost, (rtt == "" ? "null" : rtt), (jit == "" ? "null" : jit) }' \
		"$out" | jq -c --arg last "$(tail -1 "$out")" '. + {last_line: $last}' >>"$OUT/results.jsonl"
}

bench_system() {
	local sys=$1 max rate
	if ! "start_$sys"; then
		say "$sys did not start (see $OUT/$sys/)"
		return 0
	fi
	say "$sys started, pid $SERVER_PID, port $PORT"
	for t in $TESTS; do
		kill -0 "$SERVER_PID" 2>/dev/null || { say "$sys is not running: skipping $t"; continue; }
		case $t in
		tp120) run_load "$sys" tp120 throughput --clients "$CLIENTS" --window "$WINDOW" --payload 120 ;;
		tp1200) run_load "$sys" tp1200 throughput --clients "$CLIENTS" --window "$WINDOW" --payload 1200 ;;
		echo) run_load "$sys" echo throughput --clients "$CLIENTS" --window "$WINDOW" --payload 120 --echo ;;
		allocs) run_load "$sys" allocs allocs --clients "$ALLOC_WINDOW" ;;
		half)
			# Half of this server's echo maximum in relayed packets/s; a
			# round trip is two relayed packets.
			max=$(field "$sys" echo .delivered_per_s)
			[ -n "$max" ] || { say "$sys: no echo maximum, skipping half"; continue; }
			rate=$(awk -v m="$max" 'BEGIN {printf "%d", m / 4}')
			run_load "$sys" half latency --clients "$CLIENTS" --payload 120 --rate "$rate"
			;;
		common)
			rate=$(awk -v m="$COMMON_RATE" 'BEGIN {printf "%d", m / 2}')
			run_load "$sys" common latency --clients "$CLIENTS" --payload 120 --rate "$rate"
			;;
		sweep)
			for rate in $SWEEP_RATES; do
				DURATION=$SWEEP_DURATION run_load "$sys" "sweep$rate" latency --clients "$CLIENTS" \
					--payload 120 --rate "$(awk -v m="$rate" 'BEGIN {printf "%d", m / 2}')"
			done
			;;
		uclient) run_uclient "$sys" ;;
		esac
	done
	if kill -0 "$SERVER_PID" 2>/dev/null; then
		echo "VmRSS at the end: $(awk '/^VmRSS/ {print $2, $3}' "/proc/$SERVER_PID/status")" \
			>>"$OUT/$sys/server.log.note"
	else
		say "$sys exited on its own (see $OUT/$sys/server.log)"
	fi
	stop_server
}

for sys in $SYSTEMS; do
	bench_system "$sys"
done

node bench/turn_summary.mjs "$OUT/results.jsonl" "$OUT/machine.txt" >"$OUT/summary.md"
cat "$OUT/summary.md"
say "results in $OUT"
