/*
 * A load generator on epoll for socketkit's benchmarks: one thread, level-triggered, so
 * that the client costs as little as the kernel allows and what a benchmark measures is
 * the server. Built by bench/lib.ts with the system C compiler, as epoll-echo.c is.
 *
 *   epoll-client tcp|udp HOST PORT CONNS SIZE SECONDS [WARMUP_SECONDS]
 *
 * tcp: CONNS connections each send SIZE bytes (letters ending in a newline, so that line
 * echoes work too), wait until exactly those bytes are back, compare every byte, and send
 * again. udp: CONNS connected datagram sockets, each with one datagram of SIZE bytes
 * outstanding; its first 8 letters stamp a sequence number, so that an echo arriving after
 * its datagram was counted lost and sent again is told apart ("stale") from a wrong one.
 * A datagram without an echo within LOSS_TIMEOUT seconds is counted lost and sent again.
 *
 * Every connection runs WARMUP_SECONDS (default 0.25) unmeasured, then SECONDS measured.
 * The result is one line of JSON on stdout:
 *
 *   {"mode":"tcp","conns":50,"size":64,"seconds":2.000,"roundTrips":...,"perSecond":...,
 *    "errors":0,"mismatches":0,"lost":0,"stale":0,"p50Us":...,"p99Us":...,"cpuSeconds":...}
 *
 * cpuSeconds: the client's own CPU time (user and system) in the measured seconds: near
 * SECONDS, the client is the limit. errors: connections that failed (reset, closed, a read error) and were dropped;
 * mismatches: echoes whose bytes or length were wrong. Exit status 0 when both are 0 and
 * some round trip was made, 1 when not (the line is printed all the same), 2 when the run
 * could not start (stderr says why).
 * HOST is 127.0.0.1 or ::1: the benchmarks run on the loopback only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOSS_TIMEOUT 0.2
#define STAMP 8
#define MAX_EVENTS 512

/*
 * Latency histogram: 32 sub-buckets per power of two of nanoseconds (3% resolution), so
 * recording a sample is a few instructions and no memory grows with the run's length.
 */
#define SUB_BITS 5
#define SUB (1 << SUB_BITS)
static uint64_t hist[64 * SUB];

static void record(uint64_t ns) {
  int top = 63 - __builtin_clzll(ns | 1);
  int idx = top < SUB_BITS ? (int)ns : (top - SUB_BITS + 1) * SUB + (int)((ns >> (top - SUB_BITS)) & (SUB - 1));
  hist[idx]++;
}

/* The lower edge of bucket idx, in nanoseconds (the inverse of record). */
static uint64_t bucket_ns(int idx) {
  if (idx < SUB) return (uint64_t)idx;
  int top = idx / SUB + SUB_BITS - 1;
  return ((uint64_t)(SUB + idx % SUB)) << (top - SUB_BITS);
}

static double percentile_us(uint64_t total, double p) {
  if (total == 0) return 0;
  uint64_t rank = (uint64_t)(p * (double)total);
  if (rank >= total) rank = total - 1;
  uint64_t seen = 0;
  for (int i = 0; i < 64 * SUB; i++) {
    seen += hist[i];
    if (seen > rank) return (double)bucket_ns(i) / 1000.0;
  }
  return 0;
}

static double cpu_seconds(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

struct conn {
  int fd;
  int dead;
  size_t sent; /* tcp: bytes of the current message written */
  size_t got;  /* tcp: bytes of it read back */
  uint32_t seq; /* udp: the sequence number stamped in the outstanding datagram */
  uint64_t sent_at;
};

static int udp;
static size_t size;
static char *payload; /* tcp: the message; udp: the letters after the stamp */
static char *scratch; /* udp: the datagram being sent */
static char rbuf[65536];
static uint64_t round_trips, errors, mismatches, lost, stale;
static int live;
static int measuring;

static void stamp(char *p, uint32_t seq) {
  for (int i = 0; i < STAMP; i++) p[i] = (char)('a' + ((seq >> (4 * i)) & 15));
}

/* The sequence number in a stamp, or -1 when it is not one. */
static int64_t unstamp(const char *p) {
  uint32_t seq = 0;
  for (int i = 0; i < STAMP; i++) {
    if (p[i] < 'a' || p[i] > 'p') return -1;
    seq |= (uint32_t)(p[i] - 'a') << (4 * i);
  }
  return seq;
}

/* Closes a connection that failed or went out of step; the run goes on without it. */
static void drop(int ep, struct conn *c, uint64_t *counter) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->dead = 1;
  (*counter)++;
  live--;
}

/* Writes what is left of the current TCP message; waits for EPOLLOUT on a short write. */
static void tcp_send(int ep, struct conn *c) {
  while (c->sent < size) {
    ssize_t w = send(c->fd, payload + c->sent, size - c->sent, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        return;
      }
      drop(ep, c, &errors);
      return;
    }
    c->sent += (size_t)w;
  }
}

static void udp_send(int ep, struct conn *c, uint64_t now) {
  stamp(scratch, c->seq);
  c->sent_at = now;
  for (;;) {
    ssize_t w = send(c->fd, scratch, size, 0);
    if (w >= 0) return;
    if (errno == EINTR) continue;
    /* A full send buffer or an ICMP error from an earlier datagram: the loss timer resends. */
    if (errno == EAGAIN || errno == ECONNREFUSED || errno == ENOBUFS) return;
    drop(ep, c, &errors);
    return;
  }
}

static void tcp_readable(int ep, struct conn *c, uint64_t now) {
  ssize_t r = recv(c->fd, rbuf, sizeof rbuf, 0);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (r <= 0) {
    drop(ep, c, &errors);
    return;
  }
  if ((size_t)r > c->sent - c->got || memcmp(rbuf, payload + c->got, (size_t)r) != 0) {
    /* More than was sent, or other bytes: the stream is out of step; drop it. */
    drop(ep, c, &mismatches);
    return;
  }
  c->got += (size_t)r;
  if (c->got < size) return;
  if (measuring) {
    round_trips++;
    record(now - c->sent_at);
  }
  c->sent = c->got = 0;
  c->sent_at = now;
  tcp_send(ep, c);
}

static void udp_readable(int ep, struct conn *c, uint64_t now) {
  for (;;) {
    ssize_t r = recv(c->fd, rbuf, size + 1, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      /* ECONNREFUSED: an earlier datagram found no server; the loss timer resends. */
      if (errno == EAGAIN || errno == ECONNREFUSED) return;
      drop(ep, c, &errors);
      return;
    }
    int64_t seq = unstamp(rbuf);
    if ((size_t)r != size || seq < 0 || memcmp(rbuf + STAMP, payload, size - STAMP) != 0) {
      mismatches++;
      continue;
    }
    if ((uint32_t)seq != c->seq) {
      stale++; /* the echo of a datagram already counted lost */
      continue;
    }
    if (measuring) {
      round_trips++;
      record(now - c->sent_at);
    }
    c->seq++;
    udp_send(ep, c, now);
    return;
  }
}

static int open_conn(int family, const struct sockaddr *addr, socklen_t alen) {
  int fd = socket(family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
  if (fd < 0) return -1;
  /* Connect blocking (one round trip each on the loopback), then switch to non-blocking. */
  if (connect(fd, addr, alen) < 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  if (!udp) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

int main(int argc, char **argv) {
  if (argc < 7 || argc > 8 || (strcmp(argv[1], "tcp") != 0 && strcmp(argv[1], "udp") != 0)) {
    fprintf(stderr, "usage: %s tcp|udp HOST PORT CONNS SIZE SECONDS [WARMUP_SECONDS]\n", argv[0]);
    return 2;
  }
  udp = strcmp(argv[1], "udp") == 0;
  const char *host = argv[2];
  int port = atoi(argv[3]);
  int nconns = atoi(argv[4]);
  size = (size_t)atol(argv[5]);
  double seconds = atof(argv[6]);
  double warmup = argc == 8 ? atof(argv[7]) : 0.25;
  size_t min_size = udp ? STAMP + 1 : 1;
  if (port <= 0 || port > 65535 || nconns <= 0 || size < min_size || size > sizeof rbuf - 1 ||
      seconds <= 0 || warmup < 0) {
    fprintf(stderr, "epoll-client: bad arguments (size %zu to %zu bytes)\n", min_size,
            sizeof rbuf - 1);
    return 2;
  }

  struct sockaddr_storage ss = {0};
  socklen_t alen;
  int family;
  if (strcmp(host, "127.0.0.1") == 0) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &a->sin_addr);
    alen = sizeof *a;
  } else if (strcmp(host, "::1") == 0) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    inet_pton(AF_INET6, host, &a->sin6_addr);
    alen = sizeof *a;
  } else {
    fprintf(stderr, "epoll-client: HOST must be 127.0.0.1 or ::1, not %s\n", host);
    return 2;
  }

  payload = malloc(size);
  scratch = malloc(size);
  for (size_t i = 0; i < size; i++) payload[i] = (char)('a' + i % 26);
  payload[size - 1] = '\n';
  if (udp) {
    /* The letters after the stamp; the datagram is the stamp and these. */
    memmove(payload, payload + STAMP, size - STAMP);
    memcpy(scratch + STAMP, payload, size - STAMP);
  }

  int ep = epoll_create1(0);
  struct conn *conns = calloc((size_t)nconns, sizeof *conns);
  for (int i = 0; i < nconns; i++) {
    int fd = open_conn(family, (struct sockaddr *)&ss, alen);
    if (fd < 0) {
      fprintf(stderr, "epoll-client: connect to %s port %d: %s\n", host, port, strerror(errno));
      return 2;
    }
    conns[i].fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  live = nconns;

  uint64_t start = now_ns();
  uint64_t measure_from = start + (uint64_t)(warmup * 1e9);
  uint64_t end = measure_from + (uint64_t)(seconds * 1e9);
  uint64_t loss_ns = (uint64_t)(LOSS_TIMEOUT * 1e9);
  uint64_t next_scan = start + loss_ns / 10;
  measuring = warmup == 0;
  double cpu_from = cpu_seconds();
  for (int i = 0; i < nconns; i++) {
    conns[i].sent_at = start;
    if (udp)
      udp_send(ep, &conns[i], start);
    else
      tcp_send(ep, &conns[i]);
  }

  static struct epoll_event events[MAX_EVENTS];
  uint64_t now = start;
  while (live > 0) {
    if (!measuring && now >= measure_from) {
      measuring = 1;
      lost = stale = 0;
      measure_from = now;
      cpu_from = cpu_seconds();
      end = now + (uint64_t)(seconds * 1e9);
    }
    if (now >= end) break;
    uint64_t until = measuring ? end : measure_from;
    if (udp && next_scan < until) until = next_scan;
    int timeout = (int)((until - now + 999999) / 1000000);
    int n = epoll_wait(ep, events, MAX_EVENTS, timeout);
    if (n < 0 && errno != EINTR) {
      perror("epoll_wait");
      return 2;
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = events[i].data.ptr;
      if (c->dead) continue;
      now = now_ns();
      if (udp) {
        udp_readable(ep, c, now);
        continue;
      }
      if (events[i].events & EPOLLOUT) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        tcp_send(ep, c);
      }
      if (!c->dead && events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) tcp_readable(ep, c, now);
    }
    now = now_ns();
    if (udp && now >= next_scan) {
      for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        if (c->dead || now - c->sent_at < loss_ns) continue;
        lost++;
        c->seq++;
        udp_send(ep, c, now);
      }
      next_scan = now + loss_ns / 10;
    }
  }
  if (!measuring) measure_from = now; /* every connection failed during the warm-up */
  double elapsed = (double)(now - measure_from) / 1e9;
  double cpu = cpu_seconds() - cpu_from;
  printf("{\"mode\":\"%s\",\"conns\":%d,\"size\":%zu,\"seconds\":%.4f,\"roundTrips\":%llu,"
         "\"perSecond\":%.1f,\"errors\":%llu,\"mismatches\":%llu,\"lost\":%llu,\"stale\":%llu,"
         "\"p50Us\":%.1f,\"p99Us\":%.1f,\"cpuSeconds\":%.3f}\n",
         udp ? "udp" : "tcp", nconns, size, elapsed, (unsigned long long)round_trips,
         elapsed > 0 ? (double)round_trips / elapsed : 0.0, (unsigned long long)errors,
         (unsigned long long)mismatches, (unsigned long long)lost, (unsigned long long)stale,
         percentile_us(round_trips, 0.5), percentile_us(round_trips, 0.99), cpu);
  return errors == 0 && mismatches == 0 && round_trips > 0 ? 0 : 1;
}
