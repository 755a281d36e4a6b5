// TCP ping-pong in C, client and server in one process, each waiting on epoll: the
// floor for bench/tcp_pingpong.ts on this machine (the same system calls a
// native loop must make: send, epoll_wait, recv per message). Prints one JSON
// line { roundTripsPerSecond }. With a third argument `blocking` the sockets
// stay blocking and no poll is made at all: the floor of any design here.
//
//   zig cc -O2 -o /tmp/tcp_pingpong bench/peers/tcp_pingpong.c && /tmp/tcp_pingpong ROUNDS SIZE [blocking]
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

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Reads exactly n bytes, waiting on epoll whenever the socket is empty.
static void read_exact(int ep, int fd, char *buf, int n) {
  int got = 0;
  while (got < n) {
    ssize_t r = recv(fd, buf + got, n - got, 0);
    if (r > 0) { got += r; continue; }
    if (r < 0 && errno != EAGAIN) { perror("recv"); exit(1); }
    struct epoll_event ev;
    epoll_wait(ep, &ev, 1, -1);
  }
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 100000;
  int size = argc > 2 ? atoi(argv[2]) : 1;
  int blocking = argc > 3 && strcmp(argv[3], "blocking") == 0;
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t len = sizeof addr;
  bind(listener, (struct sockaddr *)&addr, len);
  getsockname(listener, (struct sockaddr *)&addr, &len);
  listen(listener, 1);
  int client = socket(AF_INET, SOCK_STREAM, 0);
  connect(client, (struct sockaddr *)&addr, len);
  int server = accept(listener, NULL, NULL);
  if (!blocking) {
    nonblocking(client);
    nonblocking(server);
  } else {
    int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  int ep_client = epoll_create1(0), ep_server = epoll_create1(0);
  struct epoll_event ev = { .events = EPOLLIN };
  ev.data.fd = client; epoll_ctl(ep_client, EPOLL_CTL_ADD, client, &ev);
  ev.data.fd = server; epoll_ctl(ep_server, EPOLL_CTL_ADD, server, &ev);
  char *buf = calloc(1, size);
  double start = now_ms();
  for (int i = 0; i < rounds && blocking; i++) {
    send(client, buf, size, MSG_NOSIGNAL);
    for (int got = 0; got < size;) got += recv(server, buf + got, size - got, 0);
    send(server, buf, size, MSG_NOSIGNAL);
    for (int got = 0; got < size;) got += recv(client, buf + got, size - got, 0);
  }
  for (int i = 0; i < rounds && !blocking; i++) {
    send(client, buf, size, MSG_NOSIGNAL);
    read_exact(ep_server, server, buf, size);
    send(server, buf, size, MSG_NOSIGNAL);
    read_exact(ep_client, client, buf, size);
  }
  double elapsed = now_ms() - start;
  printf("{\"roundTripsPerSecond\": %.0f}\n", rounds / elapsed * 1000);
  return 0;
}
