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
/* Stores the ring's address (eg_ring_header *) in *out. */
int32_t eg_loop_ring(uint32_t loop, uint64_t *out);
/* Completes the ops waiting on fd with -EG_ECANCELED. */
int32_t eg_loop_cancel_fd(uint32_t loop, int32_t fd);
int32_t eg_loop_ops_live(uint32_t loop);

/* ---- Stream read window ---------------------------------------------------
 * A stream's buffered input, readable without a call: bytes [start, end) of
 * the read buffer. The caller may advance start (up to end) and scan; the
 * buffer moves only inside calls on the stream, and generation changes when
 * it does (fetch it again). Valid until the stream is closed. */
typedef struct eg_read_window {
  uint32_t start;
  uint32_t end;
  uint32_t scan; /* searched for the delimiter up to here */
  uint32_t generation;
} eg_read_window;
/* out[0] = (eg_read_window *), out[1] = buffer address (0 if none),
 * out[2] = buffer length; returns the generation (31 bits). */
int32_t eg_stream_window(uint32_t stream, uint64_t out[3]);

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
