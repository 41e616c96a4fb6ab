/*
 * bench/netdelay.c: a fixed one-way delay for the shaped link of
 * bench/netlink.mjs, because this kernel has no netem (../shared/RIGS.md).
 *
 * It binds an NFQUEUE (iptables -j NFQUEUE --queue-num N on the receiving
 * namespace's INPUT chain), notes when each packet arrives, and gives the
 * kernel an ACCEPT verdict for it `delay_ms` later, in arrival order, so the
 * link keeps its order and gains the delay. It speaks nfnetlink directly
 * (no libnetfilter_queue), asks for packet metadata only (NFQNL_COPY_META,
 * no payload copies), and releases every packet that is due with one batch
 * verdict. A full queue drops, as a router's queue would.
 *
 * Usage: netdelay QUEUE_NUM DELAY_MS   (prints "ready" once bound; runs
 * until SIGTERM/SIGINT, or until its parent dies).
 * Build: cc -O2 -o netdelay bench/netdelay.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <linux/prctl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HELD_MAX 65536 /* packets held at once; the kernel queue is the same */

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Appends one attribute to the message in buf; returns the new length. */
static size_t put_attr(char *buf, size_t len, uint16_t type, const void *data, uint16_t size) {
  struct nlattr *a = (struct nlattr *)(buf + len);
  a->nla_type = type;
  a->nla_len = (uint16_t)(NLA_HDRLEN + size);
  memcpy(buf + len + NLA_HDRLEN, data, size);
  return len + NLA_ALIGN(a->nla_len);
}

/* Starts a queue message (nlmsghdr + nfgenmsg) of `type` in buf. */
static size_t start_msg(char *buf, uint16_t type, uint16_t flags, uint16_t queue) {
  struct nlmsghdr *h = (struct nlmsghdr *)buf;
  memset(buf, 0, NLMSG_HDRLEN + sizeof(struct nfgenmsg));
  h->nlmsg_type = (uint16_t)((NFNL_SUBSYS_QUEUE << 8) | type);
  h->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
  struct nfgenmsg *g = (struct nfgenmsg *)NLMSG_DATA(h);
  g->nfgen_family = AF_UNSPEC;
  g->version = NFNETLINK_V0;
  g->res_id = htons(queue);
  return NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
}

static int send_msg(int fd, char *buf, size_t len) {
  ((struct nlmsghdr *)buf)->nlmsg_len = (uint32_t)len;
  struct sockaddr_nl to = {.nl_family = AF_NETLINK};
  return sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof to) < 0 ? -errno : 0;
}

/* Sends a config message and waits for its ack; 0 or -errno. */
static int config(int fd, uint16_t queue, uint16_t attr, const void *data, uint16_t size) {
  char buf[256];
  size_t len = start_msg(buf, NFQNL_MSG_CONFIG, NLM_F_ACK, queue);
  len = put_attr(buf, len, attr, data, size);
  int rc = send_msg(fd, buf, len);
  if (rc) return rc;
  char in[4096];
  ssize_t n = recv(fd, in, sizeof in, 0);
  if (n < 0) return -errno;
  struct nlmsghdr *h = (struct nlmsghdr *)in;
  if (h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
  return 0;
}

/* Accepts every queued packet up to and including `id`. */
static int release_upto(int fd, uint16_t queue, uint32_t id) {
  char buf[128];
  size_t len = start_msg(buf, NFQNL_MSG_VERDICT_BATCH, 0, queue);
  struct nfqnl_msg_verdict_hdr v = {.verdict = htonl(NF_ACCEPT), .id = htonl(id)};
  len = put_attr(buf, len, NFQA_VERDICT_HDR, &v, sizeof v);
  return send_msg(fd, buf, len);
}

/* The packet id of a NFQNL_MSG_PACKET message, or -1. */
static int64_t packet_id(struct nlmsghdr *h) {
  size_t off = NLMSG_ALIGN(sizeof(struct nfgenmsg));
  size_t end = h->nlmsg_len - NLMSG_HDRLEN;
  char *p = NLMSG_DATA(h);
  while (off + NLA_HDRLEN <= end) {
    struct nlattr *a = (struct nlattr *)(p + off);
    if (a->nla_len < NLA_HDRLEN || off + a->nla_len > end) return -1;
    if ((a->nla_type & NLA_TYPE_MASK) == NFQA_PACKET_HDR &&
        a->nla_len >= NLA_HDRLEN + sizeof(struct nfqnl_msg_packet_hdr)) {
      struct nfqnl_msg_packet_hdr ph;
      memcpy(&ph, p + off + NLA_HDRLEN, sizeof ph);
      return ntohl(ph.packet_id);
    }
    off += NLA_ALIGN(a->nla_len);
  }
  return -1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s QUEUE_NUM DELAY_MS\n", argv[0]);
    return 2;
  }
  uint16_t queue = (uint16_t)atoi(argv[1]);
  int64_t delay = (int64_t)(atof(argv[2]) * 1000);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
  if (fd < 0) { perror("socket"); return 1; }
  int big = 16 << 20, one = 1;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
  struct sockaddr_nl me = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) { perror("bind"); return 1; }

  struct nfqnl_msg_config_cmd cmd = {.command = NFQNL_CFG_CMD_BIND, .pf = htons(AF_INET)};
  struct nfqnl_msg_config_params params = {.copy_range = htonl(0), .copy_mode = NFQNL_COPY_META};
  uint32_t maxlen = htonl(HELD_MAX);
  int rc = config(fd, queue, NFQA_CFG_CMD, &cmd, sizeof cmd);
  if (!rc) rc = config(fd, queue, NFQA_CFG_PARAMS, &params, sizeof params);
  if (!rc) rc = config(fd, queue, NFQA_CFG_QUEUE_MAXLEN, &maxlen, sizeof maxlen);
  if (rc) {
    fprintf(stderr, "netdelay: binding queue %u: %s\n", queue, strerror(-rc));
    return 1;
  }
  printf("ready\n");
  fflush(stdout);

  static uint32_t ids[HELD_MAX];
  static int64_t due[HELD_MAX];
  size_t head = 0, count = 0;
  static char in[1 << 16];
  unsigned long long seen = 0, overflow = 0;
  while (!stopping) {
    int64_t t = now_us();
    int64_t last = -1;
    while (count && due[head] <= t) {
      last = ids[head];
      head = (head + 1) % HELD_MAX;
      count--;
    }
    if (last >= 0) release_upto(fd, queue, (uint32_t)last);
    int64_t wait = count ? due[head] - t : 100000;
    struct timespec ts = {.tv_sec = wait / 1000000, .tv_nsec = (wait % 1000000) * 1000};
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (ppoll(&pfd, 1, &ts, NULL) <= 0) continue;
    for (;;) {
      ssize_t n = recv(fd, in, sizeof in, MSG_DONTWAIT);
      if (n <= 0) break;
      int64_t arrived = now_us();
      for (struct nlmsghdr *h = (struct nlmsghdr *)in; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
        if ((h->nlmsg_type & 0xff) != NFQNL_MSG_PACKET) continue;
        int64_t id = packet_id(h);
        if (id < 0) continue;
        seen++;
        if (count == HELD_MAX) { overflow++; continue; } /* the kernel's queue is as long */
        size_t tail = (head + count) % HELD_MAX;
        ids[tail] = (uint32_t)id;
        due[tail] = arrived + delay;
        count++;
      }
    }
  }
  if (count) release_upto(fd, queue, ids[(head + count - 1) % HELD_MAX]);
  fprintf(stderr, "netdelay: queue %u: %llu packets delayed, %llu over the limit\n", queue, seen, overflow);
  close(fd);
  return 0;
}
