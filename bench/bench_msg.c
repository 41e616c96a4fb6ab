/* Micro-benchmark of the protocol v1 envelope parser (src/signal/msg.c).
 *
 * Parses two messages in a loop for about one second (of thread CPU time)
 * each, on one core:
 *   - a typical 200-byte signal (an ICE candidate);
 *   - a 2 KiB signal carrying an SDP offer (escaped CR LF every line).
 * For each it prints messages/s and ns/message for w2_msg_parse over the
 * whole second and for its best 100 ms slice, and, for
 * scale, for jansson's json_loadb + json_decref of the same bytes (which
 * builds a tree: not what the daemon does, but the usual alternative).
 *
 * Usage: bench_msg [seconds-per-case]   (default 1). Figures go in
 * docs/benchmarks.md, "Envelope parser (bench_msg)". */
#include "signal/msg.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char k_small[] =
	"{\"type\":\"signal\",\"to\":\"bob@example.org/phone\",\"id\":\"c-1042\","
	"\"data\":{\"candidate\":\"candidate:842163049 1 udp 1677729535 192.0.2.10 54321 "
	"typ srflx raddr 0.0.0.0 rport 0 generation 0\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0}}";

/* One SDP line, repeated (with a changing digit) to fill the 2 KiB message. */
static const char k_sdp_head[] =
	"{\"type\":\"signal\",\"to\":\"bob@example.org\",\"id\":\"42\",\"data\":{\"type\":\"offer\","
	"\"sdp\":\"v=0\\r\\no=- 4611731400430051336 2 IN IP4 127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\n"
	"a=group:BUNDLE 0 1\\r\\na=msid-semantic: WMS stream\\r\\n"
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 63 103 104 9 0 8 106 105 13 110 112 113 126\\r\\n"
	"c=IN IP4 0.0.0.0\\r\\na=rtcp:9 IN IP4 0.0.0.0\\r\\na=ice-ufrag:8hhY\\r\\n"
	"a=ice-pwd:asd88fgpdd777uzjYhagZg\\r\\na=ice-options:trickle\\r\\n"
	"a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:"
	"3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F\\r\\na=setup:actpass\\r\\na=mid:0\\r\\n";
static const char k_sdp_line[] = "a=rtpmap:111 opus/48000/2\\r\\na=fmtp:111 minptime=10;"
				 "useinbandfec=1\\r\\n";
static const char k_sdp_tail[] = "a=sendrecv\\r\\n\"}}";

#define BIG_BYTES 2048

/* Thread CPU time: on a shared machine, time spent descheduled is not
 * counted against the parser. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Builds the SDP-carrying message of exactly BIG_BYTES bytes into buf. */
static size_t build_big(char *buf)
{
	size_t n = strlen(k_sdp_head), tail = strlen(k_sdp_tail), line = strlen(k_sdp_line);

	memcpy(buf, k_sdp_head, n);
	while (n + line + tail <= BIG_BYTES) {
		memcpy(buf + n, k_sdp_line, line);
		n += line;
	}
	while (n + tail < BIG_BYTES)
		buf[n++] = 'x'; /* pads the last attribute line */
	memcpy(buf + n, k_sdp_tail, tail);
	return n + tail;
}

typedef int (*parse_fn)(struct w2_msg_parser *p, const char *buf, size_t len);

static int run_w2(struct w2_msg_parser *p, const char *buf, size_t len)
{
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	return w2_msg_parse(p, buf, len, &m, detail) == W2_MSG_OK && m.data.present ? 0 : -1;
}

static int run_jansson(struct w2_msg_parser *p, const char *buf, size_t len)
{
	json_t *j = json_loadb(buf, len, 0, NULL);

	(void)p;
	if (!j)
		return -1;
	json_decref(j);
	return 0;
}

/* Runs fn on buf in rounds of 256 calls; returns the seconds they took. */
static double round_s(parse_fn fn, struct w2_msg_parser *p, const char *buf, size_t len)
{
	double start = now_s();

	for (int i = 0; i < 256; i++)
		if (fn(p, buf, len) != 0)
			abort();
	return now_s() - start;
}

/* Runs fn on buf for about `seconds` of CPU time, in slices of ~100 ms.
 * Prints the overall rate and the best slice (the least disturbed by other
 * work on the machine). */
static void measure(const char *name, parse_fn fn, struct w2_msg_parser *p, const char *buf,
		    size_t len, double seconds)
{
	unsigned long long count = 0;
	double total = 0, best_ns = 1e30;

	if (fn(p, buf, len) != 0) {
		fprintf(stderr, "bench_msg: %s refused its input\n", name);
		exit(1);
	}
	while (total < seconds) {
		unsigned long long n = 0;
		double slice = 0;

		while (slice < 0.1) {
			slice += round_s(fn, p, buf, len);
			n += 256;
		}
		if (slice * 1e9 / (double)n < best_ns)
			best_ns = slice * 1e9 / (double)n;
		total += slice;
		count += n;
	}
	printf("%-32s %5zu B  %9.0f msg/s  %7.0f ns/msg  (best slice %7.0f ns/msg, %9.0f msg/s)\n",
	       name, len, (double)count / total, total * 1e9 / (double)count, best_ns,
	       1e9 / best_ns);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	struct w2_msg_parser *p;
	static char big[BIG_BYTES + 1];
	size_t big_len = build_big(big);

	if (seconds <= 0 || w2_msg_parser_create(&p, 65536) != 0) {
		fprintf(stderr, "usage: bench_msg [seconds-per-case]\n");
		return 1;
	}
	measure("w2_msg_parse signal (small)", run_w2, p, k_small, strlen(k_small), seconds);
	measure("w2_msg_parse signal+SDP (2 KiB)", run_w2, p, big, big_len, seconds);
	measure("jansson json_loadb (small)", run_jansson, p, k_small, strlen(k_small), seconds);
	measure("jansson json_loadb (2 KiB)", run_jansson, p, big, big_len, seconds);
	w2_msg_parser_destroy(p);
	return 0;
}
