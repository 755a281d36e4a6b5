/*
 * evergreen from C: the exported stacklet API (a generator, and two stacklets
 * playing ping-pong with each other) and the loop API (wake, readiness,
 * and a native read op completing through the shared ring).
 *
 * Build and run from the repository root (tests/c_example_test.ts does this):
 *   zig build
 *   zig cc -I include examples/c/stacklets.c -L zig-out/lib -levergreen \
 *     -Wl,-rpath,zig-out/lib -o zig-out/stacklets && zig-out/stacklets
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evergreen.h"

/* Every call returns 0, a count, or -code: stop at the first failure. */
static int32_t check(int32_t result, const char *what) {
  if (result < 0) {
    const char *name = eg_error_name(result);
    fprintf(stderr, "FAIL %s: %s (%d)\n", what, name ? name : "?", result);
    exit(1);
  }
  return result;
}

static void expect(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "FAIL %s\n", what);
    exit(1);
  }
}

static eg_stacklet_thread *thread;

/* ---- A generator: the stacklet yields Fibonacci numbers to main ---------- */

struct fibonacci {
  int count;
  uint64_t value; /* the number being handed over */
};

static eg_stacklet_handle fibonacci_run(eg_stacklet_handle origin, void *arg) {
  struct fibonacci *state = arg;
  uint64_t a = 0, b = 1;
  for (int i = 0; i < state->count; i++) {
    state->value = a;
    /* "yield": suspend here, resume main; main switches back for the next. */
    check(eg_stacklet_switch(thread, origin, &origin), "yield to main");
    uint64_t next = a + b;
    a = b;
    b = next;
  }
  return origin; /* finished: main's switch gets NULL */
}

static void generator(void) {
  struct fibonacci state = {.count = 10, .value = 0};
  eg_stacklet_handle generator;
  check(eg_stacklet_new(thread, fibonacci_run, &state, &generator), "start generator");
  printf("fibonacci:");
  int received = 0;
  while (generator != NULL) {
    printf(" %llu", (unsigned long long)state.value);
    received++;
    check(eg_stacklet_switch(thread, generator, &generator), "resume generator");
  }
  printf("\n");
  expect(received == state.count, "the generator yields every number");
}

/* ---- Ping-pong: two stacklets switch to each other, not through main ----- */

struct rally {
  int rounds;
  int hits;
  eg_stacklet_handle main;
};

static eg_stacklet_handle pong_run(eg_stacklet_handle ping, void *arg) {
  struct rally *rally = arg;
  for (int i = 0; i < rally->rounds; i++) {
    check(eg_stacklet_switch(thread, ping, &ping), "pong to ping");
    printf("pong %d\n", i);
    rally->hits++;
  }
  return ping; /* finished: ping's switch gets NULL */
}

static eg_stacklet_handle ping_run(eg_stacklet_handle main, void *arg) {
  struct rally *rally = arg;
  rally->main = main;
  eg_stacklet_handle pong;
  /* A stacklet may start another: pong runs until it first switches back. */
  check(eg_stacklet_new(thread, pong_run, rally, &pong), "start pong");
  for (int i = 0; i < rally->rounds; i++) {
    printf("ping %d\n", i);
    rally->hits++;
    check(eg_stacklet_switch(thread, pong, &pong), "ping to pong");
  }
  expect(pong == NULL, "pong finished with the last round");
  return rally->main;
}

static void ping_pong(void) {
  struct rally rally = {.rounds = 3, .hits = 0, .main = NULL};
  eg_stacklet_handle ping;
  check(eg_stacklet_new(thread, ping_run, &rally, &ping), "start ping");
  expect(ping == NULL, "ping finished before main resumed");
  expect(rally.hits == 2 * rally.rounds, "every ping got its pong");
  printf("rally: %d hits\n", rally.hits);
}

/* ---- The loop: wake, readiness and a native op, through the ring -------- */

static uint32_t fnv1a(const char *bytes, size_t length) {
  uint32_t hash = 0x811c9dc5u;
  for (size_t i = 0; i < length; i++) {
    hash ^= (uint8_t)bytes[i];
    hash *= 0x01000193u;
  }
  return hash;
}

/* Takes the next record off the ring; 0 when the ring is empty. */
static int take(eg_ring_header *ring, eg_record *out) {
  if (ring->head == ring->tail) return 0;
  const eg_record *records = (const eg_record *)(ring + 1);
  *out = records[ring->head & (ring->capacity - 1)];
  ring->head++;
  return 1;
}

static void write_text(int32_t fd, const char *text) {
  int32_t length = (int32_t)strlen(text);
  expect(check(eg_test_write(fd, (const uint8_t *)text, (uint32_t)length), "write") == length,
         "the socket takes the whole write");
}

static void loop_demo(void) {
  int32_t loop = check(eg_loop_new(64), "create a loop");
  uint64_t address = 0;
  check(eg_loop_ring(loop, &address), "find the ring");
  eg_ring_header *ring = (eg_ring_header *)(uintptr_t)address;
  expect(ring->magic == EG_RING_MAGIC && ring->capacity == 64, "the ring header");
  eg_record record;

  /* A wake makes even a poll without timeout return at once. */
  check(eg_loop_wake(loop), "wake");
  int32_t ready = check(eg_loop_poll(loop, -1), "poll after wake");
  printf("woken: poll(-1) returned with %d records\n", ready);

  int32_t pair[2];
  check(eg_test_socketpair(pair), "socket pair");
  check(eg_loop_watch(loop, pair[0], EG_READABLE, 7), "watch");
  expect(check(eg_loop_poll(loop, 0), "poll idle") == 0, "nothing is ready yet");
  write_text(pair[1], "hi");
  expect(check(eg_loop_poll(loop, 1000), "poll readable") >= 1, "a readiness record");
  expect(take(ring, &record) && record.kind == EG_KIND_READINESS && record.token == 7 &&
             (record.result & EG_READABLE) && record.aux == (uint32_t)pair[0],
         "the record says which fd is readable");
  printf("readable: token %u, events %d\n", record.token, record.result);
  while (take(ring, &record)) {
  }
  check(eg_loop_unwatch(loop, pair[0]), "unwatch");
  uint8_t buffer[8];
  expect(check(eg_test_read(pair[0], buffer, sizeof buffer), "read") == 2, "read the two bytes");

  /* A multi-step native op: read exactly 5 bytes on a stacklet of the hub. */
  check(eg_test_read_exact(loop, pair[0], 5, 9), "start read_exact");
  write_text(pair[1], "hel");
  check(eg_loop_poll(loop, 50), "poll partial");
  expect(!take(ring, &record), "three bytes do not complete the op");
  expect(eg_loop_ops_live(loop) == 1, "the op is still waiting");
  write_text(pair[1], "lo");
  for (int turn = 0; turn < 100 && !take(ring, &record); turn++) {
    check(eg_loop_poll(loop, 100), "poll complete");
  }
  expect(record.kind == EG_KIND_READ_EXACT && record.token == 9 && record.result == 5,
         "the op completed with 5 bytes");
  expect(record.aux == fnv1a("hello", 5), "the op read exactly \"hello\"");
  printf("read_exact: 5 bytes, fnv1a %08x\n", record.aux);

  check(eg_test_close(pair[0]), "close");
  check(eg_test_close(pair[1]), "close");
  check(eg_loop_close(loop), "close the loop");
}

int main(void) {
  expect(eg_abi_version() == EG_ABI_VERSION, "the header matches the library");
  thread = eg_stacklet_newthread();
  expect(thread != NULL, "stacklet thread");
  generator();
  ping_pong();
  check(eg_stacklet_deletethread(thread), "delete the stacklet thread");
  loop_demo();
  printf("ok\n");
  return 0;
}
