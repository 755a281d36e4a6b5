/**
 * Every number the TS side shares with the native library: record kinds,
 * readiness bits, read modes, write and send results, cancel sides, UDP
 * options, defaults and address families, and the byte layout of both rings.
 * The native side is the source (zig/abi.zig); this is its one TS copy, and
 * tests/seam_test.ts checks each export here against the library's
 * `EG_<name>` (`eg_constant`). The other `src/native/` modules re-export what
 * the I/O layer needs; error codes are in `errors.ts`.
 *
 * @example
 * ```ts
 * import { KIND_READ, READABLE } from "./constants.ts";
 * console.log(KIND_READ, READABLE); // 32 1
 * ```
 *
 * @module
 */

/** The C ABI version this module speaks (`eg_abi_version`). */
export const ABI_VERSION = 1;

// ---- the loop (zig/loop/event.zig, zig/loop/ring.zig, zig/hub/hub.zig) ----

/** Interest and readiness bit: the descriptor can be read. */
export const READABLE = 1;
/** Interest and readiness bit: the descriptor can be written. */
export const WRITABLE = 2;
/** Readiness bit: the descriptor has an error pending (with READABLE|WRITABLE). */
export const FAILED = 4;
/** Readiness bit: the peer hung up (with READABLE). */
export const HANGUP = 8;

/** Record kind: a watched descriptor is ready; result = bits, aux = fd. */
export const KIND_READINESS = 1;
/** Record kind: a watched signal arrived; result = signo, aux = count. */
export const KIND_SIGNAL = 2;
/** Record kind: the reference op (read exactly N bytes) completed. */
export const KIND_READ_EXACT = 16;
/**
 * Native operations (blocked reads, drains, accepts, ...) one loop holds at
 * once: its op table grows on demand up to this cap, and a start past it
 * fails with EOVERFLOW.
 */
export const NATIVE_OPS_MAX = 1048576;

/** The completion ring's magic number ("EGR1"). */
export const RING_MAGIC = 0x31524745;
/** Bytes of the completion ring's header; records follow it. */
export const RING_HEADER_BYTES = 64;
/** Bytes of one completion record (token, result, kind, aux). */
export const RING_RECORD_BYTES = 16;
/** u32 index of the ring header's magic. */
export const RING_WORD_MAGIC = 0;
/** u32 index of the ring header's record size. */
export const RING_WORD_RECORD_SIZE = 1;
/** u32 index of the ring header's capacity (records, a power of two). */
export const RING_WORD_CAPACITY = 2;
/** u32 index of the ring's head (written by JS only). */
export const RING_WORD_HEAD = 4;
/** u32 index of the ring's tail (written by native code only). */
export const RING_WORD_TAIL = 5;
/** u32 index of the count of readiness reports held back (ring full). */
export const RING_WORD_DEFERRED = 6;
/** u32 index of the count of op completions waiting natively. */
export const RING_WORD_OVERFLOW = 7;

// ---- streams (zig/io/stream.zig, zig/io/socket.zig) ----

/** Record kind of the stream read op. */
export const KIND_READ = 32;
/** Record kind of the drain op. */
export const KIND_DRAIN = 33;
/** Record kind of the connect op. */
export const KIND_CONNECT = 34;
/** Record kind of the accept loop (result 1: a connection, aux its handle). */
export const KIND_ACCEPT = 35;
/** Accept record result that carries a new connection's handle in aux. */
export const ACCEPTED = 1;

/** Read mode: exactly `arg` bytes (fewer at end of stream). */
export const READ_EXACT = 0;
/** Read mode: up to and including the delimiter. */
export const READ_UNTIL = 1;
/** Read mode: everything buffered once more than `arg` bytes are. */
export const READ_MORE = 2;

/** Write result: queued behind the drain op that is running. */
export const WRITE_QUEUED = 0;
/** Write result: every byte went to the kernel. */
export const WRITE_SENT = 1;
/** Write result: queued; start the drain op (`eg_stream_drain`). */
export const WRITE_QUEUED_START = 2;
/** Write result: the write failed now; the error comes back later. */
export const WRITE_FAILED = 3;

/** `eg_loop_host_io_pending`: no host epoll set holds uncollected events. */
export const HOST_IO_IDLE = 0;
/** `eg_loop_host_io_pending`: Deno's runtime has I/O events to collect. */
export const HOST_IO_PENDING = 1;
/** `eg_loop_host_io_pending`: not known here (not Linux, sets not found). */
export const HOST_IO_UNKNOWN = 2;

/** Cancel side: the read (or accept) op. */
export const SIDE_READ = 0;
/** Cancel side: the drain (or connect) op. */
export const SIDE_WRITE = 1;

/** Bytes `eg_stream_address` writes: port, text length, then the text. */
export const STREAM_ADDRESS_BYTES = 132;
/** The longest delimiter a stream read takes, in bytes. */
export const STREAM_DELIMITER_MAX = 65536;
/** Read window word: the first buffered byte's offset in the buffer. */
export const WINDOW_START = 0;
/** Read window word: one past the last buffered byte. */
export const WINDOW_END = 1;
/** Read window word: searched for the delimiter up to here (an offset). */
export const WINDOW_SCAN = 2;
/** Read window word: changes whenever the native side replaces the buffer. */
export const WINDOW_GENERATION = 3;
/** `eg_tcp_listen_flags` flag: SO_REUSEPORT (listeners share the port). */
export const TCP_LISTEN_REUSE_PORT = 1;

// ---- UDP endpoints (zig/io/udp.zig, zig/io/udp_socket.zig) ----

/** Address family of an IPv4 record. */
export const FAMILY_IP4 = 4;
/** Address family of an IPv6 record. */
export const FAMILY_IP6 = 6;
/**
 * Bytes of an address record (family, port, scope id, 16 address bytes),
 * for TCP and UDP alike.
 */
export const UDP_ADDRESS_BYTES = 24;
/** Bytes of the longest host text an address record formats to. */
export const ADDRESS_TEXT_BYTES = 64;
/** The largest UDP payload the endpoint sends (IPv6 without jumbograms). */
export const DATAGRAM_SIZE_MAX = 65527;

/** Send result: every datagram went to the kernel. */
export const SEND_SENT = 0;
/** Send result: some datagrams are queued and the drain op is running. */
export const SEND_QUEUED = 1;
/** Send result: some datagrams are queued; start the drain op. */
export const SEND_QUEUED_START = 2;

/** `bind` flag: SO_REUSEADDR (and SO_REUSEPORT on BSDs). */
export const BIND_REUSE_ADDRESS = 1;
/** `bind` flag: an IPv6 socket that does not take IPv4 datagrams. */
export const BIND_IPV6_ONLY = 2;
/** `bind` flag: SO_REUSEPORT (endpoints in several threads share the port). */
export const BIND_REUSE_PORT = 4;

/** `eg_udp_set_option`: SO_BROADCAST. */
export const UDP_OPTION_BROADCAST = 1;
/** `eg_udp_set_option`: multicast loopback. */
export const UDP_OPTION_MULTICAST_LOOPBACK = 2;
/** `eg_udp_set_option`: multicast TTL (hop limit). */
export const UDP_OPTION_MULTICAST_TTL = 3;
/** `eg_udp_set_option`: unicast TTL (hop limit). */
export const UDP_OPTION_TTL = 4;
/** `eg_udp_set_option`: SO_RCVBUF. */
export const UDP_OPTION_RECEIVE_BUFFER_SIZE = 5;
/** `eg_udp_set_option`: SO_SNDBUF. */
export const UDP_OPTION_SEND_BUFFER_SIZE = 6;

/** Default bytes per receive slot (the largest datagram received whole). */
export const UDP_RECEIVE_SIZE_DEFAULT = 65536;
/** The most bytes a receive slot may have. */
export const UDP_RECEIVE_SIZE_MAX = 65536;
/** Default receive slots (datagrams taken from the kernel per call). */
export const UDP_RECEIVE_BATCH_DEFAULT = 64;
/** The most receive slots (a power of two). */
export const UDP_RECEIVE_BATCH_MAX = 1024;
/** Default bytes the send queue may hold. */
export const UDP_QUEUE_BYTES_DEFAULT = 16 << 20;
/** The fewest bytes a send queue may be given. */
export const UDP_QUEUE_BYTES_MIN = 65536;

/** The receive ring's magic number ("EGU1"). */
export const UDP_RING_MAGIC = 0x31554745;
/** Bytes of the receive ring's header. */
export const UDP_RING_HEADER_BYTES = 64;
/** Bytes of one datagram's metadata (length, flags, sender record). */
export const UDP_META_BYTES = 32;
/** Metadata flag: the datagram did not fit its slot. */
export const UDP_META_TRUNCATED = 1;
/** u32 index of the receive ring header's magic. */
export const UDP_RING_WORD_MAGIC = 0;
/** u32 index of the receive ring's slot count. */
export const UDP_RING_WORD_SLOT_COUNT = 1;
/** u32 index of the receive ring's slot size. */
export const UDP_RING_WORD_SLOT_SIZE = 2;
/** u32 index of the byte offset of the metadata array. */
export const UDP_RING_WORD_META_OFFSET = 3;
/** u32 index of the receive ring's head (written by JS only). */
export const UDP_RING_WORD_HEAD = 4;
/** u32 index of the receive ring's tail (written by native code only). */
export const UDP_RING_WORD_TAIL = 5;
/** u32 index of the byte offset of the slot data. */
export const UDP_RING_WORD_DATA_OFFSET = 6;
/** u32 index of the metadata size (checked against UDP_META_BYTES). */
export const UDP_RING_WORD_META_SIZE = 7;
