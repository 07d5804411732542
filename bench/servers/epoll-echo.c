/*
 * A C echo server on epoll, for checking socketkit's load generator: one thread, level-
 * triggered, read and write straight back. Listens on 127.0.0.1, an ephemeral port, and
 * prints "listening on 127.0.0.1:PORT" on stderr as the other bench servers do.
 * Built by bench/lib.ts with the system C compiler.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 1024) < 0) {
    perror("bind/listen");
    return 1;
  }
  socklen_t len = sizeof a;
  getsockname(ls, (struct sockaddr *)&a, &len);
  fprintf(stderr, "listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
  fflush(stderr);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  struct epoll_event events[256];
  static char buf[65536];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == ls) {
        int c;
        while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        close(fd);
        continue;
      }
      /* Echoes are small and the client waits for each: a short write is not expected on
         loopback; if one happens, block until the rest is written. */
      for (ssize_t off = 0; off < r;) {
        ssize_t w = write(fd, buf + off, r - off);
        if (w < 0 && errno != EAGAIN) break;
        if (w > 0) off += w;
      }
    }
  }
}
