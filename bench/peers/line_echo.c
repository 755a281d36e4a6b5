// The line echo of bench/servers/line_echo.ts in C: the floor of its
// per-line shape (`readUntil("\n")` + `write(line)` per line) with nothing
// but system calls and a loop over the lines. A Unix socket server on epoll
// (level-triggered, non-blocking, any number of connections); per
// connection, one read of up to 64 KiB per readiness, then for each line the
// read completed: find its "\n" (memchr from where the last one ended) and
// copy the line into an output buffer (what write() must do); then one send
// of the output per read. A partial line waits for its "\n" at the front of
// the read buffer (which doubles if one line outgrows it); at end of stream
// what is left goes back as it is, then the connection closes. While output
// waits for the kernel, the connection is not read. Prints {"path":P} once
// it listens, like the servers of bench/servers/ (bench/servers/common.ts),
// and runs until killed. bench/real_clients.ts builds and runs it as the
// anchor of the unix-echo workload.
//
//   zig cc -O2 -o /tmp/line_echo bench/peers/line_echo.c && /tmp/line_echo --path /tmp/echo.sock
#define _GNU_SOURCE  // accept4
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define READ_SIZE (64 * 1024)

struct connection {
  int fd;
  char *in;  // bytes read; [0, in_used) is a partial line (no "\n")
  size_t in_used, in_size;
  char *out;  // lines to send back; [out_start, out_end) not sent yet
  size_t out_start, out_end, out_size;
  int ended;  // end of stream read: close once the output has left
};

static void fail(const char *what) {
  perror(what);
  exit(1);
}

static void *allocate(size_t size) {
  void *bytes = malloc(size);
  if (bytes == NULL) fail("malloc");
  return bytes;
}

static void watch(int ep, struct connection *c, int op, unsigned events) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(ep, op, c->fd, &ev) < 0) fail("epoll_ctl");
}

static void finish(struct connection *c) {
  close(c->fd);  // also leaves the epoll set
  free(c->in);
  free(c->out);
  free(c);
}

// Sends what waits; 1 when it all left, 0 when the kernel is full, -1 on an
// error (a peer that went away).
static int send_out(struct connection *c) {
  while (c->out_start < c->out_end) {
    ssize_t n = send(c->fd, c->out + c->out_start, c->out_end - c->out_start,
                     MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
    c->out_start += (size_t)n;
  }
  c->out_start = c->out_end = 0;
  return 1;
}

// After output was produced: sends it, and either goes on reading, waits for
// the kernel to take the rest, or closes at end of stream. 0: closed.
static int flush_or_wait(int ep, struct connection *c, int watching_out) {
  int sent = send_out(c);
  if (sent < 0 || (sent == 1 && c->ended)) {
    finish(c);
    return 0;
  }
  if (sent == 0 && !watching_out) watch(ep, c, EPOLL_CTL_MOD, EPOLLOUT);
  if (sent == 1 && watching_out) watch(ep, c, EPOLL_CTL_MOD, EPOLLIN);
  return 1;
}

// One read, then every line it completed into the output, one send.
static void readable(int ep, struct connection *c) {
  if (c->in_used == c->in_size) {  // a line longer than the buffer
    c->in_size *= 2;
    c->in = realloc(c->in, c->in_size);
    if (c->in == NULL) fail("realloc");
  }
  if (c->out_size < c->in_size) {
    c->out_size = c->in_size;
    free(c->out);
    c->out = allocate(c->out_size);
  }
  ssize_t n = read(c->fd, c->in + c->in_used, c->in_size - c->in_used);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    finish(c);
    return;
  }
  size_t end = c->in_used + (size_t)n;
  size_t line = 0;  // where the current line starts
  if (n == 0) {
    // End of stream: what is left (no "\n") goes back as it is.
    memcpy(c->out, c->in, c->in_used);
    c->out_end = c->in_used;
    c->in_used = 0;
    c->ended = 1;
    flush_or_wait(ep, c, 0);
    return;
  }
  // The partial line before this read holds no "\n": scan from the new
  // bytes on, but each line starts where the last one ended.
  char *from = c->in + c->in_used;
  char *found;
  while ((found = memchr(from, '\n', c->in + end - from)) != NULL) {
    size_t next = (size_t)(found - c->in) + 1;
    memcpy(c->out + c->out_end, c->in + line, next - line);
    c->out_end += next - line;
    line = next;
    from = found + 1;
  }
  memmove(c->in, c->in + line, end - line);
  c->in_used = end - line;
  if (c->out_end > 0) flush_or_wait(ep, c, 0);
}

int main(int argc, char **argv) {
  const char *path = NULL;
  for (int i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "--path") == 0) path = argv[++i];
  }
  if (path == NULL || path[0] == '\0') {
    fprintf(stderr, "usage: %s --path SOCKET_PATH\n", argv[0]);
    return 2;
  }
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof address.sun_path) {
    fprintf(stderr, "--path is longer than %zu bytes: %s\n",
            sizeof address.sun_path - 1, path);
    return 2;
  }
  strcpy(address.sun_path, path);
  signal(SIGPIPE, SIG_IGN);
  if (unlink(path) < 0 && errno != ENOENT) fail("unlink");
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (listener < 0) fail("socket");
  if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0)
    fail("bind");
  if (listen(listener, 128) < 0) fail("listen");
  int ep = epoll_create1(0);
  if (ep < 0) fail("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) < 0) fail("epoll_ctl");
  // {"path":P}, with the JSON escapes a path may need.
  fputs("{\"path\":\"", stdout);
  for (const char *p = path; *p != '\0'; p++) {
    if (*p == '"' || *p == '\\') putchar('\\');
    if ((unsigned char)*p < 0x20) printf("\\u%04x", *p);
    else putchar(*p);
  }
  fputs("\"}\n", stdout);
  fflush(stdout);

  struct epoll_event events[64];
  for (;;) {
    int ready = epoll_wait(ep, events, 64, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      fail("epoll_wait");
    }
    for (int i = 0; i < ready; i++) {
      struct connection *c = events[i].data.ptr;
      if (c == NULL) {  // the listener
        int fd;
        while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          c = allocate(sizeof *c);
          *c = (struct connection){.fd = fd, .in_size = READ_SIZE,
                                   .out_size = READ_SIZE};
          c->in = allocate(c->in_size);
          c->out = allocate(c->out_size);
          watch(ep, c, EPOLL_CTL_ADD, EPOLLIN);
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
            errno != ECONNABORTED)
          fail("accept4");
      } else if (c->out_end > c->out_start) {
        flush_or_wait(ep, c, 1);  // writable (or an error: send says which)
      } else {
        readable(ep, c);
      }
    }
  }
}
