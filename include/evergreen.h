/*
 * evergreen native library: C API for embedders (C, Zig, Rust, ...).
 * The definitions live in zig/exports.zig; this header mirrors them.
 * Functions return 0 or a count on success and -code (EG_E*) on failure;
 * bad input is always an error code, never a crash.
 */
#ifndef EVERGREEN_H
#define EVERGREEN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EG_ABI_VERSION 1

/* Portable error codes (the same numbers on every OS). */
enum eg_error {
  EG_EBADF = 1, /* bad handle or descriptor */
  EG_EINVAL = 2,
  EG_ENOMEM = 3,
  EG_EAGAIN = 4,
  EG_EEXIST = 5,
  EG_ENOENT = 6, /* nothing registered for it */
  EG_EWRONGTHREAD = 7, /* object owned by another thread */
  EG_EOVERFLOW = 8, /* completion queue / op limit full: drain the ring */
  EG_EMFILE = 9,
  EG_ECANCELED = 10,
  EG_EBUSY = 11,
  EG_ENOSYS = 12, /* not supported on this OS */
  EG_EPERM = 13,
  EG_EIO = 14,
  EG_EINTR = 15,
  EG_EPIPE = 16,
  EG_ECONNRESET = 17,
  EG_ECONNREFUSED = 18,
  EG_ECONNABORTED = 19,
  EG_ENOTCONN = 20,
  EG_EISCONN = 21,
  EG_EADDRINUSE = 22,
  EG_EADDRNOTAVAIL = 23,
  EG_ETIMEDOUT = 24,
  EG_EHOSTUNREACH = 25,
  EG_ENETUNREACH = 26,
  EG_ENETDOWN = 27,
  EG_EMSGSIZE = 28,
  EG_EAFNOSUPPORT = 29,
  EG_EACCES = 30,
  EG_EINPROGRESS = 31,
  EG_EALREADY = 32,
  EG_ENOTSOCK = 33,
  EG_ENOBUFS = 34,
  EG_ENFILE = 35,
  EG_EUNKNOWN = 36
};

uint32_t eg_abi_version(void);
void eg_nop(void);
/* "EBADF" for 1 or -1; NULL for unknown codes. */
const char *eg_error_name(int32_t code);

/* ---- Completion ring (shared memory, read in place) ----------------------
 * head/tail are free-running counters: empty when head == tail, full when
 * tail - head == capacity; record i is records[i & (capacity - 1)]. The
 * native side writes records and tail during eg_loop_poll (and op starts);
 * the reader consumes records and stores head. */
#define EG_RING_MAGIC 0x31524745u /* "EGR1" */

typedef struct eg_ring_header {
  uint32_t magic;
  uint32_t record_size; /* 16 */
  uint32_t capacity; /* records, a power of two */
  uint32_t reserved0;
  uint32_t head; /* written by the reader only */
  uint32_t tail; /* written by the library only */
  uint32_t deferred; /* readiness reports held back (ring full), cumulative */
  uint32_t overflow; /* op completions queued natively right now */
  uint32_t reserved1[8];
} eg_ring_header; /* 64 bytes; records follow */

typedef struct eg_record {
  uint32_t token; /* chosen by the watcher / op starter */
  int32_t result; /* kind-specific, or -code on failure */
  uint32_t kind; /* EG_KIND_* */
  uint32_t aux; /* kind-specific */
} eg_record;

enum eg_kind {
  EG_KIND_READINESS = 1, /* result = EG_READABLE|EG_WRITABLE|EG_FAILED|EG_HANGUP, aux = fd */
  EG_KIND_SIGNAL = 2, /* result = signal number, aux = arrivals since last report */
  EG_KIND_READ_EXACT = 16 /* result = length, aux = FNV-1a of the bytes */
};

enum eg_events {
  EG_READABLE = 1,
  EG_WRITABLE = 2,
  EG_FAILED = 4,
  EG_HANGUP = 8
};

/* ---- Loops: handles are small positive integers owned by one thread ----- */

/* ring_capacity: a power of two (0 = 4096). Returns a handle or -code. */
int32_t eg_loop_new(uint32_t ring_capacity);
/* Cancels ops, stops watches, frees the ring; waits for a park in progress. */
int32_t eg_loop_close(uint32_t loop);
/* One turn: waits up to timeout_ms (0 none, -1 forever); returns records readable. */
int32_t eg_loop_poll(uint32_t loop, int32_t timeout_ms);
/* Any thread: waits until poll would find something, a wake, or the timeout.
 * Touches neither the ring nor the ops. Returns 1 if ready, 0 on timeout. */
int32_t eg_loop_park(uint32_t loop, int32_t timeout_ms);
/* Any thread: interrupts poll/park. */
int32_t eg_loop_wake(uint32_t loop);
/* Level-triggered readiness for fd (events = EG_READABLE|EG_WRITABLE; 0 unwatches). */
int32_t eg_loop_watch(uint32_t loop, int32_t fd, uint32_t events, uint32_t token);
int32_t eg_loop_unwatch(uint32_t loop, int32_t fd);
/* The handler chains to the previously installed one; restored on the last unwatch. */
int32_t eg_loop_watch_signal(uint32_t loop, int32_t signo, uint32_t token);
int32_t eg_loop_unwatch_signal(uint32_t loop, int32_t signo);
/* Arrivals of signo our handler caught, process-wide (wrapping), counted before it chains on. */
int32_t eg_signal_arrivals(int32_t signo);
/* Stores the ring's address (eg_ring_header *) in *out. */
int32_t eg_loop_ring(uint32_t loop, uint64_t *out);
/* Completes the ops waiting on fd with -EG_ECANCELED. */
int32_t eg_loop_cancel_fd(uint32_t loop, int32_t fd);
int32_t eg_loop_ops_live(uint32_t loop);
/* Loops alive in the process, every thread's. A thread that exits closes its own loops,
 * UDP endpoints and streams (a Deno Worker that ends runs no finalizers). */
int32_t eg_loops_live(void);

/* ---- UDP endpoints (zig/io/udp.zig), owned by their loop's thread --------
 * Addresses are 24-byte records (family 4|6, port, scope id, 16 address
 * bytes) that eg_udp_address fills. Sends return 0 sent, 1 queued behind the
 * running send op, 2 queued: start the op with eg_udp_flush_start; or -code.
 * eg_loop_close closes the sockets of the loop's endpoints (then every call
 * but eg_udp_close is -EG_EBADF); eg_udp_close frees the rest. */
int32_t eg_udp_address(const uint8_t *text, uint32_t length, uint32_t port, uint8_t out[24]);
/* family 4|6; zero sizes pick defaults. Returns a handle or -code. */
int32_t eg_udp_open(uint32_t loop, uint32_t family, uint32_t receive_size,
                    uint32_t receive_batch, uint32_t queue_bytes_max);
int32_t eg_udp_bind(uint32_t endpoint, const uint8_t address[24], uint32_t flags);
int32_t eg_udp_sockname(uint32_t endpoint, uint8_t out[24]);
/* Stores the receive ring's address (layout in zig/io/udp.zig) in *out. */
int32_t eg_udp_ring(uint32_t endpoint, uint64_t *out);
/* Fills the ring (recvmmsg); > 0 datagrams buffered, or 0: an op reports with token. */
int32_t eg_udp_receive(uint32_t endpoint, uint32_t token);
int32_t eg_udp_cancel_receive(uint32_t endpoint);
int32_t eg_udp_send(uint32_t endpoint, const uint8_t *data, uint32_t length,
                    const uint8_t address[24]);
/* Queues a copy to leave with the next eg_udp_send_queued (checks as eg_udp_send). */
int32_t eg_udp_stage(uint32_t endpoint, const uint8_t *data, uint32_t length,
                     const uint8_t address[24]);
/* Sends what is queued without waiting (sendmmsg, UDP GSO for runs of one size). */
int32_t eg_udp_send_queued(uint32_t endpoint);
int32_t eg_udp_send_many(uint32_t endpoint, const uint8_t *data, uint32_t data_length,
                         const uint32_t *lengths, uint32_t count, const uint8_t address[24]);
/* Starts the op draining the send queue: 1 started, 0 nothing to do. */
int32_t eg_udp_flush_start(uint32_t endpoint, uint32_t token);
int32_t eg_udp_queued(uint32_t endpoint);
int32_t eg_udp_set_option(uint32_t endpoint, uint32_t option, int32_t value);
int32_t eg_udp_membership(uint32_t endpoint, uint32_t join, const uint8_t group[24],
                          const uint8_t interface_address[24]);
int32_t eg_udp_multicast_interface(uint32_t endpoint, const uint8_t interface_address[24]);
int32_t eg_udp_close(uint32_t endpoint);

/* ---- Standard streams ----------------------------------------------------
 * A stream handle over a descriptor of its own for fd 0, 1 or 2 (a pipe,
 * socket, terminal or file alike); the stream API itself is not declared
 * here yet (see zig/exports.zig, "Streams"). */
int32_t eg_stdio_open(uint32_t loop, int32_t fd, uint32_t read_max);

/* ---- Name lookup (getaddrinfo on a short-lived thread) -------------------
 * start returns a handle; wait for lookup_fd to be readable (eg_loop_watch),
 * then lookup_result writes the addresses as newline-terminated text and
 * returns the byte count (-EG_ENOENT: the name does not resolve). close ends
 * it, done or not. */
int32_t eg_lookup_start(const uint8_t *host, uint32_t host_length);
int32_t eg_lookup_fd(uint32_t lookup);
/* Blocks until done or timeout_ms (-1: no bound): 1 done, 0 not yet. */
int32_t eg_lookup_wait(uint32_t lookup, int32_t timeout_ms);
int32_t eg_lookup_result(uint32_t lookup, uint8_t *out, uint32_t out_length);
int32_t eg_lookup_close(uint32_t lookup);

/* ---- Test helpers (real OS descriptors) ---------------------------------- */

int32_t eg_test_pipe(int32_t out[2]);
int32_t eg_test_socketpair(int32_t out[2]);
int32_t eg_test_write(int32_t fd, const uint8_t *bytes, uint32_t length);
int32_t eg_test_read(int32_t fd, uint8_t *buffer, uint32_t length);
int32_t eg_test_close(int32_t fd);
/* The hub's reference op: read exactly length (1..4096) bytes on a stacklet. */
int32_t eg_test_read_exact(uint32_t loop, int32_t fd, uint32_t length, uint32_t token);

/* ---- Stacklets (PyPy's API) ---------------------------------------------
 * A handle is a suspended stacklet; NULL means EMPTY (it finished).
 * run(origin, arg) gets the handle of the stacklet that started it and
 * returns the handle to switch to when it ends. Never enter JavaScript (or
 * any runtime that checks its stack) while a stacklet other than the thread's
 * main one runs. */
typedef struct eg_stacklet_thread eg_stacklet_thread;
typedef struct eg_stacklet *eg_stacklet_handle;
typedef eg_stacklet_handle (*eg_stacklet_run_fn)(eg_stacklet_handle origin, void *arg);

/* NULL when out of memory. The calling thread's stack becomes main's. */
eg_stacklet_thread *eg_stacklet_newthread(void);
int32_t eg_stacklet_deletethread(eg_stacklet_thread *thread);
/* Runs run(origin, arg) on a new stacklet; *out = who switched back (NULL if it finished). */
int32_t eg_stacklet_new(eg_stacklet_thread *thread, eg_stacklet_run_fn run, void *arg,
                        eg_stacklet_handle *out);
/* Suspends the running stacklet, resumes target; *out = who switched back. */
int32_t eg_stacklet_switch(eg_stacklet_thread *thread, eg_stacklet_handle target,
                           eg_stacklet_handle *out);
/* Frees a suspended stacklet without resuming it. */
int32_t eg_stacklet_destroy(eg_stacklet_thread *thread, eg_stacklet_handle handle);

#ifdef __cplusplus
}
#endif

#endif /* EVERGREEN_H */
