/*
 * A member farm for bench/chat-redis.ts: COUNT chat members on epoll, one thread, so that
 * reading what the servers fan out costs the bench as little as the kernel allows and what
 * it measures is the servers. Built by bench/lib.ts with the system C compiler, as
 * epoll-client.c is.
 *
 *   chat-members PORTS FIRST COUNT TAG LINE_LENGTH ROUNDS [PAUSE_US]
 *
 * Member i (FIRST <= i < FIRST + COUNT) connects to 127.0.0.1:PORTS[i % n] (PORTS is a
 * comma-separated list), sends its nickname TAG<i> and waits for `You are TAG<i>.` (at most
 * 200 members are joining at a time). Once named, every byte a member gets is a fan-out
 * line of LINE_LENGTH bytes; member 0, the sender, is not counted (a member is not sent its
 * own lines). Lines on stdout, one JSON object each:
 *
 *   {"joined":true}                  every member is named
 *   {"round":R,"at":MS}              every member has line R; MS is CLOCK_MONOTONIC in
 *                                    milliseconds (Node.js's process.hrtime is the same clock)
 *
 * Once every member is named, the farm reads as a receiver on a network does: after a
 * batch of reads it sleeps PAUSE_US microseconds (default 1000; 0: never) and takes what
 * came meanwhile in one epoll_wait, blocking only when nothing did. On the loopback the
 * sender's write does the receiver's part of TCP too, and waking a receiver that waits in
 * epoll_wait for each of 30,000 sockets would be counted as the server's work; a receiver
 * that sleeps between batches is woken by its timer instead, at most PAUSE_US late.
 *
 * A member whose connection fails or ends makes the farm exit 1, saying which on stderr:
 * the bench has lost a member and its figures would mean nothing. The farm ends with its
 * parent (PR_SET_PDEATHSIG) or on SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define JOINING_AT_ONCE 200
#define MAX_EVENTS 1024
#define TAIL 64

enum state { CONNECTING, NAMING, NAMED_LINE, COUNTING };

struct member {
  int fd;
  enum state state;
  uint32_t tail_len;
  uint64_t bytes; /* fan-out bytes received */
  uint32_t lines; /* whole lines among them */
  char tail[TAIL];
};

static struct member *members;
static int first, count, rounds;
static int ports[64], nports;
static const char *tag;
static size_t line_length;
static uint32_t *got; /* per round: members that have its line */
static int counted;   /* members that are sent the lines (all but the sender) */
static int ep;
static char rbuf[65536];
static char scratch[TAIL + sizeof rbuf];

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void fail(int k, const char *what) {
  fprintf(stderr, "chat-members: member %s%d: %s\n", tag, first + k, what);
  exit(1);
}

static void start(int k) {
  struct member *m = &members[k];
  int i = first + k;
  m->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (m->fd < 0) fail(k, strerror(errno));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ports[i % nports])};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(m->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
    fail(k, strerror(errno));
  }
  m->state = CONNECTING;
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)k};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, m->fd, &ev) < 0) fail(k, strerror(errno));
}

static void connected(int k) {
  struct member *m = &members[k];
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(m->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) fail(k, strerror(err));
  char nick[96];
  int n = snprintf(nick, sizeof nick, "%s%d\n", tag, first + k);
  if (send(m->fd, nick, (size_t)n, MSG_NOSIGNAL) != n) fail(k, "cannot send its nickname");
  m->state = NAMING;
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)k};
  epoll_ctl(ep, EPOLL_CTL_MOD, m->fd, &ev);
}

/* Fan-out bytes for member k: counts the lines it now has, and says when a round is done. */
static void fan_out(int k, size_t n) {
  struct member *m = &members[k];
  m->bytes += n;
  if (first + k == 0) return;
  uint32_t lines = (uint32_t)(m->bytes / line_length);
  for (uint32_t r = m->lines; r < lines && r < (uint32_t)rounds; r++) {
    if (++got[r] == (uint32_t)counted) {
      printf("{\"round\":%u,\"at\":%.3f}\n", r, now_ms());
      fflush(stdout);
    }
  }
  m->lines = lines;
}

/* Bytes before the member is named: the welcome, then `You are TAG<i>.` and its line end. */
static int naming(int k, const char *data, size_t n) {
  struct member *m = &members[k];
  if (m->state == NAMING) {
    char needle[96];
    int len = snprintf(needle, sizeof needle, "You are %s%d.", tag, first + k);
    memcpy(scratch, m->tail, m->tail_len);
    memcpy(scratch + m->tail_len, data, n);
    size_t all = m->tail_len + n;
    char *at = memmem(scratch, all, needle, (size_t)len);
    if (at == NULL) {
      size_t keep = all < (size_t)len - 1 ? all : (size_t)len - 1;
      memcpy(m->tail, scratch + all - keep, keep);
      m->tail_len = (uint32_t)keep;
      return 0;
    }
    m->state = NAMED_LINE;
    size_t past = (size_t)(at - scratch) + (size_t)len;
    /* What follows the needle, within this read's bytes. */
    size_t from = past > m->tail_len ? past - m->tail_len : 0;
    data += from;
    n -= from;
  }
  char *lf = memchr(data, '\n', n);
  if (lf == NULL) return 0;
  m->state = COUNTING;
  size_t rest = n - (size_t)(lf + 1 - data);
  if (rest > 0) fan_out(k, rest);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 7 && argc != 8) {
    fprintf(stderr, "usage: chat-members PORTS FIRST COUNT TAG LINE_LENGTH ROUNDS [PAUSE_US]\n");
    return 2;
  }
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  signal(SIGPIPE, SIG_IGN);
  for (char *p = strtok(argv[1], ","); p != NULL && nports < 64; p = strtok(NULL, ",")) {
    ports[nports++] = atoi(p);
  }
  first = atoi(argv[2]);
  count = atoi(argv[3]);
  tag = argv[4];
  line_length = (size_t)atol(argv[5]);
  rounds = atoi(argv[6]);
  long pause_us = argc == 8 ? atol(argv[7]) : 1000;
  struct timespec pause = {.tv_sec = pause_us / 1000000, .tv_nsec = (pause_us % 1000000) * 1000};
  if (nports == 0 || count <= 0 || line_length == 0 || rounds <= 0 || strlen(tag) > 40) {
    fprintf(stderr, "chat-members: bad arguments\n");
    return 2;
  }
  members = calloc((size_t)count, sizeof *members);
  got = calloc((size_t)rounds, sizeof *got);
  counted = first == 0 ? count - 1 : count;
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (members == NULL || got == NULL || ep < 0) {
    fprintf(stderr, "chat-members: %s\n", strerror(errno));
    return 2;
  }
  int started = 0, joining = 0, named = 0;
  struct epoll_event events[MAX_EVENTS];
  int wait = -1;
  for (;;) {
    while (joining < JOINING_AT_ONCE && started < count) {
      start(started++);
      joining++;
    }
    int ready = epoll_wait(ep, events, MAX_EVENTS, wait);
    if (ready < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "chat-members: epoll_wait: %s\n", strerror(errno));
      return 1;
    }
    /* Nothing came during the pause: block until something does. */
    wait = -1;
    for (int e = 0; e < ready; e++) {
      int k = (int)events[e].data.u32;
      struct member *m = &members[k];
      if (m->state == CONNECTING) {
        if (events[e].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) connected(k);
        continue;
      }
      ssize_t r = recv(m->fd, rbuf, sizeof rbuf, 0);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r < 0) fail(k, strerror(errno));
      if (r == 0) fail(k, "the server closed its connection");
      if (m->state == COUNTING) {
        fan_out(k, (size_t)r);
      } else if (naming(k, rbuf, (size_t)r)) {
        joining--;
        if (++named == count) {
          printf("{\"joined\":true}\n");
          fflush(stdout);
        }
      }
    }
    if (ready > 0 && ready < MAX_EVENTS && named == count && pause_us > 0) {
      nanosleep(&pause, NULL);
      wait = 0;
    }
  }
}
