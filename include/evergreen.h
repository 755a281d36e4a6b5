/*
 * evergreen native library: C API for embedders (C, Zig, Rust, ...).
 * The definitions live in zig/exports.zig (and zig/test_exports.zig), the
 * numbers in zig/abi.zig; this header mirrors them, and tests/seam_test.ts
 * checks that it declares every export with its arity and every constant
 * with the library's value.
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
  EG_EUNKNOWN = 36,
  EG_ENOSPC = 37,
  EG_EISDIR = 38
};

uint32_t eg_abi_version(void);
void eg_nop(void);
/* "EBADF" for 1 or -1; NULL for unknown codes. */
const char *eg_error_name(int32_t code);
/* The library's value of the constant called name[0..length] ("EG_KIND_READ")
 * in *out; -EG_ENOENT for a name it does not define. */
int32_t eg_constant(const uint8_t *name, uint32_t length, int64_t *out);
/* The name of constant number index (0, 1, ...); NULL past the last one. */
const char *eg_constant_name(uint32_t index);

/* ---- Completion ring (shared memory, read in place) ----------------------
 * head/tail are free-running counters: empty when head == tail, full when
 * tail - head == capacity; record i is records[i & (capacity - 1)]. The
 * native side writes records and tail during eg_loop_poll (and op starts);
 * the reader consumes records and stores head. */
#define EG_RING_MAGIC 0x31524745u /* "EGR1" */
#define EG_RING_HEADER_BYTES 64
#define EG_RING_RECORD_BYTES 16

/* u32 index of each header field, for readers that see the ring as words. */
enum eg_ring_word {
  EG_RING_WORD_MAGIC = 0,
  EG_RING_WORD_RECORD_SIZE = 1,
  EG_RING_WORD_CAPACITY = 2,
  EG_RING_WORD_HEAD = 4,
  EG_RING_WORD_TAIL = 5,
  EG_RING_WORD_DEFERRED = 6,
  EG_RING_WORD_OVERFLOW = 7
};

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
  EG_KIND_READ_EXACT = 16, /* result = length, aux = FNV-1a of the bytes */
  EG_KIND_READ = 32, /* a stream read op: result = bytes to take, 0 at end, or -code */
  EG_KIND_DRAIN = 33, /* a drain op: result = 0 or -code */
  EG_KIND_CONNECT = 34, /* a connect op: result = 0 or -code */
  EG_KIND_ACCEPT = 35, /* result = EG_ACCEPTED (aux = the connection's handle), or -code last */
  EG_KIND_UDP_RECEIVE = 48, /* result = datagrams in the receive ring, or -code */
  EG_KIND_UDP_SEND = 49 /* result = datagrams sent or -code of the first failure, aux = failures */
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
/* Owner thread: whether the host runtime (Deno) has I/O events it has not collected: one of
 * EG_HOST_IO_IDLE, EG_HOST_IO_PENDING, EG_HOST_IO_UNKNOWN (not Linux, host sets not found). */
int32_t eg_loop_host_io_pending(uint32_t loop);
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
 * bytes) that eg_udp_address fills. Sends return an eg_udp_send_result or
 * -code. eg_loop_close closes the sockets of the loop's endpoints (then every
 * call but eg_udp_close is -EG_EBADF); eg_udp_close frees the rest. */
#define EG_FAMILY_IP4 4
#define EG_FAMILY_IP6 6
#define EG_UDP_ADDRESS_BYTES 24 /* TCP uses the same records */
#define EG_ADDRESS_TEXT_BYTES 64 /* eg_address_text's out: the longest host text */
#define EG_DATAGRAM_SIZE_MAX 65527

enum eg_udp_send_result {
  EG_SEND_SENT = 0, /* every datagram went to the kernel */
  EG_SEND_QUEUED = 1, /* queued behind the running send op */
  EG_SEND_QUEUED_START = 2 /* queued: start the op with eg_udp_flush_start */
};

enum eg_udp_bind_flags {
  EG_BIND_REUSE_ADDRESS = 1, /* SO_REUSEADDR (and SO_REUSEPORT on BSDs) */
  EG_BIND_IPV6_ONLY = 2,
  EG_BIND_REUSE_PORT = 4 /* SO_REUSEPORT: endpoints in several threads share the port */
};

enum eg_udp_option {
  EG_UDP_OPTION_BROADCAST = 1,
  EG_UDP_OPTION_MULTICAST_LOOPBACK = 2,
  EG_UDP_OPTION_MULTICAST_TTL = 3,
  EG_UDP_OPTION_TTL = 4,
  EG_UDP_OPTION_RECEIVE_BUFFER_SIZE = 5,
  EG_UDP_OPTION_SEND_BUFFER_SIZE = 6
};

/* eg_udp_open's sizes: 0 picks the default. */
#define EG_UDP_RECEIVE_SIZE_DEFAULT 65536
#define EG_UDP_RECEIVE_SIZE_MAX 65536
#define EG_UDP_RECEIVE_BATCH_DEFAULT 64 /* a power of two */
#define EG_UDP_RECEIVE_BATCH_MAX 1024
#define EG_UDP_QUEUE_BYTES_DEFAULT 16777216
#define EG_UDP_QUEUE_BYTES_MIN 65536

/* The receive ring (layout in zig/io/udp.zig): a 64-byte header of u32 words,
 * then a 32-byte metadata record per slot (length, flags, sender address),
 * then the slots' data. */
#define EG_UDP_RING_MAGIC 0x31554745u /* "EGU1" */
#define EG_UDP_RING_HEADER_BYTES 64
#define EG_UDP_META_BYTES 32
#define EG_UDP_META_TRUNCATED 1 /* flags bit: the datagram did not fit its slot */

enum eg_udp_ring_word {
  EG_UDP_RING_WORD_MAGIC = 0,
  EG_UDP_RING_WORD_SLOT_COUNT = 1,
  EG_UDP_RING_WORD_SLOT_SIZE = 2,
  EG_UDP_RING_WORD_META_OFFSET = 3, /* bytes */
  EG_UDP_RING_WORD_HEAD = 4, /* written by the reader only */
  EG_UDP_RING_WORD_TAIL = 5, /* written by the library only */
  EG_UDP_RING_WORD_DATA_OFFSET = 6, /* bytes */
  EG_UDP_RING_WORD_META_SIZE = 7
};

/* Parses an IP literal (or "localhost", 127.0.0.1) and port into out; returns
 * the family (4 or 6). Host names are -EG_EINVAL: they are not resolved here. */
int32_t eg_udp_address(const uint8_t *text, uint32_t length, uint32_t port, uint8_t out[24]);
/* The host text of an address record ("::1", "fe80::1%2"); returns its length. */
int32_t eg_address_text(const uint8_t record[24], uint8_t out[64]);
/* family 4|6; zero sizes pick defaults. Returns a handle or -code. */
int32_t eg_udp_open(uint32_t loop, uint32_t family, uint32_t receive_size,
                    uint32_t receive_batch, uint32_t queue_bytes_max);
/* flags: eg_udp_bind_flags. */
int32_t eg_udp_bind(uint32_t endpoint, const uint8_t address[24], uint32_t flags);
int32_t eg_udp_sockname(uint32_t endpoint, uint8_t out[24]);
/* Stores the receive ring's address (layout in zig/io/udp.zig) in *out. */
int32_t eg_udp_ring(uint32_t endpoint, uint64_t *out);
/* Fills the ring (recvmmsg); > 0 datagrams buffered, or 0: an op reports with token (token 0: -EG_EAGAIN). */
int32_t eg_udp_receive(uint32_t endpoint, uint32_t token);
int32_t eg_udp_cancel_receive(uint32_t endpoint);
int32_t eg_udp_send(uint32_t endpoint, const uint8_t *data, uint32_t length,
                    const uint8_t address[24]);
/* Queues a copy to leave with the next eg_udp_send_queued (checks as eg_udp_send). */
int32_t eg_udp_stage(uint32_t endpoint, const uint8_t *data, uint32_t length,
                     const uint8_t address[24]);
/* Sends what is queued without waiting (sendmmsg, UDP GSO for runs of one size). */
int32_t eg_udp_send_queued(uint32_t endpoint);
/* count datagrams packed in data (sizes in lengths) to one address. */
int32_t eg_udp_send_many(uint32_t endpoint, const uint8_t *data, uint32_t data_length,
                         const uint32_t *lengths, uint32_t count, const uint8_t address[24]);
/* Starts the op draining the send queue: 1 started, 0 nothing to do. */
int32_t eg_udp_flush_start(uint32_t endpoint, uint32_t token);
int32_t eg_udp_queued(uint32_t endpoint);
int32_t eg_udp_set_option(uint32_t endpoint, uint32_t option, int32_t value);
int32_t eg_udp_membership(uint32_t endpoint, uint32_t join, const uint8_t group[24],
                          const uint8_t interface_address[24]);
int32_t eg_udp_multicast_interface(uint32_t endpoint, const uint8_t interface_address[24]);
/* Works after the endpoint's loop was closed. */
int32_t eg_udp_close(uint32_t endpoint);

/* ---- Streams: TCP, Unix sockets, inherited descriptors, terminals --------
 * Handles (> 0) belong to the thread that opened them. Reads answer the count
 * to move out with eg_stream_take (0 at end of stream), -EG_EAGAIN (then start
 * an op with eg_stream_read_start) or -code. Ops answer -EG_EINPROGRESS and
 * complete through the ring (EG_KIND_READ ... EG_KIND_ACCEPT). read_max bounds
 * the read buffer in bytes. */
enum eg_read_mode {
  EG_READ_EXACT = 0, /* arg bytes exactly (fewer at end of stream) */
  EG_READ_UNTIL = 1, /* up to and including the delimiter */
  EG_READ_MORE = 2 /* everything buffered once more than arg bytes are */
};

enum eg_write_result {
  EG_WRITE_QUEUED = 0, /* queued behind the running drain */
  EG_WRITE_SENT = 1, /* every byte went to the kernel */
  EG_WRITE_QUEUED_START = 2, /* queued: start the drain (eg_stream_drain) */
  EG_WRITE_FAILED = 3 /* failed now; the error comes back from the next write or drain */
};

enum eg_host_io {
  EG_HOST_IO_IDLE = 0, /* no host epoll set holds uncollected events */
  EG_HOST_IO_PENDING = 1, /* some host epoll set holds events */
  EG_HOST_IO_UNKNOWN = 2 /* not known here (not Linux, sets not found) */
};

enum eg_cancel_side {
  EG_SIDE_READ = 0, /* the read (or accept) op */
  EG_SIDE_WRITE = 1 /* the drain (or connect) op */
};

#define EG_ACCEPTED 1 /* result of an accept record that carries a connection */
#define EG_STREAM_ADDRESS_BYTES 132
#define EG_STREAM_DELIMITER_MAX 65536
/* The most ops (blocked reads, drains, accepts) one loop holds at once. */
#define EG_NATIVE_OPS_MAX 1048576

/* Streams open now, every thread's. */
int32_t eg_io_streams_live(void);
/* An unconnected socket stream (for eg_tcp_connect / eg_pipe_connect). */
int32_t eg_stream_new(uint32_t loop, uint32_t read_max);
/* A stream over an inherited descriptor, which it owns from now on. */
int32_t eg_stream_open(uint32_t loop, int32_t fd, uint32_t read_max);
/* Answers a read (eg_read_mode) from the buffer and a few reads of the descriptor. */
int32_t eg_stream_read(uint32_t stream, uint32_t mode, uint32_t arg);
/* Sets the delimiter (1..EG_STREAM_DELIMITER_MAX bytes, copied) and reads up to it. */
int32_t eg_stream_read_until(uint32_t stream, const uint8_t *delimiter, uint32_t length);
/* eg_stream_read, then moves an answer that fits into dest[offset..offset+capacity). */
int32_t eg_stream_read_take(uint32_t stream, uint32_t mode, uint32_t arg,
                            const uint8_t *delimiter, uint32_t delimiter_length,
                            uint8_t *dest, uint32_t offset, uint32_t capacity);
/* Reads up to length bytes into dest: the count, 0 at end, -EG_EAGAIN or -code. */
int32_t eg_stream_read_into(uint32_t stream, uint8_t *dest, uint32_t length);
/* Starts the read op that waits for eg_stream_read's answer. */
int32_t eg_stream_read_start(uint32_t stream, uint32_t mode, uint32_t arg, uint32_t token);
/* Moves n buffered bytes into dest (dropped when dest is NULL); returns n. */
int32_t eg_stream_take(uint32_t stream, uint8_t *dest, uint32_t n);
/* Copies n buffered bytes from offset into dest, keeping them; returns n. */
int32_t eg_stream_peek(uint32_t stream, uint8_t *dest, uint32_t offset, uint32_t n);
/* ---- Stream read window: a stream's buffered input, readable without a call:
 * bytes [start, end) of the read buffer. The caller may advance start (up to
 * end) and scan; the buffer moves only inside calls on the stream, and
 * generation changes when it does (fetch it again). Valid until the stream is
 * closed. */
typedef struct eg_read_window {
  uint32_t start;
  uint32_t end;
  uint32_t scan; /* searched for the delimiter up to here */
  uint32_t generation;
} eg_read_window;
/* The window's fields as u32 word indexes (for callers that map it as words). */
#define EG_WINDOW_START 0
#define EG_WINDOW_END 1
#define EG_WINDOW_SCAN 2
#define EG_WINDOW_GENERATION 3
/* out[0] = (eg_read_window *), out[1] = buffer address (0 if none),
 * out[2] = buffer length; returns the generation (31 bits). */
int32_t eg_stream_window(uint32_t stream, uint64_t out[3]);
int32_t eg_stream_buffered(uint32_t stream);
/* Writes without blocking (the bytes are copied): an eg_write_result or -code. */
int32_t eg_stream_write(uint32_t stream, const uint8_t *bytes, uint32_t length);
/* Starts the drain op: -EG_EINPROGRESS, 0 if nothing is queued, or -code. */
int32_t eg_stream_drain(uint32_t stream, uint32_t token);
/* Bytes queued and not sent yet, or the kept write error. */
int32_t eg_stream_queued(uint32_t stream);
/* Half-closes the write side (-EG_EBUSY while bytes are queued). */
int32_t eg_stream_shutdown(uint32_t stream);
/* Completes the op on one side (eg_cancel_side) with -EG_ECANCELED. */
int32_t eg_stream_cancel(uint32_t stream, uint32_t side);
/* Its ops complete with -EG_ECANCELED; works after the loop was closed. */
int32_t eg_stream_close(uint32_t stream);
/* Local (peer 0) or remote (peer 1) address: port u16, text length u16, text. */
int32_t eg_stream_address(uint32_t stream, uint32_t peer, uint8_t out[132]);
/* Listens again with another backlog. */
int32_t eg_stream_listen(uint32_t stream, uint32_t backlog);
/* Starts a listener's accept loop: one EG_KIND_ACCEPT record per connection. */
int32_t eg_stream_accept(uint32_t stream, uint32_t token);
/* host: an IP literal, or a name resolved off the loop thread; source optional. */
int32_t eg_tcp_connect(uint32_t stream, const uint8_t *host, uint32_t host_length, uint32_t port,
                       const uint8_t *source, uint32_t source_length, uint32_t source_port,
                       uint32_t token);
/* host: an IP literal, "localhost", or empty for every IPv4 address. Returns a handle. */
int32_t eg_tcp_listen(uint32_t loop, const uint8_t *host, uint32_t host_length, uint32_t port,
                      uint32_t backlog, uint32_t read_max);
/* eg_tcp_listen with flags: EG_TCP_LISTEN_REUSE_PORT (SO_REUSEPORT; -EG_ENOSYS on Windows). */
#define EG_TCP_LISTEN_REUSE_PORT 1
int32_t eg_tcp_listen_flags(uint32_t loop, const uint8_t *host, uint32_t host_length,
                            uint32_t port, uint32_t backlog, uint32_t read_max, uint32_t flags);
/* A Unix socket path, or on Windows a named pipe \\.\pipe\name. */
int32_t eg_pipe_connect(uint32_t stream, const uint8_t *path, uint32_t length, uint32_t token);
int32_t eg_pipe_listen(uint32_t loop, const uint8_t *path, uint32_t length, uint32_t backlog,
                       uint32_t read_max);
/* A stream over the terminal on fd (-EG_EINVAL if it is not one). */
int32_t eg_tty_open(uint32_t loop, int32_t fd, uint32_t read_max);
/* out = { columns, rows }. */
int32_t eg_tty_winsize(uint32_t stream, uint32_t out[2]);
int32_t eg_tty_set_raw(uint32_t stream, uint32_t raw);

/* ---- Standard streams ----------------------------------------------------
 * A stream handle over a descriptor of its own for fd 0, 1 or 2 (a pipe,
 * socket, terminal or file alike), read and written with the eg_stream_*
 * calls above. */
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

/* ---- Test helpers (real OS descriptors) ----------------------------------
 * Only in a library built with -Dtest-exports=true (zig/test_exports.zig):
 * the default, and what tools/dev builds; release builds leave them out. */

int32_t eg_test_pipe(int32_t out[2]);
int32_t eg_test_socketpair(int32_t out[2]);
int32_t eg_test_write(int32_t fd, const uint8_t *bytes, uint32_t length);
int32_t eg_test_read(int32_t fd, uint8_t *buffer, uint32_t length);
int32_t eg_test_close(int32_t fd);
/* The hub's reference op: read exactly length (1..4096) bytes on a stacklet. */
int32_t eg_test_read_exact(uint32_t loop, int32_t fd, uint32_t length, uint32_t token);
/* Queues a datagram as if the kernel's buffer were full. */
int32_t eg_test_udp_enqueue(uint32_t endpoint, const uint8_t *data, uint32_t length,
                            const uint8_t address[24]);
/* A pseudo-terminal pair: out[0] the controlling side, out[1] the terminal. */
int32_t eg_test_openpty(int32_t out[2]);
int32_t eg_test_set_winsize(int32_t fd, uint32_t columns, uint32_t rows);
/* The stream's next close resets the connection (SO_LINGER 0). */
int32_t eg_test_stream_linger_zero(uint32_t stream);
/* Counts count more name lookups as running (a negative count gives them back), so that a
 * test fills the process's 64; returns how many run now. */
int32_t eg_test_lookup_slots_hold(int32_t count);

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
