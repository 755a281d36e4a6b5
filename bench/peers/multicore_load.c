// Load generator of bench/multicore.ts: CONNECTIONS connections to
// 127.0.0.1:PORT, each sending "ping\n" and waiting for one answer line
// before the next, for SECONDS, all on one epoll loop in one thread (pin it
// with taskset apart from the server). Prints one JSON line
// { "requestsPerSecond": ... }.
//
//   cc -O2 -o /tmp/multicore_load bench/peers/multicore_load.c
//   taskset -c 1 /tmp/multicore_load PORT CONNECTIONS SECONDS
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: multicore_load PORT CONNECTIONS SECONDS\n");
    return 2;
  }
  int port = atoi(argv[1]);
  int connections = atoi(argv[2]);
  double seconds = atof(argv[3]);
  int ep = epoll_create1(0);
  struct sockaddr_in address = {0};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int index = 0; index < connections; index++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
      perror("connect");
      return 1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event event = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &event);
    if (send(fd, "ping\n", 5, 0) != 5) {
      perror("send");
      return 1;
    }
  }
  long requests = 0;
  double start = now_s();
  double end = start + seconds;
  struct epoll_event events[256];
  char buffer[4096];
  while (now_s() < end) {
    int ready = epoll_wait(ep, events, 256, 100);
    for (int index = 0; index < ready; index++) {
      int fd = events[index].data.fd;
      ssize_t got = recv(fd, buffer, sizeof buffer, 0);
      if (got <= 0) {
        if (got < 0 && errno == EAGAIN) continue;
        fprintf(stderr, "the server closed a connection\n");
        return 1;
      }
      // One line per answer: count them, ask again as many times.
      for (ssize_t at = 0; at < got; at++) {
        if (buffer[at] != '\n') continue;
        requests++;
        if (send(fd, "ping\n", 5, 0) != 5) {
          perror("send");
          return 1;
        }
      }
    }
  }
  printf("{\"requestsPerSecond\": %.0f}\n", requests / (now_s() - start));
  return 0;
}
