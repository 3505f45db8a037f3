// Linux-only primitives Node's core lacks. Every call is synchronous and
// cheap (a syscall or two); errors become JS exceptions carrying errno text.
// The asynchronous pieces (the raw and VRRP sockets' receive side, the
// timerfd timers) are uv_polls on Node's own loop, so no thread is involved.
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <alloca.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <linux/netlink.h>

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static int get_string(napi_env env, napi_value v, char *buf, size_t len) {
  size_t got = 0;
  if (napi_get_value_string_utf8(env, v, buf, len, &got) != napi_ok) return -1;
  return (int)got;
}

// openPacket(ifname) -> [fd, ifindex]; a send-only AF_PACKET socket.
static napi_value open_packet(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char ifname[IFNAMSIZ + 1] = {0};
  if (argc < 1 || get_string(env, argv[0], ifname, sizeof ifname) <= 0) {
    napi_throw_type_error(env, NULL, "openPacket(ifname): interface name required");
    return NULL;
  }
  // Protocol 0: the socket receives nothing, so it never needs draining.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
  // The index through this socket, not if_nametoindex: that opens a socket of
  // its own, and out of descriptors it reports ENOENT instead of EMFILE.
  struct ifreq ifr; memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, ifname, strnlen(ifname, IFNAMSIZ - 1));
  if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) { int e = errno; close(fd); return throw_errno(env, ifname, e); }
  unsigned idx = (unsigned)ifr.ifr_ifindex;
  napi_value arr, a, b;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_int32(env, fd, &a);
  napi_create_uint32(env, idx, &b);
  napi_set_element(env, arr, 0, a);
  napi_set_element(env, arr, 1, b);
  return arr;
}

// sendFrame(fd, ifindex, frame): frame is a full Ethernet frame; its
// destination MAC and ethertype fill the sockaddr_ll.
static napi_value send_frame(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd; uint32_t idx; void *data; size_t len;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &idx) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok || len < 14) {
    napi_throw_type_error(env, NULL, "sendFrame(fd, ifindex, frame>=14 bytes)");
    return NULL;
  }
  const unsigned char *f = data;
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = (int)idx;
  sll.sll_halen = ETH_ALEN;
  sll.sll_protocol = (unsigned short)((f[12] << 8) | f[13]);
  sll.sll_protocol = htons(sll.sll_protocol);
  memcpy(sll.sll_addr, f, ETH_ALEN);
  ssize_t n = sendto(fd, data, len, 0, (struct sockaddr *)&sll, sizeof sll);
  if (n < 0) return throw_errno(env, "sendto(AF_PACKET)", errno);
  napi_value r; napi_create_int32(env, (int32_t)n, &r);
  return r;
}

static napi_value close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1]; int32_t fd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "close(fd)");
    return NULL;
  }
  if (close(fd) < 0) return throw_errno(env, "close", errno);
  return NULL;
}

// hwAddress(ifname) -> Buffer(6)
static napi_value hw_address(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct ifreq ifr; memset(&ifr, 0, sizeof ifr);
  if (argc < 1 || get_string(env, argv[0], ifr.ifr_name, IFNAMSIZ) <= 0) {
    napi_throw_type_error(env, NULL, "hwAddress(ifname)");
    return NULL;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int rc = ioctl(fd, SIOCGIFHWADDR, &ifr);
  int err = errno;
  close(fd);
  if (rc < 0) return throw_errno(env, ifr.ifr_name, err);
  if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    napi_throw_error(env, NULL, "interface is not Ethernet");
    return NULL;
  }
  napi_value buf; void *out;
  napi_create_buffer_copy(env, 6, ifr.ifr_hwaddr.sa_data, &out, &buf);
  return buf;
}

// bindToDevice(fd, ifname): SO_BINDTODEVICE on a socket Node already owns
// (dgram's handle fd), so heartbeats only use the configured interface.
static napi_value bind_to_device(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2]; int32_t fd;
  char ifname[IFNAMSIZ + 1] = {0};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      get_string(env, argv[1], ifname, sizeof ifname) <= 0) {
    napi_throw_type_error(env, NULL, "bindToDevice(fd, ifname)");
    return NULL;
  }
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) < 0)
    return throw_errno(env, "setsockopt(SO_BINDTODEVICE)", errno);
  return NULL;
}

// setRecvBuffer(fd, bytes) -> bytes the kernel granted. SO_RCVBUFFORCE
// (root) goes past net.core.rmem_max, which is only 208 KiB on a stock host;
// without the privilege it falls back to SO_RCVBUF, capped at rmem_max.
static napi_value set_recv_buffer(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2]; int32_t fd, bytes;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &bytes) != napi_ok || bytes <= 0) {
    napi_throw_type_error(env, NULL, "setRecvBuffer(fd, bytes)");
    return NULL;
  }
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) < 0)
    return throw_errno(env, "setsockopt(SO_RCVBUF)", errno);
  int got = 0;
  socklen_t len = sizeof got;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) < 0) return throw_errno(env, "getsockopt(SO_RCVBUF)", errno);
  napi_value out;
  napi_create_int32(env, got, &out);
  return out;
}

// sdNotify(address, message): one datagram to systemd's notification socket
// ($NOTIFY_SOCKET). An address starting with '@' is in the abstract
// namespace. Never blocks: a full socket buffer is an error, not a stall of
// the heartbeat loop that calls this.
static napi_value sd_notify(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  struct sockaddr_un sa; memset(&sa, 0, sizeof sa);
  char path[sizeof sa.sun_path + 1]; memset(path, 0, sizeof path);
  char msg[4096];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int plen = argc < 2 ? -1 : get_string(env, argv[0], path, sizeof path);
  int mlen = argc < 2 ? -1 : get_string(env, argv[1], msg, sizeof msg);
  if (plen <= 0 || plen >= (int)sizeof sa.sun_path || mlen <= 0 || mlen >= (int)sizeof msg - 1 ||
      (path[0] != '/' && path[0] != '@')) {
    napi_throw_type_error(env, NULL, "sdNotify(address, message): an absolute or '@' socket address and a message under 4 KiB");
    return NULL;
  }
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, (size_t)plen);
  if (path[0] == '@') sa.sun_path[0] = 0;
  socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)plen + (path[0] == '@' ? 0 : 1));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_UNIX)", errno);
  ssize_t n = sendto(fd, msg, (size_t)mlen, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
  int err = errno;
  close(fd);
  if (n < 0) return throw_errno(env, "sendto(NOTIFY_SOCKET)", err);
  return NULL;
}

// ---- raw IPv4 sockets: ICMP echo for ping nodes, VRRP (protocol 112) next ---
// A raw IPv4 socket for one IP protocol (root or CAP_NET_RAW). Node has no
// raw sockets and unprivileged ICMP is off on Debian; doing it here means no
// third-party addon (and no extra header download) is needed for it. The
// only raw-socket binding in tandem: src/net/raw.ts wraps it.

// From <linux/icmp.h>, which clashes with <net/if.h>.
#define TN_ICMP_FILTER 1
#define TN_ICMP_ECHOREPLY 0
struct tn_icmp_filter { uint32_t data; };

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref cb;        // onPacket(buf | null, source | error text)
  napi_async_context ctx;
  int fd;
  int closed;
  int refs;           // the JS external and the libuv handle: freed when both are gone
} icmp_sock;

// Packets drained per wakeup: bounds the time spent in one callback when the
// host is flooded with ICMP; the rest waits for the next loop iteration.
#define ICMP_BATCH 64

static void icmp_call(icmp_sock *s, napi_value a, napi_value b) {
  napi_env env = s->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, argv[2] = {a, b}, result;
  napi_get_reference_value(env, s->cb, &cb);
  napi_get_global(env, &recv);   // make_callback needs an object as `this`
  // make_callback runs queued microtasks afterwards, as Node's own handles do.
  if (napi_make_callback(env, s->ctx, recv, cb, 2, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

static void icmp_readable(uv_poll_t *h, int status, int events) {
  icmp_sock *s = (icmp_sock *)h->data;
  (void)events;
  napi_handle_scope scope;
  napi_open_handle_scope(s->env, &scope);
  if (status < 0) {
    napi_value nul, msg;
    napi_get_null(s->env, &nul);
    napi_create_string_utf8(s->env, uv_strerror(status), NAPI_AUTO_LENGTH, &msg);
    icmp_call(s, nul, msg);
    napi_close_handle_scope(s->env, scope);
    return;
  }
  unsigned char buf[65536];
  for (int i = 0; i < ICMP_BATCH && !s->closed; i++) {
    struct sockaddr_in from; socklen_t fl = sizeof from;
    ssize_t n = recvfrom(s->fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      napi_value nul, msg;
      char text[128];
      snprintf(text, sizeof text, "recvfrom: %s", strerror(errno));
      napi_get_null(s->env, &nul);
      napi_create_string_utf8(s->env, text, NAPI_AUTO_LENGTH, &msg);
      icmp_call(s, nul, msg);
      break;
    }
    char addr[INET_ADDRSTRLEN] = "";
    inet_ntop(AF_INET, &from.sin_addr, addr, sizeof addr);
    napi_value b, a; void *out;
    napi_create_buffer_copy(s->env, (size_t)n, buf, &out, &b);
    napi_create_string_utf8(s->env, addr, NAPI_AUTO_LENGTH, &a);
    icmp_call(s, b, a);
  }
  napi_close_handle_scope(s->env, scope);
}

// A handle closed twice, or used after its close, must find its struct still
// there (closed = 1): it is freed only once the JS external is gone too.
static void icmp_unref(icmp_sock *s) {
  if (--s->refs == 0) free(s);
}

static void icmp_free(uv_handle_t *h) {
  icmp_sock *s = (icmp_sock *)h->data;
  close(s->fd);
  icmp_unref(s);
}

static void icmp_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  icmp_unref(data);
}

// rawOpen(protocol, onPacket) -> handle. For ICMP only echo replies pass
// the kernel filter.
static napi_value icmp_open(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype t;
  int32_t proto = 0;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &proto) != napi_ok || proto <= 0 || proto > 255 ||
      proto == IPPROTO_RAW || napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, NULL, "rawOpen(protocol 1..254, onPacket): protocol and callback required");
    return NULL;
  }
  argv[0] = argv[1];
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) {
    char what[64];
    snprintf(what, sizeof what, "socket(AF_INET, SOCK_RAW, %d)", proto);
    return throw_errno(env, what, errno);
  }
  if (proto == IPPROTO_ICMP) {
    // Let the kernel drop every ICMP type except echo reply before it wakes us;
    // best effort (userspace checks every packet anyway).
    struct tn_icmp_filter filt = { .data = ~(1U << TN_ICMP_ECHOREPLY) };
    (void)setsockopt(fd, SOL_RAW, TN_ICMP_FILTER, &filt, sizeof filt);
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) { close(fd); napi_throw_error(env, NULL, "no event loop"); return NULL; }
  icmp_sock *s = calloc(1, sizeof *s);
  if (!s) { close(fd); return throw_errno(env, "rawOpen", ENOMEM); }
  s->env = env; s->fd = fd; s->refs = 1;
  napi_create_reference(env, argv[0], 1, &s->cb);
  napi_value name;
  napi_create_string_utf8(env, "tandem:raw", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &s->ctx);
  int rc = uv_poll_init(loop, &s->poll, fd);
  if (rc == 0) {
    s->poll.data = s;
    rc = uv_poll_start(&s->poll, UV_READABLE, icmp_readable);
    if (rc != 0) { uv_close((uv_handle_t *)&s->poll, icmp_free); s = NULL; }
  } else {
    close(fd); free(s); s = NULL;
  }
  if (!s) { napi_throw_error(env, NULL, uv_strerror(rc)); return NULL; }
  napi_value ext;
  s->refs++;
  if (napi_create_external(env, s, icmp_finalize, NULL, &ext) != napi_ok) {
    s->refs--; s->closed = 1;
    uv_poll_stop(&s->poll);
    napi_delete_reference(env, s->cb);
    napi_async_destroy(env, s->ctx);
    uv_close((uv_handle_t *)&s->poll, icmp_free);
    napi_throw_error(env, NULL, "rawOpen: napi_create_external failed");
    return NULL;
  }
  return ext;
}

static icmp_sock *icmp_arg(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) return NULL;
  icmp_sock *s = p;
  return s->closed ? NULL : s;
}

// rawSend(handle, message, ipv4) -> bytes (the kernel adds the IP header); throws with errno text (e.g. a
// route that is down) so the caller counts the probe lost at once.
static napi_value icmp_send(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char addr[INET_ADDRSTRLEN + 1] = {0};
  void *data; size_t len;
  icmp_sock *s = argc >= 3 ? icmp_arg(env, argv[0]) : NULL;
  if (!s || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok ||
      get_string(env, argv[2], addr, sizeof addr) <= 0) {
    napi_throw_type_error(env, NULL, "rawSend(open handle, buffer, ipv4)");
    return NULL;
  }
  struct sockaddr_in to; memset(&to, 0, sizeof to);
  to.sin_family = AF_INET;
  if (inet_pton(AF_INET, addr, &to.sin_addr) != 1) {
    napi_throw_type_error(env, NULL, "rawSend: not an IPv4 address");
    return NULL;
  }
  ssize_t n = sendto(s->fd, data, len, 0, (struct sockaddr *)&to, sizeof to);
  if (n < 0) return throw_errno(env, "sendto(raw IPv4)", errno);
  napi_value r; napi_create_int32(env, (int32_t)n, &r);
  return r;
}

// rawClose(handle): stops receiving at once; the fd is closed by libuv's close callback.
static napi_value icmp_close(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  icmp_sock *s = argc >= 1 ? icmp_arg(env, argv[0]) : NULL;
  if (!s) return NULL;
  s->closed = 1;
  uv_poll_stop(&s->poll);
  napi_delete_reference(env, s->cb);
  napi_async_destroy(env, s->ctx);
  uv_close((uv_handle_t *)&s->poll, icmp_free);
  return NULL;
}

// ---- VRRP: raw IP protocol 112 per interface and family -----------------
// One socket per VRRP interface and family (src/net/vrrp-socket.ts wraps
// it). Everything RFC 3768/5798 and keepalived need from the kernel is set
// here, once, at open: TTL / hop limit 255 on every advert (a receiver
// drops anything less), DSCP CS6 as keepalived sends, no multicast loop (we
// must not hear our own adverts), the group joined on this interface only,
// SO_BINDTODEVICE so an advert from another link is never taken for ours,
// and the ancillary data that tells the receive path TTL, destination and
// interface. Receiving is a uv_poll on Node's loop, like the ICMP socket.

#define VRRP_PROTO 112
// Adverts drained per wakeup: bounds one callback when the segment floods
// protocol 112; the rest waits for the next loop iteration.
#define VRRP_BATCH 64
#define VRRP_TOS 0xc0

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref cb;        // onPacket(buf | null, src | error text, dst, ttl, ifindex)
  napi_async_context ctx;
  int fd;
  int family;
  unsigned ifindex;
  int closed;
  int refs;           // the JS external and the libuv handle: freed when both are gone
} vrrp_sock;

static void vrrp_call(vrrp_sock *s, size_t argc, napi_value *argv) {
  napi_env env = s->env;
  napi_value cb, recv, result;
  napi_get_reference_value(env, s->cb, &cb);
  napi_get_global(env, &recv);
  if (napi_make_callback(env, s->ctx, recv, cb, argc, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

static void vrrp_error(vrrp_sock *s, const char *text) {
  napi_value argv[2];
  napi_get_null(s->env, &argv[0]);
  napi_create_string_utf8(s->env, text, NAPI_AUTO_LENGTH, &argv[1]);
  vrrp_call(s, 2, argv);
}

static void vrrp_readable(uv_poll_t *h, int status, int events) {
  vrrp_sock *s = (vrrp_sock *)h->data;
  (void)events;
  napi_handle_scope scope;
  napi_open_handle_scope(s->env, &scope);
  if (status < 0) {
    vrrp_error(s, uv_strerror(status));
    napi_close_handle_scope(s->env, scope);
    return;
  }
  // The largest advert is 8 + 255 x 16 bytes (+ an IPv4 header): anything
  // longer is cut (MSG_TRUNC) and reported, never read past.
  unsigned char buf[8192];
  union { struct cmsghdr align; unsigned char b[256]; } cbuf;
  for (int i = 0; i < VRRP_BATCH && !s->closed; i++) {
    struct sockaddr_storage from; memset(&from, 0, sizeof from);
    struct iovec iov = { buf, sizeof buf };
    struct msghdr msg; memset(&msg, 0, sizeof msg);
    msg.msg_name = &from; msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov; msg.msg_iovlen = 1;
    msg.msg_control = cbuf.b; msg.msg_controllen = sizeof cbuf.b;
    ssize_t n = recvmsg(s->fd, &msg, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      char text[128];
      snprintf(text, sizeof text, "recvmsg: %s", strerror(errno));
      vrrp_error(s, text);
      break;
    }
    if (msg.msg_flags & MSG_TRUNC) {
      vrrp_error(s, "recvmsg: datagram longer than any VRRP advert, dropped");
      continue;
    }
    char src[INET6_ADDRSTRLEN] = "", dst[INET6_ADDRSTRLEN] = "";
    int ttl = -1;
    unsigned ifindex = 0;
    double age_ms = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
        struct timespec at, now;
        memcpy(&at, CMSG_DATA(c), sizeof at);
        // Both CLOCK_REALTIME, read microseconds apart: a clock step between them is unlikely, and JS bounds the result.
        clock_gettime(CLOCK_REALTIME, &now);
        age_ms = (double)(now.tv_sec - at.tv_sec) * 1e3 + (double)(now.tv_nsec - at.tv_nsec) / 1e6;
      }
    }
    if (s->family == AF_INET) {
      inet_ntop(AF_INET, &((struct sockaddr_in *)&from)->sin_addr, src, sizeof src);
      // TTL and destination come from the IP header the packet carries (parsed in JS).
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
          struct in_pktinfo pi; memcpy(&pi, CMSG_DATA(c), sizeof pi);
          ifindex = (unsigned)pi.ipi_ifindex;
          inet_ntop(AF_INET, &pi.ipi_addr, dst, sizeof dst);
        }
      }
    } else {
      inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&from)->sin6_addr, src, sizeof src);
      // IPv6 raw sockets get no header: hop limit and destination arrive as ancillary data.
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != IPPROTO_IPV6) continue;
        if (c->cmsg_type == IPV6_PKTINFO) {
          struct in6_pktinfo pi; memcpy(&pi, CMSG_DATA(c), sizeof pi);
          ifindex = pi.ipi6_ifindex;
          inet_ntop(AF_INET6, &pi.ipi6_addr, dst, sizeof dst);
        } else if (c->cmsg_type == IPV6_HOPLIMIT) {
          int hl; memcpy(&hl, CMSG_DATA(c), sizeof hl);
          ttl = hl;
        }
      }
    }
    napi_value argv[6]; void *out;
    napi_create_buffer_copy(s->env, (size_t)n, buf, &out, &argv[0]);
    napi_create_string_utf8(s->env, src, NAPI_AUTO_LENGTH, &argv[1]);
    napi_create_string_utf8(s->env, dst, NAPI_AUTO_LENGTH, &argv[2]);
    napi_create_int32(s->env, ttl, &argv[3]);
    napi_create_uint32(s->env, ifindex, &argv[4]);
    napi_create_double(s->env, age_ms, &argv[5]);
    vrrp_call(s, 6, argv);
  }
  napi_close_handle_scope(s->env, scope);
}

// A handle closed twice, or used after its close, must find its struct still
// there (closed = 1): it is freed only once the JS external is gone too.
static void vrrp_unref(vrrp_sock *s) {
  if (--s->refs == 0) free(s);
}

static void vrrp_free(uv_handle_t *h) {
  vrrp_sock *s = (vrrp_sock *)h->data;
  close(s->fd);
  vrrp_unref(s);
}

static void vrrp_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  vrrp_unref(data);
}

static int get_named_string(napi_env env, napi_value obj, const char *key, char *buf, size_t len) {
  napi_value v; bool has = false;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return 0;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return -1;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_undefined || t == napi_null) return 0;
  return get_string(env, v, buf, len);
}

static int get_named_bool(napi_env env, napi_value obj, const char *key) {
  napi_value v; bool has = false, b = false;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return 0;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return 0;
  if (napi_get_value_bool(env, v, &b) != napi_ok) return 0;
  return b ? 1 : 0;
}

#define SETOPT(level, name, val) do { int v_ = (val); \
  if (setsockopt(fd, level, name, &v_, sizeof v_) < 0) { what = #name; goto fail; } } while (0)

// vrrpOpen({ family: 4|6, ifname, group?, kernelChecksum? }, onPacket) -> handle.
// kernelChecksum (IPv6 only): IPV6_CHECKSUM at offset 6, so the kernel puts
// the RFC 5798 checksum (with the IPv6 pseudo-header) on every advert sent
// and drops received ones whose checksum is wrong (counted in the socket's
// drops, /proc/net/raw6). The checksum mode 'rfc' sets it; the
// 'no-pseudo-header' mode must not (the kernel would overwrite what tandem
// computed and drop what such a peer sends), so JS computes and checks it.
static napi_value vrrp_open(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype t0 = napi_undefined, t1 = napi_undefined;
  if (argc >= 2) { napi_typeof(env, argv[0], &t0); napi_typeof(env, argv[1], &t1); }
  char ifname[IFNAMSIZ + 1] = {0}, group[INET6_ADDRSTRLEN + 1] = {0};
  int32_t fam = 0;
  napi_value fv;
  if (t0 != napi_object || t1 != napi_function ||
      napi_get_named_property(env, argv[0], "family", &fv) != napi_ok ||
      napi_get_value_int32(env, fv, &fam) != napi_ok || (fam != 4 && fam != 6) ||
      get_named_string(env, argv[0], "ifname", ifname, sizeof ifname) <= 0 ||
      get_named_string(env, argv[0], "group", group, sizeof group) < 0) {
    napi_throw_type_error(env, NULL, "vrrpOpen({ family: 4|6, ifname, group?, kernelChecksum? }, onPacket)");
    return NULL;
  }
  int kernel_csum = get_named_bool(env, argv[0], "kernelChecksum");
  unsigned idx = if_nametoindex(ifname);
  if (idx == 0) {
    char what[64];
    snprintf(what, sizeof what, "interface %s", ifname);
    return throw_errno(env, what, errno);
  }
  int af = fam == 4 ? AF_INET : AF_INET6;
  int fd = socket(af, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, VRRP_PROTO);
  if (fd < 0) return throw_errno(env, fam == 4 ? "socket(AF_INET, SOCK_RAW, 112)" : "socket(AF_INET6, SOCK_RAW, 112)", errno);
  const char *what = NULL;
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) < 0) { what = "SO_BINDTODEVICE"; goto fail; }
  // The kernel's arrival stamp: Master_Down runs from when the advert came,
  // not from when the event loop got to it.
  SETOPT(SOL_SOCKET, SO_TIMESTAMPNS, 1);
  if (fam == 4) {
    SETOPT(IPPROTO_IP, IP_TTL, 255);
    SETOPT(IPPROTO_IP, IP_MULTICAST_TTL, 255);
    SETOPT(IPPROTO_IP, IP_TOS, VRRP_TOS);
    SETOPT(IPPROTO_IP, IP_MULTICAST_LOOP, 0);
    SETOPT(IPPROTO_IP, IP_PKTINFO, 1);
    // keepalived's adverts carry no DF; a VRRP advert never needs fragmenting anyway.
    SETOPT(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT);
    struct ip_mreqn mr; memset(&mr, 0, sizeof mr);
    mr.imr_ifindex = (int)idx;
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof mr) < 0) { what = "IP_MULTICAST_IF"; goto fail; }
    if (group[0]) {
      if (inet_pton(AF_INET, group, &mr.imr_multiaddr) != 1 || !IN_MULTICAST(ntohl(mr.imr_multiaddr.s_addr))) {
        close(fd);
        napi_throw_type_error(env, NULL, "vrrpOpen: group is not an IPv4 multicast address");
        return NULL;
      }
      if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) { what = "IP_ADD_MEMBERSHIP"; goto fail; }
    }
  } else {
    SETOPT(IPPROTO_IPV6, IPV6_UNICAST_HOPS, 255);
    SETOPT(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255);
    SETOPT(IPPROTO_IPV6, IPV6_TCLASS, VRRP_TOS);
    SETOPT(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
    SETOPT(IPPROTO_IPV6, IPV6_MULTICAST_IF, (int)idx);
    SETOPT(IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
    SETOPT(IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
    if (kernel_csum) SETOPT(IPPROTO_IPV6, IPV6_CHECKSUM, 6);
    if (group[0]) {
      struct ipv6_mreq mr; memset(&mr, 0, sizeof mr);
      if (inet_pton(AF_INET6, group, &mr.ipv6mr_multiaddr) != 1 || mr.ipv6mr_multiaddr.s6_addr[0] != 0xff) {
        close(fd);
        napi_throw_type_error(env, NULL, "vrrpOpen: group is not an IPv6 multicast address");
        return NULL;
      }
      mr.ipv6mr_interface = idx;
      if (setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mr, sizeof mr) < 0) { what = "IPV6_JOIN_GROUP"; goto fail; }
    }
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) { close(fd); napi_throw_error(env, NULL, "no event loop"); return NULL; }
  vrrp_sock *s = calloc(1, sizeof *s);
  if (!s) { close(fd); return throw_errno(env, "vrrpOpen", ENOMEM); }
  s->env = env; s->fd = fd; s->family = af; s->ifindex = idx; s->refs = 1;
  int rc = uv_poll_init(loop, &s->poll, fd);
  if (rc != 0) { close(fd); free(s); napi_throw_error(env, NULL, uv_strerror(rc)); return NULL; }
  s->poll.data = s;
  napi_create_reference(env, argv[1], 1, &s->cb);
  napi_value name;
  napi_create_string_utf8(env, "tandem:vrrp", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &s->ctx);
  rc = uv_poll_start(&s->poll, UV_READABLE, vrrp_readable);
  if (rc != 0) {
    napi_delete_reference(env, s->cb);
    napi_async_destroy(env, s->ctx);
    uv_close((uv_handle_t *)&s->poll, vrrp_free);
    napi_throw_error(env, NULL, uv_strerror(rc));
    return NULL;
  }
  napi_value ext, arr, ix;
  s->refs++;
  if (napi_create_external(env, s, vrrp_finalize, NULL, &ext) != napi_ok) {
    s->refs--; s->closed = 1;
    uv_poll_stop(&s->poll);
    napi_delete_reference(env, s->cb);
    napi_async_destroy(env, s->ctx);
    uv_close((uv_handle_t *)&s->poll, vrrp_free);
    napi_throw_error(env, NULL, "vrrpOpen: napi_create_external failed");
    return NULL;
  }
  napi_create_uint32(env, idx, &ix);
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, ext);
  napi_set_element(env, arr, 1, ix);
  return arr;
fail:;
  int err = errno;
  close(fd);
  char msg[96];
  snprintf(msg, sizeof msg, "setsockopt(%s) on %s", what, ifname);
  return throw_errno(env, msg, err);
}
#undef SETOPT

static vrrp_sock *vrrp_arg(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) return NULL;
  vrrp_sock *s = p;
  return s->closed ? NULL : s;
}

// vrrpSend(handle, message, dst, src?) -> bytes. The kernel writes the IP
// header (TTL 255, TOS 0xc0); src ('' = the kernel's choice) goes in
// IP_PKTINFO / IPV6_PKTINFO with the interface, so a unicast_src_ip or the
// link-local address is used as given. Throws with errno text.
static napi_value vrrp_send(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char dst[INET6_ADDRSTRLEN + 1] = {0}, src[INET6_ADDRSTRLEN + 1] = {0};
  void *data; size_t len;
  vrrp_sock *s = argc >= 3 ? vrrp_arg(env, argv[0]) : NULL;
  if (!s || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || len > 8192 ||
      get_string(env, argv[2], dst, sizeof dst) <= 0 || (argc >= 4 && get_string(env, argv[3], src, sizeof src) < 0)) {
    napi_throw_type_error(env, NULL, "vrrpSend(open handle, buffer <= 8 KiB, dst, src?)");
    return NULL;
  }
  union { struct cmsghdr align; unsigned char b[CMSG_SPACE(sizeof(struct in6_pktinfo))]; } cbuf;
  memset(&cbuf, 0, sizeof cbuf);
  struct iovec iov = { data, len };
  struct msghdr msg; memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov; msg.msg_iovlen = 1;
  msg.msg_control = cbuf.b;
  struct cmsghdr *c = (struct cmsghdr *)cbuf.b;
  struct sockaddr_in to4; struct sockaddr_in6 to6;
  if (s->family == AF_INET) {
    memset(&to4, 0, sizeof to4);
    to4.sin_family = AF_INET;
    if (inet_pton(AF_INET, dst, &to4.sin_addr) != 1) { napi_throw_type_error(env, NULL, "vrrpSend: dst is not an IPv4 address"); return NULL; }
    struct in_pktinfo pi; memset(&pi, 0, sizeof pi);
    pi.ipi_ifindex = (int)s->ifindex;
    if (src[0] && inet_pton(AF_INET, src, &pi.ipi_spec_dst) != 1) { napi_throw_type_error(env, NULL, "vrrpSend: src is not an IPv4 address"); return NULL; }
    c->cmsg_level = IPPROTO_IP; c->cmsg_type = IP_PKTINFO; c->cmsg_len = CMSG_LEN(sizeof pi);
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
    msg.msg_controllen = CMSG_SPACE(sizeof pi);
    msg.msg_name = &to4; msg.msg_namelen = sizeof to4;
  } else {
    memset(&to6, 0, sizeof to6);
    to6.sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, dst, &to6.sin6_addr) != 1) { napi_throw_type_error(env, NULL, "vrrpSend: dst is not an IPv6 address"); return NULL; }
    // ff02::12 and link-local peers are only meaningful with their link.
    to6.sin6_scope_id = s->ifindex;
    struct in6_pktinfo pi; memset(&pi, 0, sizeof pi);
    pi.ipi6_ifindex = s->ifindex;
    if (src[0] && inet_pton(AF_INET6, src, &pi.ipi6_addr) != 1) { napi_throw_type_error(env, NULL, "vrrpSend: src is not an IPv6 address"); return NULL; }
    c->cmsg_level = IPPROTO_IPV6; c->cmsg_type = IPV6_PKTINFO; c->cmsg_len = CMSG_LEN(sizeof pi);
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
    msg.msg_controllen = CMSG_SPACE(sizeof pi);
    msg.msg_name = &to6; msg.msg_namelen = sizeof to6;
  }
  ssize_t n = sendmsg(s->fd, &msg, MSG_DONTWAIT);
  if (n < 0) return throw_errno(env, s->family == AF_INET ? "sendmsg(VRRP/IPv4)" : "sendmsg(VRRP/IPv6)", errno);
  napi_value r; napi_create_int32(env, (int32_t)n, &r);
  return r;
}

// vrrpClose(handle): stops receiving at once (leaving the group with the fd); idempotent.
static napi_value vrrp_close(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  vrrp_sock *s = argc >= 1 ? vrrp_arg(env, argv[0]) : NULL;
  if (!s) return NULL;
  s->closed = 1;
  uv_poll_stop(&s->poll);
  napi_delete_reference(env, s->cb);
  napi_async_destroy(env, s->ctx);
  uv_close((uv_handle_t *)&s->poll, vrrp_free);
  return NULL;
}

// setRealtime(priority): SCHED_FIFO for the calling thread, which is the JS
// main thread that sends and judges heartbeats. Linux scheduling policy is per
// thread, so Node's worker and GC threads stay as they are.
// SCHED_RESET_ON_FORK: resource scripts and the services they start must not
// inherit a real-time policy (a runaway service would starve the machine).
static napi_value set_realtime(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t prio = 0;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &prio) != napi_ok) {
    napi_throw_type_error(env, NULL, "setRealtime(priority)");
    return NULL;
  }
  struct sched_param sp; memset(&sp, 0, sizeof sp);
  sp.sched_priority = prio;
  if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) != 0) return throw_errno(env, "sched_setscheduler(SCHED_FIFO)", errno);
  return NULL;
}

// schedPolicy() -> [policy name, priority] of the calling thread.
static napi_value sched_policy(napi_env env, napi_callback_info info) {
  (void)info;
  int pol = sched_getscheduler(0);
  if (pol < 0) return throw_errno(env, "sched_getscheduler", errno);
  struct sched_param sp; memset(&sp, 0, sizeof sp);
  if (sched_getparam(0, &sp) != 0) return throw_errno(env, "sched_getparam", errno);
  pol &= ~SCHED_RESET_ON_FORK;
  const char *name = pol == SCHED_FIFO ? "fifo" : pol == SCHED_RR ? "rr" : pol == SCHED_OTHER ? "other" : pol == SCHED_BATCH ? "batch" : pol == SCHED_IDLE ? "idle" : "unknown";
  napi_value arr, n, p;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &n);
  napi_create_int32(env, sp.sched_priority, &p);
  napi_set_element(env, arr, 0, n);
  napi_set_element(env, arr, 1, p);
  return arr;
}

// ---- lockCode: keep the heartbeat path's code in RAM ----------------------
// mlockall() cannot be used: V8 gives heap and code pages back with
// mprotect(PROT_NONE) + madvise(MADV_DONTNEED), which fails with EINVAL on
// locked memory, and V8 then aborts (CHECK failed in OS::SetPermissions).
// So lock only what V8 never gives back: every mapping of the program files
// the process executes from (node, shared libraries, addons: code, constants,
// relocation tables; not their writable data) and the main thread's stack.
// Without swap these are the only pages the kernel can evict, since anonymous
// memory (the JS heap) has nowhere to go. MLOCK_ONFAULT: resident pages are
// locked now, the rest when first touched, so RSS does not jump to the size
// of the node binary.

// Stack the main thread may use beyond what it uses now. A locked stack that
// grows past RLIMIT_MEMLOCK (without CAP_IPC_LOCK) is a SIGSEGV, so the stack
// mapping is extended to cover V8's limit (984 KiB by default) before locking
// and is not grown later.
#define STACK_RESERVE (2u << 20)
#define MAX_MAPS 65536

typedef struct { uintptr_t lo, hi; unsigned long dev_major, dev_minor, inode; char perms[5]; char kind; } map_line;

static __attribute__((noinline)) void reach_stack(size_t depth) {
  volatile char *p = alloca(depth);
  p[0] = 0;   // the lowest byte: the kernel extends [stack] down to it
}

// lockCode() -> { regions, bytes }: bytes is the size of the locked mappings
// (what VmLck and RLIMIT_MEMLOCK count), not what is resident. On a refusal
// nothing stays locked and the error names the size needed and the limit.
static napi_value lock_code(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit rs;
  volatile char here = 0;
  uintptr_t sp = (uintptr_t)&here;
  size_t reach = STACK_RESERVE;
  if (getrlimit(RLIMIT_STACK, &rs) == 0 && rs.rlim_cur != RLIM_INFINITY) {
    // Stay well inside the stack limit: touching past it is a SIGSEGV.
    FILE *f0 = fopen("/proc/self/maps", "re");
    uintptr_t top = 0;
    if (f0) {
      char l[512];
      while (fgets(l, sizeof l, f0)) if (strstr(l, "[stack]")) { unsigned long a, b; if (sscanf(l, "%lx-%lx", &a, &b) == 2) top = b; }
      fclose(f0);
    }
    size_t used = top > sp ? top - sp : 0;
    size_t room = rs.rlim_cur > used + (512u << 10) ? rs.rlim_cur - used - (512u << 10) : 0;
    if (room < reach) reach = room;
  }
  if (reach) reach_stack(reach);

  FILE *f = fopen("/proc/self/maps", "re");
  if (!f) return throw_errno(env, "/proc/self/maps", errno);
  map_line *m = NULL;
  size_t n = 0, cap = 0;
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    if (n == MAX_MAPS) break;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 256;
      map_line *g = realloc(m, nc * sizeof *m);
      if (!g) { free(m); fclose(f); return throw_errno(env, "lockCode", ENOMEM); }
      m = g; cap = nc;
    }
    unsigned long lo, hi, off, maj, min, ino; char perms[5]; int pos = 0;
    if (sscanf(line, "%lx-%lx %4s %lx %lx:%lx %lu %n", &lo, &hi, perms, &off, &maj, &min, &ino, &pos) < 7) continue;
    char *path = line + pos;
    path[strcspn(path, "\n")] = 0;
    map_line *e = &m[n++];
    e->lo = lo; e->hi = hi; e->dev_major = maj; e->dev_minor = min; e->inode = ino;
    memcpy(e->perms, perms, sizeof perms);
    // 's' the main stack, 'f' a regular file, '-' anything else (anonymous, memfd, devices, [vdso]).
    e->kind = strcmp(path, "[stack]") == 0 ? 's'
      : (path[0] == '/' && ino != 0 && strncmp(path, "/memfd:", 7) != 0 && strncmp(path, "/dev/", 5) != 0) ? 'f' : '-';
  }
  fclose(f);

  size_t *sel = malloc((n ? n : 1) * sizeof *sel), k = 0, bytes = 0;
  if (!sel) { free(m); return throw_errno(env, "lockCode", ENOMEM); }
  for (size_t i = 0; i < n; i++) {
    int take = 0;
    if (m[i].kind == 's') {
      take = 1;
      // Give back what reach_stack touched (below our own frame, unused): only its mapping had to grow.
      uintptr_t below = (sp & ~(uintptr_t)4095) - (64u << 10);
      if (below > m[i].lo && below < m[i].hi) (void)madvise((void *)m[i].lo, below - m[i].lo, MADV_DONTNEED);
    } else if (m[i].kind == 'f' && m[i].perms[1] != 'w') {
      for (size_t j = 0; j < n && !take; j++)
        take = m[j].kind == 'f' && m[j].perms[2] == 'x' && m[j].inode == m[i].inode &&
               m[j].dev_major == m[i].dev_major && m[j].dev_minor == m[i].dev_minor;
    }
    if (take) { sel[k++] = i; bytes += m[i].hi - m[i].lo; }
  }
  for (size_t i = 0; i < k; i++) {
    const map_line *e = &m[sel[i]];
    if (mlock2((void *)e->lo, e->hi - e->lo, MLOCK_ONFAULT) != 0) {
      int err = errno;
      for (size_t j = 0; j < i; j++) (void)munlock((void *)m[sel[j]].lo, m[sel[j]].hi - m[sel[j]].lo);
      struct rlimit rl;
      char lim[64] = "unknown";
      if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
        if (rl.rlim_cur == RLIM_INFINITY) snprintf(lim, sizeof lim, "unlimited");
        else snprintf(lim, sizeof lim, "%lu KiB", (unsigned long)(rl.rlim_cur >> 10));
      }
      char what[160];
      snprintf(what, sizeof what, "mlock2(MLOCK_ONFAULT) of %zu KiB in %zu mappings, locked-memory limit %s", bytes >> 10, k, lim);
      free(sel); free(m);
      return throw_errno(env, what, err);
    }
  }
  free(sel); free(m);
  napi_value out, r, b;
  napi_create_object(env, &out);
  napi_create_uint32(env, (uint32_t)k, &r);
  napi_create_double(env, (double)bytes, &b);
  napi_set_named_property(env, out, "regions", r);
  napi_set_named_property(env, out, "bytes", b);
  return out;
}


// ---- precise timers: a timerfd polled by libuv ----------------------------
// libuv's own timers have millisecond resolution against a cached loop time,
// so a deadline fires up to a few ms late. A timerfd (CLOCK_MONOTONIC, the
// clock of performance.now) becoming readable wakes epoll within
// microseconds. The poll runs from open to close (a disarmed timerfd never
// becomes readable) and is ref'd only while armed: it keeps the process
// alive exactly like an armed setTimeout, and arming or firing costs no
// epoll_ctl, only uv_ref/uv_unref (a flag).

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref cb;        // onFire(error text | undefined)
  napi_async_context ctx;
  int fd;
  int closed;
  int refs;           // the JS external and the libuv handle: freed when both are gone
} tn_timer;

static void timer_unref(tn_timer *t) {
  if (--t->refs == 0) free(t);
}

static void timer_call(tn_timer *t, const char *err) {
  napi_env env = t->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, arg, result;
  if (err) napi_create_string_utf8(env, err, NAPI_AUTO_LENGTH, &arg);
  else napi_get_undefined(env, &arg);
  napi_get_reference_value(env, t->cb, &cb);
  napi_get_global(env, &recv);
  if (napi_make_callback(env, t->ctx, recv, cb, 1, &arg, &result) == napi_pending_exception) {
    napi_value e;
    napi_get_and_clear_last_exception(env, &e);
    napi_fatal_exception(env, e);
  }
  napi_close_handle_scope(env, scope);
}

static void timer_readable(uv_poll_t *h, int status, int events) {
  tn_timer *t = (tn_timer *)h->data;
  (void)events;
  if (t->closed) return;
  char text[128];
  const char *err = NULL;
  if (status < 0) {
    snprintf(text, sizeof text, "timerfd poll: %s", uv_strerror(status));
    err = text;
  } else {
    uint64_t expirations;
    ssize_t n;
    do n = read(t->fd, &expirations, sizeof expirations); while (n < 0 && errno == EINTR);
    // Re-armed (or cleared) by a callback that ran after epoll reported it
    // readable, in the same loop turn: the old expiry no longer counts.
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) { snprintf(text, sizeof text, "timerfd read: %s", strerror(errno)); err = text; }
  }
  // One-shot: disarmed until set again, so it no longer keeps the loop alive.
  uv_unref((uv_handle_t *)&t->poll);
  if (err) uv_poll_stop(&t->poll);   // a broken fd would report again at once
  timer_call(t, err);
}

static void timer_closed(uv_handle_t *h) {
  tn_timer *t = (tn_timer *)h->data;
  close(t->fd);
  timer_unref(t);
}

static void timer_do_close(napi_env env, tn_timer *t) {
  if (t->closed) return;
  t->closed = 1;
  uv_poll_stop(&t->poll);
  napi_delete_reference(env, t->cb);
  napi_async_destroy(env, t->ctx);
  uv_close((uv_handle_t *)&t->poll, timer_closed);
}

// The JS object is gone: a timer never closed is closed now (safety net).
static void timer_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  tn_timer *t = data;
  timer_do_close(env, t);
  timer_unref(t);
}

// timerOpen(onFire) -> handle; disarmed.
static napi_value timer_open(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype ty;
  if (argc < 1 || napi_typeof(env, argv[0], &ty) != napi_ok || ty != napi_function) {
    napi_throw_type_error(env, NULL, "timerOpen(onFire): callback required");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) { napi_throw_error(env, NULL, "timerOpen: no event loop"); return NULL; }
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) return throw_errno(env, "timerfd_create(CLOCK_MONOTONIC)", errno);
  tn_timer *t = calloc(1, sizeof *t);
  if (!t) { close(fd); return throw_errno(env, "timerOpen", ENOMEM); }
  t->env = env; t->fd = fd; t->refs = 2;
  int rc = uv_poll_init(loop, &t->poll, fd);
  if (rc != 0) {
    close(fd); free(t);
    char msg[128];
    snprintf(msg, sizeof msg, "timerOpen: uv_poll_init: %s", uv_strerror(rc));
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  t->poll.data = t;
  uv_unref((uv_handle_t *)&t->poll);
  rc = uv_poll_start(&t->poll, UV_READABLE, timer_readable);
  if (rc != 0) {
    uv_close((uv_handle_t *)&t->poll, timer_closed);   // closes fd, drops the handle's ref
    timer_unref(t);                                    // and the external's, never created
    char msg[128];
    snprintf(msg, sizeof msg, "timerOpen: uv_poll_start: %s", uv_strerror(rc));
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  napi_create_reference(env, argv[0], 1, &t->cb);
  napi_value name;
  napi_create_string_utf8(env, "tandem:timer", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &t->ctx);
  napi_value ext;
  if (napi_create_external(env, t, timer_finalize, NULL, &ext) != napi_ok) {
    timer_do_close(env, t);
    timer_unref(t);
    napi_throw_error(env, NULL, "timerOpen: napi_create_external failed");
    return NULL;
  }
  return ext;
}

static tn_timer *timer_arg(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) return NULL;
  tn_timer *t = p;
  return t->closed ? NULL : t;
}

// timerSet(handle, delayMs): fires once, delayMs (fractional) from now on
// CLOCK_MONOTONIC; 0 or negative fires on the next
// loop turn. Replaces any earlier setting.
static napi_value timer_set(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  double ms;
  tn_timer *t = argc >= 2 ? timer_arg(env, argv[0]) : NULL;
  if (!t || napi_get_value_double(env, argv[1], &ms) != napi_ok || ms != ms) {
    napi_throw_type_error(env, NULL, "timerSet(open handle, delayMs)");
    return NULL;
  }
  // Rounded up to the ns: never earlier than asked. A zero it_value would disarm.
  double x = ms * 1e6;
  uint64_t ns = 1;
  if (x >= 1e18) ns = (uint64_t)1e18;    // ~31 years; also Infinity
  else if (x > 1) { ns = (uint64_t)x; if ((double)ns < x) ns++; }
  struct itimerspec its; memset(&its, 0, sizeof its);
  its.it_value.tv_sec = (time_t)(ns / 1000000000u);
  its.it_value.tv_nsec = (long)(ns % 1000000000u);
  if (timerfd_settime(t->fd, 0, &its, NULL) < 0) return throw_errno(env, "timerfd_settime", errno);
  if (!uv_is_active((uv_handle_t *)&t->poll)) {
    // Stopped after a poll error: try again.
    int rc = uv_poll_start(&t->poll, UV_READABLE, timer_readable);
    if (rc != 0) {
      struct itimerspec off; memset(&off, 0, sizeof off);
      (void)timerfd_settime(t->fd, 0, &off, NULL);
      char msg[128];
      snprintf(msg, sizeof msg, "timerSet: uv_poll_start: %s", uv_strerror(rc));
      napi_throw_error(env, NULL, msg);
      return NULL;
    }
  }
  uv_ref((uv_handle_t *)&t->poll);
  return NULL;
}

// timerClear(handle): disarmed; no longer keeps the process alive.
static napi_value timer_clear(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tn_timer *t = argc >= 1 ? timer_arg(env, argv[0]) : NULL;
  if (!t) return NULL;
  struct itimerspec off; memset(&off, 0, sizeof off);
  if (timerfd_settime(t->fd, 0, &off, NULL) < 0) return throw_errno(env, "timerfd_settime", errno);
  uv_unref((uv_handle_t *)&t->poll);
  return NULL;
}

// timerClose(handle): disarmed at once, the fd closed by libuv's close callback; idempotent.
static napi_value timer_close(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tn_timer *t = argc >= 1 ? timer_arg(env, argv[0]) : NULL;
  if (t) timer_do_close(env, t);
  return NULL;
}

// ---- netlink requests: answered within the call ---------------------------
// The kernel handles a request to NETLINK_ROUTE inside sendmsg (and makes
// each further part of a dump inside recvmsg), so its answer is queued
// before the send returns. Reading it at once, without waiting for the
// event loop to report the socket readable, saves a loop turn per round
// trip on a takeover's path. The poll is only for the rare answer that is
// not there yet: started by nlWait(h, true), it calls onReadable.

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref cb;        // onReadable()
  napi_async_context ctx;
  int fd;
  int closed;
  int refs;           // the JS external and the libuv handle: freed when both are gone
  char *buf;          // NL_BUF bytes: the kernel caps a dump's datagrams at 32 KiB, so any answer fits whole
} tn_nl;
#define NL_BUF 65536

static napi_value throw_errno_code(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  const char *code = strerrorname_np(err);
  napi_throw_error(env, code, msg);
  return NULL;
}

static void nl_unref(tn_nl *n) {
  if (--n->refs == 0) { free(n->buf); free(n); }
}

static void nl_readable(uv_poll_t *h, int status, int events) {
  tn_nl *n = (tn_nl *)h->data;
  (void)status; (void)events;
  if (n->closed) return;
  // Errors show up in the nlRecv the callback makes.
  napi_env env = n->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, result;
  napi_get_reference_value(env, n->cb, &cb);
  napi_get_global(env, &recv);
  if (napi_make_callback(env, n->ctx, recv, cb, 0, NULL, &result) == napi_pending_exception) {
    napi_value e;
    napi_get_and_clear_last_exception(env, &e);
    napi_fatal_exception(env, e);
  }
  napi_close_handle_scope(env, scope);
}

static void nl_closed(uv_handle_t *h) {
  tn_nl *n = (tn_nl *)h->data;
  close(n->fd);
  nl_unref(n);
}

static void nl_do_close(napi_env env, tn_nl *n) {
  if (n->closed) return;
  n->closed = 1;
  uv_poll_stop(&n->poll);
  napi_delete_reference(env, n->cb);
  napi_async_destroy(env, n->ctx);
  uv_close((uv_handle_t *)&n->poll, nl_closed);
}

static void nl_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  tn_nl *n = data;
  nl_do_close(env, n);
  nl_unref(n);
}

static tn_nl *nl_arg(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) return NULL;
  tn_nl *n = p;
  return n->closed ? NULL : n;
}

// nlOpen(protocol, onReadable) -> handle: a netlink socket bound to a port the kernel picks.
static napi_value nl_open(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t protocol;
  napi_valuetype ty;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &protocol) != napi_ok
      || napi_typeof(env, argv[1], &ty) != napi_ok || ty != napi_function) {
    napi_throw_type_error(env, NULL, "nlOpen(protocol, onReadable)");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) { napi_throw_error(env, NULL, "nlOpen: no event loop"); return NULL; }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return throw_errno_code(env, "socket(AF_NETLINK)", errno);
  struct sockaddr_nl sa; memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { int e = errno; close(fd); return throw_errno_code(env, "bind(AF_NETLINK)", e); }
  // Acks without a copy of the request: smaller answers to a batch.
  int one = 1;
  (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  tn_nl *n = calloc(1, sizeof *n);
  char *buf = malloc(NL_BUF);
  if (!n || !buf) { free(n); free(buf); close(fd); return throw_errno_code(env, "nlOpen", ENOMEM); }
  n->buf = buf;
  n->env = env; n->fd = fd; n->refs = 2;
  int rc = uv_poll_init(loop, &n->poll, fd);
  if (rc != 0) {
    close(fd); free(buf); free(n);
    char msg[128];
    snprintf(msg, sizeof msg, "nlOpen: uv_poll_init: %s", uv_strerror(rc));
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  n->poll.data = n;
  napi_create_reference(env, argv[1], 1, &n->cb);
  napi_value name;
  napi_create_string_utf8(env, "tandem:netlink", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &n->ctx);
  napi_value ext;
  if (napi_create_external(env, n, nl_finalize, NULL, &ext) != napi_ok) {
    nl_do_close(env, n);
    nl_unref(n);
    napi_throw_error(env, NULL, "nlOpen: napi_create_external failed");
    return NULL;
  }
  return ext;
}

// nlSend(handle, buffers): the messages in one sendmsg to the kernel; throws with errno text and code.
static napi_value nl_send(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tn_nl *n = argc >= 2 ? nl_arg(env, argv[0]) : NULL;
  bool isArray = false;
  if (!n || napi_is_array(env, argv[1], &isArray) != napi_ok || !isArray) {
    napi_throw_type_error(env, NULL, "nlSend(open handle, Buffer[])");
    return NULL;
  }
  uint32_t count;
  napi_get_array_length(env, argv[1], &count);
  if (count == 0 || count > 1024) { napi_throw_range_error(env, NULL, "nlSend: 1..1024 messages"); return NULL; }
  struct iovec *iov = calloc(count, sizeof *iov);
  if (!iov) return throw_errno_code(env, "nlSend", ENOMEM);
  for (uint32_t i = 0; i < count; i++) {
    napi_value b; void *data; size_t len; bool isBuf = false;
    napi_get_element(env, argv[1], i, &b);
    if (napi_is_buffer(env, b, &isBuf) != napi_ok || !isBuf || napi_get_buffer_info(env, b, &data, &len) != napi_ok) {
      free(iov);
      napi_throw_type_error(env, NULL, "nlSend: every message must be a Buffer");
      return NULL;
    }
    iov[i].iov_base = data; iov[i].iov_len = len;
  }
  struct sockaddr_nl to; memset(&to, 0, sizeof to);
  to.nl_family = AF_NETLINK;
  struct msghdr mh; memset(&mh, 0, sizeof mh);
  mh.msg_name = &to; mh.msg_namelen = sizeof to;
  mh.msg_iov = iov; mh.msg_iovlen = count;
  ssize_t r;
  do r = sendmsg(n->fd, &mh, 0); while (r < 0 && errno == EINTR);
  int e = errno;
  free(iov);
  if (r < 0) return throw_errno_code(env, "sendmsg", e);
  return NULL;
}

// nlRecv(handle) -> Buffer | null: one datagram if one is queued, else null.
static napi_value nl_recv(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tn_nl *n = argc >= 1 ? nl_arg(env, argv[0]) : NULL;
  if (!n) { napi_throw_type_error(env, NULL, "nlRecv(open handle)"); return NULL; }
  struct sockaddr_nl from;
  struct iovec iov = { n->buf, NL_BUF };
  struct msghdr mh; memset(&mh, 0, sizeof mh);
  mh.msg_name = &from; mh.msg_namelen = sizeof from;
  mh.msg_iov = &iov; mh.msg_iovlen = 1;
  ssize_t r;
  do r = recvmsg(n->fd, &mh, MSG_DONTWAIT); while (r < 0 && errno == EINTR);
  napi_value out;
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) { napi_get_null(env, &out); return out; }
    return throw_errno_code(env, "recvmsg", errno);
  }
  if (mh.msg_flags & MSG_TRUNC) return throw_errno_code(env, "recvmsg (answer larger than 64 KiB)", EMSGSIZE);
  void *copy;
  if (napi_create_buffer_copy(env, (size_t)r, n->buf, &copy, &out) != napi_ok) return throw_errno_code(env, "nlRecv", ENOMEM);
  return out;
}

// nlWait(handle, on): call onReadable when an answer arrives (keeps the process alive), or stop.
static napi_value nl_wait(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tn_nl *n = argc >= 2 ? nl_arg(env, argv[0]) : NULL;
  bool on = false;
  if (!n || napi_get_value_bool(env, argv[1], &on) != napi_ok) { napi_throw_type_error(env, NULL, "nlWait(open handle, boolean)"); return NULL; }
  if (!on) { uv_poll_stop(&n->poll); return NULL; }
  int rc = uv_poll_start(&n->poll, UV_READABLE, nl_readable);
  if (rc != 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "nlWait: uv_poll_start: %s", uv_strerror(rc));
    napi_throw_error(env, NULL, msg);
  }
  return NULL;
}

// nlListen(handle, groups[], rcvbufBytes): the socket becomes an event
// socket: it joins the multicast groups (RTNLGRP_*), gets a receive buffer
// big enough for a burst (SO_RCVBUFFORCE, else SO_RCVBUF), and its poll no
// longer keeps the process alive (a watcher never does). Returns the buffer
// size the kernel granted. Start receiving with nlWait(h, true).
static napi_value nl_listen(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tn_nl *n = argc >= 3 ? nl_arg(env, argv[0]) : NULL;
  bool isArray = false;
  int32_t rcvbuf = 0;
  if (!n || napi_is_array(env, argv[1], &isArray) != napi_ok || !isArray || napi_get_value_int32(env, argv[2], &rcvbuf) != napi_ok || rcvbuf < 0) {
    napi_throw_type_error(env, NULL, "nlListen(open handle, groups[], rcvbufBytes)");
    return NULL;
  }
  uint32_t count;
  napi_get_array_length(env, argv[1], &count);
  for (uint32_t i = 0; i < count; i++) {
    napi_value v; int32_t g = 0;
    napi_get_element(env, argv[1], i, &v);
    if (napi_get_value_int32(env, v, &g) != napi_ok || g <= 0) { napi_throw_type_error(env, NULL, "nlListen: groups are positive numbers"); return NULL; }
    if (setsockopt(n->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof g) != 0) return throw_errno_code(env, "setsockopt(NETLINK_ADD_MEMBERSHIP)", errno);
  }
  if (rcvbuf > 0 && setsockopt(n->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) {
    (void)setsockopt(n->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  int granted = 0; socklen_t len = sizeof granted;
  (void)getsockopt(n->fd, SOL_SOCKET, SO_RCVBUF, &granted, &len);
  uv_unref((uv_handle_t *)&n->poll);
  napi_value out; napi_create_int32(env, granted, &out);
  return out;
}

// nlClose(handle): idempotent; the fd is closed by libuv's close callback.
static napi_value nl_close(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tn_nl *n = argc >= 1 ? nl_arg(env, argv[0]) : NULL;
  if (n) nl_do_close(env, n);
  return NULL;
}

// Real-time signals end a process by default and Node cannot listen to them:
// `kill -s RTMIN+3` would end the daemon without the release SIGTERM makes
// (its VIPs stay up while the peer takes them over). A handler that does
// nothing, not SIG_IGN: exec() resets a handler to the default but keeps an
// ignored signal ignored, and children (resource scripts and the services
// they start) must get the default back. Signals that already have a
// handler (glibc's own, below SIGRTMIN) are left alone.
static void realtime_noop(int sig) { (void)sig; }

static napi_value catch_realtime(napi_env env, napi_callback_info info) {
  (void)info;
  int caught = 0;
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) {
    struct sigaction old;
    if (sigaction(sig, NULL, &old) != 0 || old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO)) continue;
    struct sigaction sa; memset(&sa, 0, sizeof sa);
    sa.sa_handler = realtime_noop;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) == 0) caught++;
  }
  napi_value out; napi_create_int32(env, caught, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"openPacket", NULL, open_packet, NULL, NULL, NULL, napi_default, NULL},
    {"sendFrame", NULL, send_frame, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, close_fd, NULL, NULL, NULL, napi_default, NULL},
    {"hwAddress", NULL, hw_address, NULL, NULL, NULL, napi_default, NULL},
    {"bindToDevice", NULL, bind_to_device, NULL, NULL, NULL, napi_default, NULL},
    {"setRecvBuffer", NULL, set_recv_buffer, NULL, NULL, NULL, napi_default, NULL},
    {"sdNotify", NULL, sd_notify, NULL, NULL, NULL, napi_default, NULL},
    {"rawOpen", NULL, icmp_open, NULL, NULL, NULL, napi_default, NULL},
    {"rawSend", NULL, icmp_send, NULL, NULL, NULL, napi_default, NULL},
    {"rawClose", NULL, icmp_close, NULL, NULL, NULL, napi_default, NULL},
    {"vrrpOpen", NULL, vrrp_open, NULL, NULL, NULL, napi_default, NULL},
    {"vrrpSend", NULL, vrrp_send, NULL, NULL, NULL, napi_default, NULL},
    {"vrrpClose", NULL, vrrp_close, NULL, NULL, NULL, napi_default, NULL},
    {"setRealtime", NULL, set_realtime, NULL, NULL, NULL, napi_default, NULL},
    {"schedPolicy", NULL, sched_policy, NULL, NULL, NULL, napi_default, NULL},
    {"lockCode", NULL, lock_code, NULL, NULL, NULL, napi_default, NULL},
    {"timerOpen", NULL, timer_open, NULL, NULL, NULL, napi_default, NULL},
    {"timerSet", NULL, timer_set, NULL, NULL, NULL, napi_default, NULL},
    {"timerClear", NULL, timer_clear, NULL, NULL, NULL, napi_default, NULL},
    {"timerClose", NULL, timer_close, NULL, NULL, NULL, napi_default, NULL},
    {"nlOpen", NULL, nl_open, NULL, NULL, NULL, napi_default, NULL},
    {"nlSend", NULL, nl_send, NULL, NULL, NULL, napi_default, NULL},
    {"nlRecv", NULL, nl_recv, NULL, NULL, NULL, napi_default, NULL},
    {"nlWait", NULL, nl_wait, NULL, NULL, NULL, napi_default, NULL},
    {"nlClose", NULL, nl_close, NULL, NULL, NULL, napi_default, NULL},
    {"nlListen", NULL, nl_listen, NULL, NULL, NULL, napi_default, NULL},
    {"catchRealtimeSignals", NULL, catch_realtime, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
