// Linux-only primitives Node's core lacks. Every call is synchronous and
// cheap (a syscall or two); errors become JS exceptions carrying errno text.
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/un.h>
#include <stddef.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>

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
  unsigned idx = if_nametoindex(ifname);
  if (idx == 0) return throw_errno(env, ifname, errno);
  // Protocol 0: the socket receives nothing, so it never needs draining.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"openPacket", NULL, open_packet, NULL, NULL, NULL, napi_default, NULL},
    {"sendFrame", NULL, send_frame, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, close_fd, NULL, NULL, NULL, napi_default, NULL},
    {"hwAddress", NULL, hw_address, NULL, NULL, NULL, napi_default, NULL},
    {"bindToDevice", NULL, bind_to_device, NULL, NULL, NULL, napi_default, NULL},
    {"setRecvBuffer", NULL, set_recv_buffer, NULL, NULL, NULL, napi_default, NULL},
    {"sdNotify", NULL, sd_notify, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
