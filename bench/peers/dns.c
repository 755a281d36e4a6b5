/*
 * The floor for bench/servers/dns.ts: the same DNS responder in C, in the
 * shape evergreen's UDPEndpoint takes underneath (one thread, epoll_wait
 * until the socket is readable, one recvmmsg of up to 64 datagrams, the
 * replies of that batch in one sendmmsg with runs of one size to one
 * address as one segmented message, UDP GSO), so that bench/real_clients.ts
 * can show how much of the server's CPU per query the kernel takes whatever
 * the language. The message work is bench/servers/dns_message.ts's: an A/IN
 * question gets one A record in 127.0.0.0/8 derived from the name (FNV-1a),
 * any other type no answer, another opcode NOTIMP, a malformed question
 * FORMERR. Prints {"port":N} once it listens (bench/servers/common.ts).
 *
 *   zig cc -O2 -o dns bench/peers/dns.c
 *   ./dns [--port N]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define BATCH 64
#define SLOT 2048
#define HEADER 12
#define TTL 60

static uint8_t queries[BATCH][SLOT];
static uint8_t replies[BATCH][SLOT];
static size_t reply_lengths[BATCH];

/* The reply to `query`, written to `reply`; 0 when it deserves none. */
static size_t answer(const uint8_t *query, size_t length, uint8_t *reply) {
  if (length < HEADER || (query[2] & 0x80) != 0) return 0;
  int opcode = (query[2] >> 3) & 15;
  int rcode = -1;
  size_t at = HEADER;
  if (opcode != 0) {
    rcode = 4;
  } else if (((query[4] << 8) | query[5]) != 1) {
    rcode = 1;
  } else {
    for (;;) {
      if (at >= length) { rcode = 1; break; }
      uint8_t label = query[at];
      if (label == 0) break;
      if (label > 63) { rcode = 1; break; }
      at += label + 1;
      if (at - HEADER > 254) { rcode = 1; break; }
    }
  }
  size_t name_end = at + 1, question_end = name_end + 4;
  if (rcode < 0 && question_end > length) rcode = 1;
  if (rcode >= 0) {
    memset(reply, 0, HEADER);
    memcpy(reply, query, 4);
    reply[2] = (query[2] & 0x79) | 0x80;
    reply[3] = (uint8_t)rcode;
    return HEADER;
  }
  int type = (query[name_end] << 8) | query[name_end + 1];
  int klass = (query[name_end + 2] << 8) | query[name_end + 3];
  int answers = type == 1 && klass == 1;
  memcpy(reply, query, question_end);
  reply[2] = (query[2] & 0x79) | 0x84;
  reply[3] = 0;
  reply[6] = 0;
  reply[7] = (uint8_t)answers;
  memset(reply + 8, 0, 4);
  size_t i = question_end;
  if (answers) {
    uint32_t hash = 2166136261u;
    for (size_t j = HEADER; j < name_end; j++) {
      uint8_t byte = query[j];
      if (byte >= 65 && byte <= 90) byte += 32;
      hash = (hash ^ byte) * 16777619u;
    }
    const uint8_t record[16] = {
      0xc0, HEADER, 0, 1, 0, 1, 0, 0, 0, TTL, 0, 4,
      127, (hash >> 16) & 255, (hash >> 8) & 255, (hash & 254) | 1,
    };
    memcpy(reply + i, record, sizeof record);
    i += sizeof record;
  }
  return i;
}

int main(int argc, char **argv) {
  int port = 0;
  for (int i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "--port") == 0) port = atoi(argv[i + 1]);
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in address = {0};
  address.sin_family = AF_INET;
  address.sin_port = htons((uint16_t)port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || bind(fd, (struct sockaddr *)&address, length) != 0 ||
      getsockname(fd, (struct sockaddr *)&address, &length) != 0) {
    perror("bind");
    return 1;
  }
  int epoll = epoll_create1(0);
  struct epoll_event watch = {.events = EPOLLIN, .data.fd = fd};
  epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &watch);
  printf("{\"port\":%d}\n", ntohs(address.sin_port));
  fflush(stdout);

  static struct mmsghdr in[BATCH], out[BATCH];
  static struct iovec in_vectors[BATCH], out_vectors[BATCH];
  static struct sockaddr_in senders[BATCH];
  static union {
    char bytes[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } controls[BATCH];
  for (;;) {
    struct epoll_event event;
    if (epoll_wait(epoll, &event, 1, -1) < 0 && errno != EINTR) return 1;
    for (int i = 0; i < BATCH; i++) {
      in_vectors[i] = (struct iovec){queries[i], SLOT};
      in[i].msg_hdr = (struct msghdr){
          .msg_name = &senders[i],
          .msg_namelen = sizeof senders[i],
          .msg_iov = &in_vectors[i],
          .msg_iovlen = 1,
      };
    }
    int got = recvmmsg(fd, in, BATCH, MSG_DONTWAIT, NULL);
    if (got <= 0) continue;
    int count = 0;
    for (int i = 0; i < got; i++) {
      reply_lengths[count] = answer(queries[i], in[i].msg_len, replies[count]);
      if (reply_lengths[count] > 0) senders[count] = senders[i], count++;
    }
    /* One message per run of replies of one size to one sender (GSO). */
    int messages = 0;
    for (int i = 0; i < count;) {
      int run = 1;
      while (i + run < count && reply_lengths[i + run] == reply_lengths[i] &&
             memcmp(&senders[i + run], &senders[i], sizeof senders[i]) == 0) {
        run++;
      }
      for (int j = 0; j < run; j++) {
        out_vectors[i + j] = (struct iovec){replies[i + j], reply_lengths[i + j]};
      }
      struct msghdr *message = &out[messages].msg_hdr;
      *message = (struct msghdr){
          .msg_name = &senders[i],
          .msg_namelen = sizeof senders[i],
          .msg_iov = &out_vectors[i],
          .msg_iovlen = (size_t)run,
      };
      if (run > 1) {
        message->msg_control = controls[messages].bytes;
        message->msg_controllen = sizeof controls[messages].bytes;
        struct cmsghdr *control = CMSG_FIRSTHDR(message);
        control->cmsg_level = SOL_UDP;
        control->cmsg_type = UDP_SEGMENT;
        control->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        *(uint16_t *)CMSG_DATA(control) = (uint16_t)reply_lengths[i];
      }
      messages++;
      i += run;
    }
    if (messages > 0) sendmmsg(fd, out, (unsigned)messages, 0);
  }
}
