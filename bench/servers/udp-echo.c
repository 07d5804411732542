/*
 * A C UDP echo server, for checking the load generator's UDP mode: one thread, blocking
 * recvfrom and sendto, nothing else. Listens on 127.0.0.1, an ephemeral port, and prints
 * "listening on 127.0.0.1:PORT" on stderr as the other bench servers do.
 * Built by bench/lib.ts with the system C compiler.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) {
    perror("bind");
    return 1;
  }
  socklen_t len = sizeof a;
  getsockname(s, (struct sockaddr *)&a, &len);
  fprintf(stderr, "listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
  fflush(stderr);
  static char buf[65536];
  for (;;) {
    struct sockaddr_storage from;
    socklen_t flen = sizeof from;
    ssize_t r = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
    if (r < 0) continue; /* EINTR, or an ICMP error of an earlier echo */
    sendto(s, buf, (size_t)r, 0, (struct sockaddr *)&from, flen);
  }
}
