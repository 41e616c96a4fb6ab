# Sourced by the bench scripts: runs the calling script in a session of its
# own at priority PRIO (default -20; needs root).
#
# The kernel groups processes by session (autogroup), and a nice value only
# counts inside its group, so other people's builds and fuzzers in other
# sessions would still take half of each core. In a session of our own with
# that group's priority raised, the servers and load generators get their
# cores almost wholly while others' work waits. Sets AUTOGROUP to what was
# obtained, for the results' header.
PRIO=${PRIO:--20}
if [ -z "${W2_BENCH_SESSION:-}" ]; then
	W2_BENCH_SESSION=1 setsid "$0" "$@" &
	child=$!
	trap 'kill -TERM "$child" 2>/dev/null || true' INT TERM
	rc=0
	wait "$child" || rc=$?
	wait "$child" 2>/dev/null || true
	exit "$rc"
fi
if [ -w /proc/self/autogroup ] && echo "$PRIO" >/proc/self/autogroup 2>/dev/null; then
	AUTOGROUP="$(cat /proc/self/autogroup)"
else
	AUTOGROUP="unchanged (not root?): $(cat /proc/self/autogroup 2>/dev/null)"
fi
