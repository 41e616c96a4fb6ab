#!/usr/bin/env bash
# bench/run.sh: the signaling relay benchmark, webrtc2d vs PeerJS vs the
# libwebsockets baseline (bench/lws_relay.c), in one go. `make bench` runs it.
#
# On the 2-core bench machine the server under test runs pinned to one core
# (SERVER_CPU, default 0) and the load generators to the other (CLIENT_CPU,
# default 1). All traffic is loopback. For each system and each of plain
# WebSocket and TLS it measures:
# plus, plain only, bench/null_relay.c: a relay that does nothing but move the
# bytes, showing what the machine and the load generator cost by themselves.
#   conns   how many connections it holds (CONNS, split over LG_PROCS load
#           generator processes) and its RSS per connection
#           ((VmRSS with them - VmRSS before) / connections held);
#   max     relayed messages/s with PAIRS pairs relaying, closed loop with
#           WINDOW messages in flight per pair, and the server's CPU use;
#   half    latency p50/p99/p99.9 at half of that system's own maximum;
#   common  latency at COMMON_RATE msg/s, the same for every system;
#   sweep   latency at rising open-loop rates (SWEEP_RATES), up to the first
#           rate the system cannot carry: the highest rate with p99 < 2 ms.
# Results: bench/results/<timestamp>/ (gitignored): one JSON line per run,
# server logs, summary.md (the table for docs/benchmarks.md), summary.json.
#
# Every wait is bounded, every process it starts is killed on exit.
#
# Knobs (environment): SYSTEMS="webrtc2d peerjs lws null" MODES="plain tls"
#   TESTS="conns max half common sweep"
#   CONNS=19000 LG_PROCS=2 PAIRS=1000 WINDOW=16 PAYLOAD=200 DURATION=10
#   WARMUP=3 HOLD=5 COMMON_RATE=20000 SWEEP_RATES="5000 ... 160000" (empty:
#   no sweep) SWEEP_DURATION=5 PROFILE=0 (1: perf record webrtc2d
#   at max rate) BUILD=build-bench SKIP_BUILD=0 IDLE_WAIT=0 BACKGROUND_MAX=0.10
#   (before each test, wait until no other work uses more than that of a
#   core) PRIO=-20 (nice value of the bench's own session group and of the
#   server and load generators: on a shared machine they then get their
#   cores almost wholly; needs root)
set -euo pipefail

# A session of our own at PRIO: see bench/session.sh.
. "$(dirname "$0")/session.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SYSTEMS=${SYSTEMS:-"webrtc2d peerjs lws null"}
MODES=${MODES:-"plain tls"}
TESTS=${TESTS:-"conns max half common sweep"}
CONNS=${CONNS:-19000}
LG_PROCS=${LG_PROCS:-2}
PAIRS=${PAIRS:-1000}
WINDOW=${WINDOW:-16}
PAYLOAD=${PAYLOAD:-200}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
HOLD=${HOLD:-5}
COMMON_RATE=${COMMON_RATE:-20000}
SWEEP_RATES=${SWEEP_RATES-"5000 10000 20000 40000 60000 80000 100000 130000 160000"}
SWEEP_DURATION=${SWEEP_DURATION:-5}
PROFILE=${PROFILE:-0}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BUILD=${BUILD:-build-bench}
SKIP_BUILD=${SKIP_BUILD:-0}
CONNECT_TIMEOUT=${CONNECT_TIMEOUT:-240}
IDLE_WAIT=${IDLE_WAIT:-0}
BACKGROUND_MAX=${BACKGROUND_MAX:-0.10}
SECRET="bench-only-hs256-secret-0123456789abcdef" # >= 32 bytes; loopback only

OUT="$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
LOG="$OUT/run.log"
exec > >(tee -a "$LOG") 2>&1

PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	sleep 0.5
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted"; exit 130' INT TERM

say() { printf '[run.sh %(%H:%M:%S)T] %s\n' -1 "$*"; }

# ---------------------------------------------------------------- build

build() {
	if [ "$SKIP_BUILD" != 1 ]; then
		say "building $BUILD (RelWithDebInfo)"
		cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$OUT/cmake.log"
		local t
		for t in loadgen lws_relay null_relay webrtc2d; do
			if ! cmake --build "$BUILD" -j2 --target "$t" >>"$OUT/cmake.log" 2>&1; then
				say "build of $t failed (see $OUT/cmake.log)"
			fi
		done
	fi
	LOADGEN="$BUILD/loadgen"
	[ -x "$LOADGEN" ] || { say "no $LOADGEN"; exit 1; }
	# Without bench/lws.cmake the CMake target is a stub; build the real one here.
	LWS_RELAY="$BUILD/lws_relay"
	if ! grep -q lws_create_context "$LWS_RELAY" 2>/dev/null; then
		LWS_RELAY="$OUT/lws_relay"
		say "building lws_relay with cc (bench/lws.cmake is not included)"
		cc -std=c11 -O2 -g -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DJSMN_STRICT \
			-DJSMN_PARENT_LINKS -DW2_HAVE_LWS bench/lws_relay.c -o "$LWS_RELAY" \
			$(pkg-config --cflags --libs libwebsockets libuv jansson)
	fi
}

# ---------------------------------------------------------------- run dir

prepare() {
	# A self-signed ECDSA P-256 certificate (what a modern deployment uses;
	# an RSA-2048 key would make every handshake several times dearer).
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$OUT/key.pem" -out "$OUT/cert.pem" -days 7 -subj /CN=127.0.0.1 \
		-addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
	mkdir -p "$OUT/state"
	cat >"$OUT/webrtc2d.yaml" <<EOF
# Written by bench/run.sh: limits raised so that only the machine limits.
state_dir: $OUT/state
listen:
  - address: 127.0.0.1:8080
  - address: 127.0.0.1:8443
    tls: true
tls: {cert_file: $OUT/cert.pem, key_file: $OUT/key.pem}
auth:
  keys:
    - alg: HS256
      secret: "$SECRET"
limits: {messages_per_second: 1000000, message_burst: 1000000, max_connections: 19900, sessions_per_user: 10}
logging: {level: warn}
EOF
	{
		echo "date: $(date -u +%FT%TZ)"
		echo "host: $(uname -srm), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
		echo "memory: $(free -m | awk '/Mem:/ {print $2}') MiB; RLIMIT_NOFILE $(ulimit -Sn)/$(ulimit -Hn)"
		echo "git: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
		echo "node: $(node --version 2>/dev/null); peer: $(node -p 'require("./node_modules/peer/package.json").version' 2>/dev/null)"
		echo "libwebsockets: $(pkg-config --modversion libwebsockets); libuv: $(pkg-config --modversion libuv); openssl: $(openssl version)"
		echo "load before the run: $(cat /proc/loadavg)"
		echo "priority: nice $PRIO for the server and the load generators; scheduling group: $AUTOGROUP"
		echo "knobs: CONNS=$CONNS LG_PROCS=$LG_PROCS PAIRS=$PAIRS WINDOW=$WINDOW PAYLOAD=$PAYLOAD DURATION=$DURATION WARMUP=$WARMUP COMMON_RATE=$COMMON_RATE"
	} >"$OUT/machine.txt"
	cat "$OUT/machine.txt"
}

# ---------------------------------------------------------------- processes

SERVER_PID=
start_server() { # name logfile cmd...
	local name=$1 log=$2
	shift 2
	taskset -c "$SERVER_CPU" nice -n "$PRIO" "$@" >"$log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	say "started $name (pid $SERVER_PID): $*"
}

stop_server() {
	[ -n "$SERVER_PID" ] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	local i
	for i in $(seq 50); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
}

wait_port() { # port
	local i
	for i in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		kill -0 "$SERVER_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

server_alive() { [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
# utime + stime of every thread, in clock ticks (fields 14 and 15). Softirq
# time is not in it: on loopback the kernel's TCP receive work for a packet
# runs on the sending core, as softirq, charged to no process.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# "busy total" ticks of one core from /proc/stat (busy = user nice system
# irq softirq; total adds idle iowait steal).
core_ticks() {
	awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat
}
busy_frac() { # "b0 t0" "b1 t1"
	awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " "); t = y[2] - x[2];
		printf "%.3f", (t > 0 ? (y[1] - x[1]) / t : 0)}'
}

# Other work on the machine (builds, fuzzers) would distort every figure:
# waits (bounded by IDLE_WAIT seconds) until both cores are idle but for
# BACKGROUND_MAX, and leaves the last measured background in BACKGROUND.
BACKGROUND=0
wait_idle() {
	local deadline=$((SECONDS + IDLE_WAIT)) a0 a1 b0 b1 x y warned=0
	while :; do
		a0=$(core_ticks "$SERVER_CPU")
		b0=$(core_ticks "$CLIENT_CPU")
		sleep 1
		a1=$(core_ticks "$SERVER_CPU")
		b1=$(core_ticks "$CLIENT_CPU")
		x=$(busy_frac "$a0" "$a1")
		y=$(busy_frac "$b0" "$b1")
		BACKGROUND=$(awk -v x="$x" -v y="$y" 'BEGIN {printf "%.2f", (x > y ? x : y)}')
		if awk -v b="$BACKGROUND" -v m="$BACKGROUND_MAX" 'BEGIN {exit !(b <= m)}'; then
			return 0
		fi
		if [ $SECONDS -ge $deadline ]; then
			say "warning: the machine is busy (background load $BACKGROUND of a core); measuring anyway"
			return 0
		fi
		if [ $warned = 0 ]; then
			say "waiting for other work to finish (background load $BACKGROUND of a core)"
			ps -eo pcpu,comm --sort=-pcpu | sed -n 2,4p | sed 's/^/    /'
			warned=1
		fi
		sleep 2
	done
}

# Waits (bounded) until the server has closed the previous run's sockets.
wait_quiet() {
	local i base=${1:-64}
	for i in $(seq 100); do
		[ "$(fd_count "$SERVER_PID")" -le "$base" ] && return 0
		sleep 0.1
	done
	say "warning: server still has $(fd_count "$SERVER_PID") fds open"
}

# Starts one load generator pinned to the client core; its pid in LG_PID.
LG_PID=
start_loadgen() { # result-file args...
	local res=$1
	shift
	timeout -k 5 $((CONNECT_TIMEOUT + 120 + ${DURATION%.*} + ${WARMUP%.*})) \
		taskset -c "$CLIENT_CPU" nice -n "$PRIO" "$LOADGEN" --quiet "$@" >"$res" 2>"$res.err" &
	LG_PID=$!
	PIDS+=("$LG_PID")
}

wait_files() { # seconds files...
	local limit=$1 i f ok
	shift
	for i in $(seq $((limit * 10))); do
		ok=1
		for f in "$@"; do [ -f "$f" ] || ok=0; done
		[ $ok = 1 ] && return 0
		server_alive || return 1
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------- tests

# conns: CONNS idle authenticated connections over LG_PROCS processes.
test_conns() { # tag url proto
	local tag=$1 url=$2 proto=$3 i per pids=() ready=() res=()
	wait_quiet
	wait_idle
	local rss0 fd0 cpu0 cpu1 t0 t1
	rss0=$(rss_kb "$SERVER_PID")
	fd0=$(fd_count "$SERVER_PID")
	cpu0=$(cpu_ticks "$SERVER_PID")
	per=$((CONNS / LG_PROCS))
	local span=$((38 / LG_PROCS))
	for i in $(seq 0 $((LG_PROCS - 1))); do
		local n=$per
		[ "$i" = $((LG_PROCS - 1)) ] && n=$((CONNS - per * (LG_PROCS - 1)))
		local lo=$((2 + i * span)) hi=$((2 + i * span + span - 1))
		rm -f "$OUT/$tag-conns.$i.ready"
		ready+=("$OUT/$tag-conns.$i.ready")
		res+=("$OUT/$tag-conns.$i.out")
		start_loadgen "$OUT/$tag-conns.$i.out" --url "$url" --proto "$proto" --secret "$SECRET" \
			--conns "$n" --pairs 0 --warmup 0 --duration 100000 --user-base $((1000000 * (i + 1))) \
			--src-addrs "127.0.0.$lo-127.0.0.$hi" --ready-file "$OUT/$tag-conns.$i.ready" \
			--connect-timeout "$CONNECT_TIMEOUT" --label "$tag-conns"
		pids+=("$LG_PID")
	done
	if ! wait_files $((CONNECT_TIMEOUT + 30)) "${ready[@]}"; then
		say "$tag conns: connect phase did not finish (server alive: $(server_alive && echo yes || echo no))"
	fi
	cpu1=$(cpu_ticks "$SERVER_PID")
	sleep "$HOLD" # connections must stay up, not just come up
	local rss1 fd1
	rss1=$(rss_kb "$SERVER_PID")
	fd1=$(fd_count "$SERVER_PID")
	for i in "${pids[@]}"; do kill -INT "$i" 2>/dev/null || true; done
	for i in "${pids[@]}"; do wait "$i" 2>/dev/null || true; done
	"$LOADGEN" --merge "${res[@]}" >"$OUT/$tag-conns.json" || echo '{}' >"$OUT/$tag-conns.json"
	# Server CPU seconds spent while the connections were being set up.
	printf '{"rss_before_kb":%s,"rss_after_kb":%s,"fds_before":%s,"fds_after":%s,"background":%s,"connect_cpu_s":%s,"alive":%s}\n' \
		"${rss0:-0}" "${rss1:-0}" "$fd0" "$fd1" "$BACKGROUND" \
		"$(awk -v a="${cpu0:-0}" -v b="${cpu1:-0}" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (b - a) / hz}')" \
		"$(server_alive && echo true || echo false)" >"$OUT/$tag-conns.server.json"
	say "$tag conns: $(cut -c1-400 "$OUT/$tag-conns.json") rss ${rss0} -> ${rss1} kB, fds $fd0 -> $fd1"
}

# relay: PAIRS pairs at rate (0 = closed loop, the maximum).
test_relay() { # tag url proto name rate [duration warmup]
	local tag=$1 url=$2 proto=$3 name=$4 rate=$5
	local DURATION=${6:-$DURATION} WARMUP=${7:-$WARMUP}
	wait_quiet
	wait_idle
	local res="$OUT/$tag-$name.out" ready="$OUT/$tag-$name.ready"
	rm -f "$ready"
	start_loadgen "$res" --url "$url" --proto "$proto" --secret "$SECRET" --conns $((2 * PAIRS)) \
		--pairs "$PAIRS" --rate "$rate" --window "$WINDOW" --payload "$PAYLOAD" \
		--warmup "$WARMUP" --duration "$DURATION" --user-base 5000000 --ready-file "$ready" \
		--connect-timeout "$CONNECT_TIMEOUT" --label "$tag-$name"
	local pid=$LG_PID cpu0 cpu1 perfpid= sc0= sc1= cc0= cc1=
	if wait_files $((CONNECT_TIMEOUT + 30)) "$ready"; then
		sleep "$WARMUP"
		cpu0=$(cpu_ticks "$SERVER_PID")
		sc0=$(core_ticks "$SERVER_CPU")
		cc0=$(core_ticks "$CLIENT_CPU")
		if [ "$PROFILE" = 1 ] && [ "$name" = max ] && [ "${tag%%-*}" = webrtc2d ]; then
			perf record -g -o "$OUT/$tag-$name.perf.data" -p "$SERVER_PID" -- sleep $((DURATION / 2)) \
				>"$OUT/$tag-$name.perf.log" 2>&1 &
			perfpid=$!
			PIDS+=("$perfpid")
		fi
		sleep "$DURATION"
		cpu1=$(cpu_ticks "$SERVER_PID")
		sc1=$(core_ticks "$SERVER_CPU")
		cc1=$(core_ticks "$CLIENT_CPU")
	fi
	wait "$pid" 2>/dev/null || true
	[ -n "$perfpid" ] && wait "$perfpid" 2>/dev/null || true
	grep '^{"loadgen"' "$res" | tail -1 >"$OUT/$tag-$name.json" || echo '{}' >"$OUT/$tag-$name.json"
	local hz
	hz=$(getconf CLK_TCK)
	printf '{"background":%s,"server_cpu":%s,"server_core_busy":%s,"client_core_busy":%s,"alive":%s}\n' "$BACKGROUND" \
		"$(awk -v a="${cpu0:-0}" -v b="${cpu1:-0}" -v hz="$hz" -v d="$DURATION" 'BEGIN {printf "%.3f", (b - a) / hz / d}')" \
		"$(busy_frac "${sc0:-0 0}" "${sc1:-0 0}")" "$(busy_frac "${cc0:-0 0}" "${cc1:-0 0}")" \
		"$(server_alive && echo true || echo false)" >"$OUT/$tag-$name.server.json"
	say "$tag $name: $(cut -c1-330 "$OUT/$tag-$name.json") $(cat "$OUT/$tag-$name.server.json")"
}

# sweep: open-loop latency at rising rates, to find the highest rate a
# system sustains with p99 under 2 ms. Stops after the first overloaded point
# (under 95 % delivered, or p99 over 50 ms).
test_sweep() { # tag url proto
	local tag=$1 url=$2 proto=$3 rate verdict
	for rate in $SWEEP_RATES; do
		server_alive || return 0
		test_relay "$tag" "$url" "$proto" "sweep-$rate" "$rate" "$SWEEP_DURATION" 1
		verdict=$(node -e '
			const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8") || "{}");
			const ok = j.sent > 0 && j.received >= 0.95 * j.sent && j.p99_us < 50000;
			console.log(ok ? "ok" : "overloaded");' "$OUT/$tag-sweep-$rate.json" 2>/dev/null || echo overloaded)
		[ "$verdict" = ok ] || break
	done
}

want() { case " $TESTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

max_rate_of() { # json file -> msgs/s
	node -e 'const fs=require("fs");try{const j=JSON.parse(fs.readFileSync(process.argv[1],"utf8"));console.log(Math.floor(j.msgs_per_s||0))}catch(e){console.log(0)}' "$1"
}

run_system_mode() { # system mode
	local sys=$1 mode=$2 tag="$1-$2" url port proto=webrtc2
	case "$sys-$mode" in
	webrtc2d-plain) port=8080; url=ws://127.0.0.1:8080/signal
		start_server webrtc2d "$OUT/$tag.log" "$BUILD/webrtc2d" --config "$OUT/webrtc2d.yaml" ;;
	webrtc2d-tls) port=8443; url=wss://127.0.0.1:8443/signal
		start_server webrtc2d "$OUT/$tag.log" "$BUILD/webrtc2d" --config "$OUT/webrtc2d.yaml" ;;
	peerjs-plain) port=9000; url=ws://127.0.0.1:9000/peerjs; proto=peerjs
		start_server peerjs "$OUT/$tag.log" node bench/peerjs_server.mjs --port 9000 ;;
	peerjs-tls) port=9443; url=wss://127.0.0.1:9443/peerjs; proto=peerjs
		start_server peerjs "$OUT/$tag.log" node bench/peerjs_server.mjs --port 9443 \
			--tls-cert "$OUT/cert.pem" --tls-key "$OUT/key.pem" ;;
	lws-plain) port=8081; url=ws://127.0.0.1:8081/signal
		start_server lws_relay "$OUT/$tag.log" "$LWS_RELAY" --port 8081 ;;
	lws-tls) port=8444; url=wss://127.0.0.1:8444/signal
		start_server lws_relay "$OUT/$tag.log" "$LWS_RELAY" --port 8081 --tls-port 8444 \
			--cert "$OUT/cert.pem" --key "$OUT/key.pem" ;;
	null-plain) port=8082; url=ws://127.0.0.1:8082/signal
		start_server null_relay "$OUT/$tag.log" "$BUILD/null_relay" --port 8082 ;;
	null-tls) return ;; # the floor has no TLS
	*) say "unknown system/mode $sys/$mode"; return ;;
	esac
	if ! wait_port "$port"; then
		say "$tag: server did not start; log:"
		tail -20 "$OUT/$tag.log"
		stop_server
		return
	fi
	sleep 0.5
	want conns && test_conns "$tag" "$url" "$proto"
	want max && server_alive && test_relay "$tag" "$url" "$proto" max 0
	local max half
	max=$(max_rate_of "$OUT/$tag-max.json")
	half=$((max / 2))
	if want half && server_alive && [ "$half" -gt 0 ]; then
		test_relay "$tag" "$url" "$proto" half "$half"
	fi
	want common && server_alive && test_relay "$tag" "$url" "$proto" common "$COMMON_RATE"
	want sweep && [ -n "$SWEEP_RATES" ] && server_alive && test_sweep "$tag" "$url" "$proto"
	if ! server_alive; then
		say "$tag: SERVER DIED; last log lines:"
		tail -5 "$OUT/$tag.log"
	fi
	printf '{"rss_end_kb":%s}\n' "$(rss_kb "$SERVER_PID")" >"$OUT/$tag-end.server.json"
	stop_server
}

# ---------------------------------------------------------------- main

build
prepare
for sys in $SYSTEMS; do
	if [ "$sys" = webrtc2d ] && [ ! -x "$BUILD/webrtc2d" ]; then
		say "no $BUILD/webrtc2d: skipping webrtc2d"
		continue
	fi
	for mode in $MODES; do
		run_system_mode "$sys" "$mode"
	done
done
if [ "$PROFILE" = 1 ]; then
	for f in "$OUT"/*.perf.data; do
		[ -f "$f" ] || continue
		perf report -i "$f" --no-children --sort dso,sym -g none --percent-limit 0.7 2>/dev/null \
			| grep -v '^$' | head -60 >"${f%.data}.txt" || true
	done
fi
node bench/summary.mjs "$OUT" | tee "$OUT/summary.md"
say "results in $OUT"
