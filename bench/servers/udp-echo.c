/*
 * A C UDP echo server, for checking the load generator's UDP mode: one thread that takes
 * every datagram waiting in one recvmmsg (blocking until there is one) and sends the
 * echoes back in one sendmmsg, nothing else, so no server that batches its system calls
 * can pass it by doing so. Listens on 127.0.0.1, an ephemeral port, and prints
 * "listening on 127.0.0.1:PORT" on stderr as the other bench servers do.
 * Built by bench/lib.ts with the system C compiler.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define SLOT 65536

static char bufs[BATCH][SLOT];
static struct sockaddr_storage names[BATCH];
static struct iovec iov[BATCH];
static struct mmsghdr msgs[BATCH];

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
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = SLOT;
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &names[i];
      msgs[i].msg_hdr.msg_namelen = sizeof names[i];
    }
    int n = recvmmsg(s, msgs, BATCH, MSG_WAITFORONE, NULL);
    if (n <= 0) continue; /* EINTR, or an ICMP error of an earlier echo */
    for (int i = 0; i < n; i++) iov[i].iov_len = msgs[i].msg_len;
    for (int sent = 0; sent < n;) {
      int k = sendmmsg(s, msgs + sent, (unsigned)(n - sent), 0);
      if (k <= 0) {
        sent++; /* that echo could not go (an ICMP error, say): UDP drops it */
        continue;
      }
      sent += k;
    }
  }
}
