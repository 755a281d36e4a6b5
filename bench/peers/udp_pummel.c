/*
 * The C figure for bench/udp_pummel.ts: libxev's udp_pummel_1v1 shape (one
 * sender, one receiver, one thread, 64-byte datagrams for a fixed time) on
 * nonblocking sockets over 127.0.0.1. Each round sends a burst, then drains
 * the receiver until the kernel has nothing more.
 *
 *   zig cc -O2 -o udp_pummel bench/peers/udp_pummel.c
 *   ./udp_pummel plain|batch|gso SECONDS SIZE BURST
 *
 * plain: one sendto/recvfrom per datagram; batch: sendmmsg/recvmmsg (Linux;
 * elsewhere batch falls back to plain); gso: each burst as one sendmsg that
 * the kernel segments (UDP_SEGMENT, Linux 4.18+; bursts of up to 64 and
 * 65507 bytes), received with recvmmsg. Prints one JSON line.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#ifdef __linux__
#include <netinet/udp.h>
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#endif
#include <unistd.h>

#define BURST_MAX 1024
#define SIZE_MAX_BYTES 65507

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bound_socket(struct sockaddr_in *address) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    perror("socket");
    exit(1);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  memset(address, 0, sizeof *address);
  address->sin_family = AF_INET;
  address->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof *address;
  if (bind(fd, (struct sockaddr *)address, length) != 0 ||
      getsockname(fd, (struct sockaddr *)address, &length) != 0) {
    perror("bind");
    exit(1);
  }
  return fd;
}

static char payload[SIZE_MAX_BYTES];
static char buffers[BURST_MAX][2048];

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s plain|batch|gso SECONDS SIZE BURST\n", argv[0]);
    return 2;
  }
  int gso = strcmp(argv[1], "gso") == 0;
  int batch = gso || strcmp(argv[1], "batch") == 0;
  double seconds = atof(argv[2]);
  int size = atoi(argv[3]);
  int burst = atoi(argv[4]);
  if (size < 1 || size > 2048 || burst < 1 || burst > BURST_MAX || seconds <= 0) {
    fprintf(stderr, "size 1..2048, burst 1..%d, seconds > 0\n", BURST_MAX);
    return 2;
  }
  memset(payload, 'x', (size_t)size);
  struct sockaddr_in receiver_address, sender_address;
  int receiver = bound_socket(&receiver_address);
  int sender = bound_socket(&sender_address);

#ifdef __linux__
  static struct mmsghdr send_headers[BURST_MAX], receive_headers[BURST_MAX];
  static struct iovec send_vectors[BURST_MAX], receive_vectors[BURST_MAX];
  static struct sockaddr_in senders[BURST_MAX];
  for (int i = 0; i < burst; i++) {
    send_vectors[i].iov_base = payload;
    send_vectors[i].iov_len = (size_t)size;
    memset(&send_headers[i], 0, sizeof send_headers[i]);
    send_headers[i].msg_hdr.msg_name = &receiver_address;
    send_headers[i].msg_hdr.msg_namelen = sizeof receiver_address;
    send_headers[i].msg_hdr.msg_iov = &send_vectors[i];
    send_headers[i].msg_hdr.msg_iovlen = 1;
    receive_vectors[i].iov_base = buffers[i];
    receive_vectors[i].iov_len = sizeof buffers[i];
    memset(&receive_headers[i], 0, sizeof receive_headers[i]);
    receive_headers[i].msg_hdr.msg_iov = &receive_vectors[i];
    receive_headers[i].msg_hdr.msg_iovlen = 1;
  }
  if (gso && (burst > 64 || burst * size > SIZE_MAX_BYTES)) {
    fprintf(stderr, "gso: burst up to 64 and 65507 bytes in all\n");
    return 2;
  }
  struct iovec gso_vector = {payload, (size_t)(size * burst)};
  union {
    char bytes[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } control;
  struct msghdr gso_message = {
      .msg_name = &receiver_address,
      .msg_namelen = sizeof receiver_address,
      .msg_iov = &gso_vector,
      .msg_iovlen = 1,
      .msg_control = control.bytes,
      .msg_controllen = sizeof control.bytes,
  };
  struct cmsghdr *segment = CMSG_FIRSTHDR(&gso_message);
  segment->cmsg_level = SOL_UDP;
  segment->cmsg_type = UDP_SEGMENT;
  segment->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  uint16_t segment_size = (uint16_t)size;
  memcpy(CMSG_DATA(segment), &segment_size, sizeof segment_size);
#else
  batch = 0;
  gso = 0;
#endif

  long long sent = 0, received = 0;
  double start = now_seconds(), deadline = start + seconds, end = start;
  for (long long round = 0;; round++) {
    if ((round & 63) == 0) {
      end = now_seconds();
      if (end >= deadline) break;
    }
#ifdef __linux__
    if (batch) {
      if (gso) {
        ssize_t n = sendmsg(sender, &gso_message, 0);
        if (n < 0 && errno != EAGAIN) {
          perror("sendmsg UDP_SEGMENT");
          return 1;
        }
        if (n > 0) sent += n / size;
      } else {
        int n = sendmmsg(sender, send_headers, (unsigned)burst, 0);
        if (n > 0) sent += n;
      }
      for (;;) {
        for (int i = 0; i < burst; i++) {
          receive_headers[i].msg_hdr.msg_name = &senders[i];
          receive_headers[i].msg_hdr.msg_namelen = sizeof senders[i];
        }
        int got = recvmmsg(receiver, receive_headers, (unsigned)burst, 0, NULL);
        if (got <= 0) break;
        for (int i = 0; i < got; i++) {
          if (receive_headers[i].msg_len != (unsigned)size) {
            fprintf(stderr, "unexpected size\n");
            return 1;
          }
        }
        received += got;
      }
      continue;
    }
#endif
    for (int i = 0; i < burst; i++) {
      if (sendto(sender, payload, (size_t)size, 0, (struct sockaddr *)&receiver_address,
                 sizeof receiver_address) == size) {
        sent++;
      }
    }
    for (;;) {
      struct sockaddr_in from;
      socklen_t length = sizeof from;
      ssize_t got = recvfrom(receiver, buffers[0], sizeof buffers[0], 0, (struct sockaddr *)&from, &length);
      if (got < 0) break;
      if (got != size) {
        fprintf(stderr, "unexpected size\n");
        return 1;
      }
      received++;
    }
  }
  double elapsed = end - start;
  printf("{\"mode\":\"%s\",\"sent\":%lld,\"received\":%lld,\"seconds\":%.3f,\"receivedPerSecond\":%.0f}\n",
         gso ? "gso" : batch ? "batch" : "plain", sent, received, elapsed, (double)received / elapsed);
  close(sender);
  close(receiver);
  return 0;
}
