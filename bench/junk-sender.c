/*
 * junk-sender: UDP junk at a steady packet rate, for the flood benchmark and
 * the flood test (compiled with the host's gcc when they run; lab/junk.ts).
 *
 *   junk-sender DST PORT RATE DURATION_MS SIZE MODE [SPOOF_SRC]
 *
 * MODE random: random bytes; MODE frame: "###\n", random bytes, ",": the
 * first and last bytes of Heartbeat's netstring framing, so a receiver's
 * cheap shape check passes it and the decoder has to look further. MODE
 * forged: a well-framed message (one field, "%%%\n", a trailer "42:1 <40
 * hex>,") whose digest is random: only the HMAC can refuse it. With SPOOF_SRC
 * the datagrams go out through a raw socket with that source address, as an
 * attacker on the segment forging the peer's address would send them.
 * Prints "sent N in MS ms (...)" on stdout.
 *
 * C rather than Node: dgram has no sendmmsg and spends a few microseconds per
 * datagram in JavaScript, so a Node sender tops out where the interesting
 * rates begin and steals the CPU the daemons under test need.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define VARIANTS 256

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: junk-sender DST PORT RATE DURATION_MS SIZE random|frame [SPOOF_SRC]\n");
    return 2;
  }
  const char *dst = argv[1];
  int port = atoi(argv[2]);
  double rate = atof(argv[3]);
  double duration = atof(argv[4]);
  int size = atoi(argv[5]);
  int frame = strcmp(argv[6], "frame") == 0;
  int forged = strcmp(argv[6], "forged") == 0;
  if (!frame && !forged && strcmp(argv[6], "random") != 0) {
    fprintf(stderr, "junk-sender: MODE is random, frame or forged\n");
    return 2;
  }
  if (forged && (size < 160 || size > 1000)) { fprintf(stderr, "junk-sender: forged needs 160 <= SIZE <= 1000\n"); return 2; }
  const char *spoof = argc > 7 ? argv[7] : NULL;
  if (size < 8 || size > 1400 || rate <= 0 || port <= 0) {
    fprintf(stderr, "junk-sender: bad arguments\n");
    return 2;
  }
  struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
  if (inet_pton(AF_INET, dst, &to.sin_addr) != 1) { fprintf(stderr, "junk-sender: bad address %s\n", dst); return 2; }

  int fd;
  int hdr = 0;
  struct in_addr src;
  if (spoof) {
    if (inet_pton(AF_INET, spoof, &src) != 1) { fprintf(stderr, "junk-sender: bad address %s\n", spoof); return 2; }
    fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);   /* implies IP_HDRINCL */
    hdr = sizeof(struct iphdr) + sizeof(struct udphdr);
  } else {
    fd = socket(AF_INET, SOCK_DGRAM, 0);
  }
  if (fd < 0) { perror("junk-sender: socket"); return 1; }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

  /* A few hundred different datagrams, cycled: random enough, and no RNG on the send path. */
  static unsigned char bufs[VARIANTS][1500];
  srandom(12345);
  for (int v = 0; v < VARIANTS; v++) {
    unsigned char *b = bufs[v];
    for (int i = 0; i < hdr + size; i++) b[i] = (unsigned char)random();
    if (frame) {
      memcpy(b + hdr, "###\n", 4);
      b[hdr + size - 1] = ',';
    }
    if (forged) {
      /* "###\n" "<n>:(0)j=<n-5 letters>," "%%%\n" "42:1 <40 hex>," = size bytes */
      static const char hexd[] = "0123456789abcdef";
      int tail = 4 + 3 + 42 + 1;
      int inner = size - 4 - tail - 5;   /* minus "NNN:" and ","; three-digit length */
      char *o = (char *)b + hdr;
      int k = sprintf(o, "###\n%d:(0)j=", inner);
      for (int i = 0; i < inner - 5; i++) o[k++] = 'a' + random() % 26;
      o[k++] = ',';
      k += sprintf(o + k, "%%%%%%\n42:1 ");
      for (int i = 0; i < 40; i++) o[k++] = hexd[random() % 16];
      o[k++] = ',';
      if (k != size) { fprintf(stderr, "junk-sender: forged size %d != %d\n", k, size); return 2; }
    }
    if (spoof) {
      struct iphdr *ip = (struct iphdr *)b;
      struct udphdr *udp = (struct udphdr *)(b + sizeof *ip);
      memset(ip, 0, sizeof *ip);
      ip->version = 4;
      ip->ihl = 5;
      ip->ttl = 64;
      ip->protocol = IPPROTO_UDP;
      ip->saddr = src.s_addr;
      ip->daddr = to.sin_addr.s_addr;   /* tot_len, id and checksum: filled in by the kernel */
      udp->source = htons(694);
      udp->dest = htons(port);
      udp->len = htons(sizeof *udp + size);
      udp->check = 0;                   /* optional over IPv4 */
    }
  }
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &to;
    msgs[i].msg_hdr.msg_namelen = sizeof to;
    iov[i].iov_len = hdr + size;
  }

  double t0 = now_ms();
  long offered = 0, sent = 0, errors = 0;
  unsigned v = 0;
  for (;;) {
    double el = now_ms() - t0;
    if (el >= duration) break;
    long due = (long)(rate * el / 1e3) - offered;
    if (due <= 0) {
      struct timespec nap = { 0, 100 * 1000 };
      nanosleep(&nap, NULL);
      continue;
    }
    int n = due > BATCH ? BATCH : (int)due;
    for (int i = 0; i < n; i++) iov[i].iov_base = bufs[v++ % VARIANTS];
    int r = sendmmsg(fd, msgs, n, 0);
    if (r < 0) {
      if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) { perror("junk-sender: sendmmsg"); return 1; }
      errors++;
      offered += n;   /* keep the pace; these are reported as not sent */
      continue;
    }
    offered += r;
    sent += r;
  }
  printf("sent %ld in %.0f ms (%ld not sent: %ld failed batches)\n", sent, now_ms() - t0, offered - sent, errors);
  return 0;
}
