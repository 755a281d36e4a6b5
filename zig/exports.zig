//! The C ABI: the file that exports symbols (prefix `eg_`), with test_exports.zig for the
//! test-only ones; include/evergreen.h declares them (tests/seam_test.ts checks it) and
//! src/native/symbols.ts types them for Deno. Each export converts its C arguments (a handle to
//! its object, a pointer and length to a slice), calls one function of a layer below, and
//! answers through one wrapper, `call`: 0 or a count on success, `-code` (loop/errors.zig) on
//! failure. Policy (defaults, checks, which hub an op runs on) lives in those layers
//! (zig/README.md); nothing here aborts the process on bad input. The numbers the seam uses are
//! named in abi.zig; the ABI's tests are in exports_test.zig.

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("loop/errors.zig");
const event = @import("loop/event.zig");
const signals = @import("loop/signals.zig");
const lifetime = @import("loop/lifetime.zig");
const stacklet = @import("stacklet/stacklet.zig");
const loops = @import("hub/loops.zig");
const stacklets = @import("hub/stacklets.zig");
const Hub = @import("hub/hub.zig").Hub;
const io = @import("io/io.zig");
const abi = @import("abi.zig");

const Error = errors.Error;
const Loop = @import("loop/loop.zig").Loop;
const Stream = io.stream.Stream;
const Endpoint = io.udp.Endpoint;
const streams = io.stream_calls;
const udp = io.udp_calls;

/// Bumped whenever an exported signature or the ring layout changes; the TS seam checks it.
pub const abi_version: u32 = abi.version;

const default_allocator = if (builtin.link_libc) std.heap.c_allocator else std.heap.smp_allocator;
/// The library's allocator; tests swap in the leak-checking one.
pub var allocator: std.mem.Allocator = default_allocator;

// ---------------------------------------------------------------------------------------
// The one error wrapper, and the conversions of C arguments.

/// Calls `function` with `arguments`, each of which may be a conversion's error union: they
/// are unwrapped in order, so the first bad argument names the error. Answers what `function`
/// returns as the ABI's i32: 0 for nothing, 1 or 0 for a bool, a count, handle or enum's number
/// as it is, and `-code` for an error.
pub inline fn call(comptime function: anytype, arguments: anytype) i32 {
    var unwrapped: std.meta.ArgsTuple(@TypeOf(function)) = undefined;
    inline for (arguments, 0..) |argument, index| {
        unwrapped[index] = if (comptime @typeInfo(@TypeOf(argument)) == .error_union) argument catch |err| return fail(err) else argument;
    }
    return answer(@call(.auto, function, unwrapped));
}

inline fn answer(value: anytype) i32 {
    if (comptime @typeInfo(@TypeOf(value)) == .error_union) return number(value catch |err| return fail(err));
    return number(value);
}

inline fn number(value: anytype) i32 {
    return switch (@typeInfo(@TypeOf(value))) {
        .void => 0,
        .bool => @intFromBool(value),
        .@"enum" => @intCast(@backingInt(value)),
        else => @intCast(value),
    };
}

pub fn fail(err: Error) i32 {
    return errors.negative(err);
}

pub fn toFd(fd: i32) Error!event.Fd {
    if (fd < 0) return error.BadDescriptor;
    return @intCast(fd);
}

/// An argument the call needs (an out pointer, a callback): EINVAL when null.
pub fn required(value: anytype) Error!@typeInfo(@TypeOf(value)).optional.child {
    return value orelse error.InvalidArgument;
}

/// Bytes the library reads (copies, or uses during the call); null only when empty.
pub fn bytes(data: ?[*]const u8, length: u32) Error![]const u8 {
    if (length == 0) return &.{};
    return (data orelse return error.InvalidArgument)[0..length];
}

/// Memory the library writes into; never null.
pub fn buffer(data: ?[*]u8, length: u32) Error![]u8 {
    return (data orelse return error.InvalidArgument)[0..length];
}

/// Text the library reads; never null.
fn text(data: ?[*]const u8, length: u32) Error![]const u8 {
    return (data orelse return error.InvalidArgument)[0..length];
}

fn lengths(data: ?[*]const u32, count: u32) Error![]const u32 {
    return (data orelse return error.InvalidArgument)[0..count];
}

/// A 24-byte address record of io/address.zig, checked.
pub fn address(record: ?[*]const u8) Error!io.udp.Address {
    const source = record orelse return error.InvalidArgument;
    const value = std.mem.bytesToValue(io.udp.Address, source[0..@sizeOf(io.udp.Address)]);
    if (!value.isValid()) return error.InvalidArgument;
    return value;
}

fn addressOut(out: ?[*]u8) Error!*udp.Record {
    return (out orelse return error.InvalidArgument)[0..@sizeOf(udp.Record)];
}

pub fn stream(handle: u32) Error!*Stream {
    return io.stream.streams.get(handle);
}

fn loopOf(handle: u32) Error!*Loop {
    return loops.loopOf(handle);
}

// ---------------------------------------------------------------------------------------
// Library

/// Also pins the library (see loop/lifetime.zig): Deno calls this right after opening it.
pub export fn eg_abi_version() u32 {
    _ = lifetime.pinLibrary();
    return abi_version;
}

/// Does nothing: measures the cost of an FFI call.
pub export fn eg_nop() void {}

/// The name of an error code ("EBADF"), or null; accepts the code or its negation.
pub export fn eg_error_name(value: i32) ?[*:0]const u8 {
    const found = errors.name(if (value < 0) -%value else value) orelse return null;
    return found.ptr;
}

/// Writes the value of the seam constant called name[0..length] ("EG_KIND_READ"; the table is
/// abi.zig) to out[0]; -ENOENT for a name the library does not define.
pub export fn eg_constant(name: ?[*]const u8, length: u32, out: ?*i64) i32 {
    return call(abi.write, .{ text(name, length), required(out) });
}

/// The name of seam constant number index (0, 1, ...), or null past the last one.
pub export fn eg_constant_name(index: u32) ?[*:0]const u8 {
    return if (index < abi.table.len) abi.table[index].name.ptr else null;
}

// ---------------------------------------------------------------------------------------
// Loops (hub/loops.zig; created, closed and released at thread exit by io/owned.zig)

/// Creates a loop owned by the calling thread; returns its handle (> 0) or -code.
/// ring_capacity: records in the completion ring, a power of two; 0 picks 4096.
pub export fn eg_loop_new(ring_capacity: u32) i32 {
    return call(io.owned.newLoop, .{ allocator, ring_capacity });
}

/// Destroys a loop: closes the sockets of its UDP endpoints, cancels its ops, stops its
/// watches, frees its ring. A park in progress on another thread is woken and waited for first.
pub export fn eg_loop_close(handle: u32) i32 {
    return call(io.owned.closeLoop, .{handle});
}

/// One loop turn (owner thread): waits up to timeout_ms (0: no wait, -1: forever) and returns
/// how many records the ring holds for JS now.
pub export fn eg_loop_poll(handle: u32, timeout_ms: i32) i32 {
    return call(Hub.poll, .{ loops.get(handle), timeout_ms });
}

/// Blocks the calling thread (any thread; Deno calls it as a nonblocking symbol) until the loop
/// has something to harvest, is woken, or timeout_ms passes. Touches neither the ring nor the
/// ops: the owner harvests with eg_loop_poll. Returns 1 if ready, 0 on timeout.
pub export fn eg_loop_park(handle: u32, timeout_ms: i32) i32 {
    return call(loops.park, .{ handle, timeout_ms });
}

/// Interrupts a poll or park of the loop. Any thread.
pub export fn eg_loop_wake(handle: u32) i32 {
    return call(loops.wake, .{handle});
}

/// Watches fd for events (1 readable, 2 writable, or both; 0 unwatches), replacing the
/// previous mask. Readiness records (kind 1) carry token, the ready mask and fd.
pub export fn eg_loop_watch(handle: u32, fd: i32, events: u32, token: u32) i32 {
    return call(Loop.watch, .{ loopOf(handle), toFd(fd), events, token });
}

pub export fn eg_loop_unwatch(handle: u32, fd: i32) i32 {
    return call(Loop.unwatch, .{ loopOf(handle), toFd(fd) });
}

/// Reports signo as signal records (kind 2: result = signo, aux = count since last report).
pub export fn eg_loop_watch_signal(handle: u32, signo: i32, token: u32) i32 {
    return call(Loop.watchSignal, .{ loopOf(handle), signo, token });
}

pub export fn eg_loop_unwatch_signal(handle: u32, signo: i32) i32 {
    return call(Loop.unwatchSignal, .{ loopOf(handle), signo });
}

/// How many times the library's handler caught signo in this process (wrapping, as i32 bits);
/// every arrival is counted before the handler chains to the one installed before it.
pub export fn eg_signal_arrivals(signo: i32) i32 {
    return @bitCast(signals.arrivalCount(signo));
}

/// Writes the address of the loop's ring (layout in loop/ring.zig) to out[0]; the memory lives
/// until eg_loop_close.
pub export fn eg_loop_ring(handle: u32, out: ?*u64) i32 {
    return call(loops.writeRingAddress, .{ loops.get(handle), required(out) });
}

/// Completes the ops waiting on fd with ECANCELED (call before closing it).
pub export fn eg_loop_cancel_fd(handle: u32, fd: i32) i32 {
    return call(Hub.cancelFd, .{ loops.get(handle), toFd(fd) });
}

/// Ops started and not yet completed.
pub export fn eg_loop_ops_live(handle: u32) i32 {
    return call(Hub.opsLive, .{loops.get(handle)});
}

/// Loops alive in the process, every thread's (each holds one of loops_max slots).
pub export fn eg_loops_live() i32 {
    return @intCast(loops.loops.liveCount());
}

// ---------------------------------------------------------------------------------------
// Stacklets for C/Zig/Rust embedders (hub/stacklets.zig, PyPy's API). A handle is a suspended
// stacklet, NULL means EMPTY (a stacklet that finished); a bad thread pointer is EBADF.

/// Creates the stacklet state for the calling thread (which becomes its main stacklet);
/// null when out of memory or when too many are alive.
pub export fn eg_stacklet_newthread() ?*stacklet.Thread {
    return stacklets.newThread(allocator);
}

pub export fn eg_stacklet_deletethread(thread: ?*stacklet.Thread) i32 {
    return call(stacklets.deleteThread, .{thread});
}

/// Starts run(origin, arg) on a new stacklet; when some stacklet switches back, stores its
/// handle (null if the new one already finished) in out and returns 0.
pub export fn eg_stacklet_new(thread: ?*stacklet.Thread, run: ?stacklet.RunFn, arg: ?*anyopaque, out: ?*stacklet.Handle) i32 {
    return call(stacklets.new, .{ thread, run, arg, out });
}

/// Suspends the running stacklet and resumes `handle`; stores who switched back in out.
pub export fn eg_stacklet_switch(thread: ?*stacklet.Thread, handle: ?*anyopaque, out: ?*stacklet.Handle) i32 {
    return call(stacklets.switchTo, .{ thread, handle, out });
}

/// Frees a suspended stacklet without resuming it.
pub export fn eg_stacklet_destroy(thread: ?*stacklet.Thread, handle: ?*anyopaque) i32 {
    return call(stacklets.destroy, .{ thread, handle });
}

// ---------------------------------------------------------------------------------------
// UDP endpoints (io/udp.zig, io/udp_calls.zig). Handles are > 0 and belong to the loop's
// thread; addresses cross as the 24-byte records of io/address.zig that eg_udp_address fills;
// sends return udp.SendStatus (0 sent, 1 queued, 2 queued: call eg_udp_flush_start) or -code.

fn endpoint(handle: u32) Error!*Endpoint {
    return io.udp.get(handle);
}

/// Parses the IP literal text[0..length] (or "localhost", 127.0.0.1) and port into out (a
/// 24-byte record of io/address.zig); returns the family (4 or 6). Host names are refused
/// (EINVAL): callers resolve them first (src/io/lookup.ts).
pub export fn eg_udp_address(host: ?[*]const u8, length: u32, port: u32, out: ?[*]u8) i32 {
    return call(udp.parseAddress, .{ bytes(host, length), port, addressOut(out) });
}

/// Writes the host text of the 24-byte address record into out (64 bytes: "::1",
/// "fe80::1%2", the same text TCP streams report); returns its length.
pub export fn eg_address_text(record: ?[*]const u8, out: ?*[io.address.text_max]u8) i32 {
    return call(udp.addressText, .{ address(record), required(out) });
}

/// Creates an endpoint with a socket of family 4 or 6 on loop `loop`. Zero sizes pick the
/// defaults: 64 KiB receive slots, 64 slots per batch, a 16 MiB send queue.
pub export fn eg_udp_open(loop_handle: u32, family: u32, receive_size: u32, receive_batch: u32, queue_bytes_max: u32) i32 {
    return call(udp.open, .{ allocator, loop_handle, family, receive_size, receive_batch, queue_bytes_max });
}

/// flags: 1 SO_REUSEADDR (and SO_REUSEPORT on BSDs), 2 IPV6_V6ONLY.
pub export fn eg_udp_bind(handle: u32, record: ?[*]const u8, flags: u32) i32 {
    return call(udp.bind, .{ endpoint(handle), address(record), flags });
}

pub export fn eg_udp_sockname(handle: u32, out: ?[*]u8) i32 {
    return call(udp.sockname, .{ endpoint(handle), addressOut(out) });
}

/// Writes the address of the endpoint's receive ring (layout in io/udp.zig) to out[0],
/// creating it on first call; the memory lives until eg_udp_close.
pub export fn eg_udp_ring(handle: u32, out: ?*u64) i32 {
    return call(udp.ringAddress, .{ endpoint(handle), required(out) });
}

/// Fills the receive ring; returns the datagrams buffered (> 0). With none waiting it starts
/// a receive op that posts { token, count, kind 48 } and returns 0; token 0 returns -EAGAIN.
pub export fn eg_udp_receive(handle: u32, token: u32) i32 {
    return call(udp.receive, .{ endpoint(handle), token });
}

/// Completes a waiting receive op with ECANCELED (its task gave up waiting).
pub export fn eg_udp_cancel_receive(handle: u32) i32 {
    return call(udp.cancelReceive, .{endpoint(handle)});
}

pub export fn eg_udp_send(handle: u32, data: ?[*]const u8, length: u32, record: ?[*]const u8) i32 {
    return call(udp.send, .{ endpoint(handle), bytes(data, length), address(record) });
}

/// Queues a copy of a datagram to leave with the next eg_udp_send_queued (JS calls it at the
/// end of the loop turn); fails at once where eg_udp_send would (size, address). Returns
/// udp.SendStatus (1: the send op will take it; else nothing is started) or -code.
pub export fn eg_udp_stage(handle: u32, data: ?[*]const u8, length: u32, record: ?[*]const u8) i32 {
    return call(udp.stage, .{ endpoint(handle), bytes(data, length), address(record) });
}

/// Sends the queued datagrams without waiting (sendmmsg; runs of one size to one address as
/// one segmented message where the kernel can). Returns 0 when all went, 1 when the send op
/// drains them, 2 when the kernel is full (start the op: eg_udp_flush_start), or -code of
/// the first datagram refused for good (it was dropped; the others went or wait).
pub export fn eg_udp_send_queued(handle: u32) i32 {
    return call(udp.sendQueued, .{endpoint(handle)});
}

/// Sends `count` datagrams packed in data[0..data_length] (sizes in sizes[0..count]) to one
/// address, with sendmmsg where there is one. A datagram that fails for good is dropped, the
/// rest still go; the first such failure is returned as -code.
pub export fn eg_udp_send_many(handle: u32, data: ?[*]const u8, data_length: u32, sizes: ?[*]const u32, count: u32, record: ?[*]const u8) i32 {
    return call(udp.sendMany, .{ endpoint(handle), bytes(data, data_length), lengths(sizes, count), address(record) });
}

/// Starts the op that drains the send queue; it posts { token, datagrams sent or -code of the
/// first failure, kind 49, failures }. Returns 1 if started, 0 if there was nothing to do.
pub export fn eg_udp_flush_start(handle: u32, token: u32) i32 {
    return call(udp.startFlush, .{ endpoint(handle), token });
}

/// Datagrams waiting in the send queue.
pub export fn eg_udp_queued(handle: u32) i32 {
    return call(Endpoint.queued, .{endpoint(handle)});
}

/// option: 1 broadcast, 2 multicast loopback, 3 multicast TTL, 4 TTL, 5 SO_RCVBUF, 6 SO_SNDBUF.
pub export fn eg_udp_set_option(handle: u32, option: u32, value: i32) i32 {
    return call(udp.setOption, .{ endpoint(handle), option, value });
}

/// Joins (join = 1) or leaves (0) a multicast group on an interface (IPv4: its address;
/// IPv6: the scope id of the record; the unspecified address lets the OS choose).
pub export fn eg_udp_membership(handle: u32, join: u32, group: ?[*]const u8, interface: ?[*]const u8) i32 {
    return call(udp.membership, .{ endpoint(handle), join, address(group), address(interface) });
}

pub export fn eg_udp_multicast_interface(handle: u32, interface: ?[*]const u8) i32 {
    return call(udp.setMulticastInterface, .{ endpoint(handle), address(interface) });
}

/// Closes an endpoint: one last nonblocking try for queued datagrams, its ops complete with
/// ECANCELED, its ring is freed. Works after the endpoint's loop was closed (which closed its
/// socket already: this frees the rest).
pub export fn eg_udp_close(handle: u32) i32 {
    return call(io.owned.closeEndpoint, .{handle});
}

// ---------------------------------------------------------------------------------------
// Streams: TCP, Unix sockets, inherited descriptors and terminals (io/stream.zig,
// io/stream_calls.zig). Handles are > 0 and belong to the thread that opened them; their ops
// run on the hub of the loop they were opened on. Reads answer the byte count to move out with
// eg_stream_take (0 at end of stream), -EAGAIN (then start an op with eg_stream_read_start) or
// -code. Ops answer -EINPROGRESS and complete through the ring with the kinds of
// io/stream.zig (32 read, 33 drain, 34 connect, 35 accept).

/// Streams open now (closed ones whose ops are still ending are not counted).
pub export fn eg_io_streams_live() i32 {
    return @intCast(io.stream.streams.liveCount());
}

/// An unconnected stream (a TCP or Unix socket client before eg_tcp_connect/eg_pipe_connect).
/// read_max: the read buffer's bound in bytes.
pub export fn eg_stream_new(loop_handle: u32, read_max: u32) i32 {
    return call(streams.new, .{ allocator, loop_handle, read_max });
}

/// A stream over an inherited descriptor (a pipe, a socket), which it owns from now on and
/// makes nonblocking. On Windows fd is a HANDLE value (0, 1, 2: the standard handles): a
/// pipe end, file or console is bridged to a loopback socket and closed when the bridge ends.
pub export fn eg_stream_open(loop_handle: u32, fd: i32, read_max: u32) i32 {
    return call(streams.open, .{ allocator, loop_handle, fd, read_max });
}

/// Answers a read (mode 0: exactly arg bytes, 1: to the delimiter, 2: more than arg bytes) from
/// the buffer and at most a few reads of the descriptor.
pub export fn eg_stream_read(handle: u32, mode: u32, arg: u32) i32 {
    return call(Stream.readNow, .{ stream(handle), streams.readMode(mode), arg });
}

/// Sets the delimiter (1..65536 bytes, copied) and answers a read up to it, like eg_stream_read.
pub export fn eg_stream_read_until(handle: u32, delimiter: ?[*]const u8, length: u32) i32 {
    return call(streams.readUntil, .{ stream(handle), bytes(delimiter, length) });
}

/// Answers a read like eg_stream_read (mode 1 first sets the delimiter when delimiter_length
/// is not 0) and, when the answer fits in dest[offset..][0..capacity], moves it there, so that a
/// read of buffered bytes is one call: the count. A larger answer stays buffered (move it with
/// eg_stream_take); 0 at end of stream, -EAGAIN (start an op), or -code.
pub export fn eg_stream_read_take(handle: u32, mode: u32, arg: u32, delimiter: ?[*]const u8, delimiter_length: u32, dest: ?[*]u8, offset: u32, capacity: u32) i32 {
    return call(streams.readTake, .{ stream(handle), streams.readMode(mode), arg, bytes(delimiter, delimiter_length), dest, offset, capacity });
}

/// Reads up to length bytes into dest (buffered bytes first, else straight from the socket):
/// the count, 0 at end of stream, -EAGAIN (then wait with a mode-2 op, arg 0), or -code.
pub export fn eg_stream_read_into(handle: u32, dest: ?[*]u8, length: u32) i32 {
    return call(Stream.readInto, .{ stream(handle), buffer(dest, length) });
}

/// Starts the read op that waits for eg_stream_read's answer (mode 1 uses the last delimiter).
pub export fn eg_stream_read_start(handle: u32, mode: u32, arg: u32, token: u32) i32 {
    return call(streams.startRead, .{ stream(handle), streams.readMode(mode), arg, token });
}

/// Moves n buffered bytes into dest (or drops them when dest is null); returns n.
pub export fn eg_stream_take(handle: u32, dest: ?[*]u8, n: u32) i32 {
    return call(streams.take, .{ stream(handle), dest, n });
}

/// Copies n buffered bytes from offset into dest, leaving them buffered; returns n.
pub export fn eg_stream_peek(handle: u32, dest: ?[*]u8, offset: u32, n: u32) i32 {
    return call(streams.peek, .{ stream(handle), buffer(dest, n), offset });
}

pub export fn eg_stream_buffered(handle: u32) i32 {
    return call(Stream.buffered, .{stream(handle)});
}

/// Writes without blocking; the bytes are copied before it returns. 1: all sent; 0: queued
/// behind a running drain; 2: queued, start the drain (eg_stream_drain); 3: failed now (the
/// error comes back from the next write or drain); -code.
pub export fn eg_stream_write(handle: u32, data: ?[*]const u8, length: u32) i32 {
    return call(Stream.write, .{ stream(handle), bytes(data, length) });
}

/// Starts the op that sends the write queue: -EINPROGRESS, 0 if nothing is queued, or -code.
pub export fn eg_stream_drain(handle: u32, token: u32) i32 {
    return call(streams.startDrain, .{ stream(handle), token });
}

/// Bytes queued and not sent yet (capped at 2^31 - 1), or the kept write error.
pub export fn eg_stream_queued(handle: u32) i32 {
    return call(streams.queued, .{stream(handle)});
}

/// Half-closes the write side (EBUSY while bytes are queued: drain first).
pub export fn eg_stream_shutdown(handle: u32) i32 {
    return call(Stream.shutdown, .{stream(handle)});
}

/// Completes the op on one side with ECANCELED: 0 the read (or accept), 1 the drain (or
/// connect). The other side's op keeps going.
pub export fn eg_stream_cancel(handle: u32, side: u32) i32 {
    return call(streams.cancel, .{ stream(handle), side });
}

/// Closes the stream: its ops complete with ECANCELED, queued bytes are dropped, the handle
/// dies. Works after the stream's loop was closed.
pub export fn eg_stream_close(handle: u32) i32 {
    return call(io.owned.closeStream, .{handle});
}

/// Writes the local (peer = 0) or remote (peer = 1) address into out (132 bytes): port as a
/// little-endian u16, the text's length as a u16, then the host or path text.
pub export fn eg_stream_address(handle: u32, peer: u32, out: ?*[abi.stream_address_size]u8) i32 {
    return call(streams.address, .{ stream(handle), peer, required(out) });
}

/// Listens again with another backlog (serve(backlog) after bind).
pub export fn eg_stream_listen(handle: u32, backlog: u32) i32 {
    return call(streams.listen, .{ stream(handle), backlog });
}

/// Starts the accept loop of a listener: each connection is a record { token, 1, kind 35,
/// handle }; the last record is -ECANCELED (closed or canceled) or the error that stopped it.
pub export fn eg_stream_accept(handle: u32, token: u32) i32 {
    return call(streams.startAccept, .{ stream(handle), token });
}

/// Connects an unconnected stream to host:port over TCP: an IP literal is tried at once, a
/// name is resolved off the loop thread and every address tried in order. An optional source
/// address (an IP literal, source_port 0 for any) is bound first.
pub export fn eg_tcp_connect(handle: u32, host: ?[*]const u8, host_length: u32, port: u32, source: ?[*]const u8, source_length: u32, source_port: u32, token: u32) i32 {
    return call(streams.tcpConnect, .{ stream(handle), bytes(host, host_length), port, bytes(source, source_length), source_port, token });
}

/// A TCP listener bound to host:port (an IP literal, "localhost", or "" for every IPv4
/// address) and listening: a port in use is EADDRINUSE here.
pub export fn eg_tcp_listen(loop_handle: u32, host: ?[*]const u8, host_length: u32, port: u32, backlog: u32, read_max: u32) i32 {
    return eg_tcp_listen_flags(loop_handle, host, host_length, port, backlog, read_max, 0);
}

/// eg_tcp_listen with flags (EG_TCP_LISTEN_REUSE_PORT).
pub export fn eg_tcp_listen_flags(loop_handle: u32, host: ?[*]const u8, host_length: u32, port: u32, backlog: u32, read_max: u32, flags: u32) i32 {
    return call(streams.tcpListen, .{ allocator, loop_handle, bytes(host, host_length), port, backlog, read_max, flags });
}

/// Connects an unconnected stream to the Unix socket at path, or on Windows to the named pipe
/// `\\.\pipe\name` (opened at once; EBUSY while every instance is taken).
pub export fn eg_pipe_connect(handle: u32, path: ?[*]const u8, length: u32, token: u32) i32 {
    return call(streams.pipeConnect, .{ allocator, stream(handle), bytes(path, length), token });
}

/// A Unix socket listener at path (EADDRINUSE if the path exists); closing it removes the file.
/// On Windows a `\\.\pipe\name` path serves that named pipe through loopback bridges.
pub export fn eg_pipe_listen(loop_handle: u32, path: ?[*]const u8, length: u32, backlog: u32, read_max: u32) i32 {
    return call(streams.pipeListen, .{ allocator, loop_handle, bytes(path, length), backlog, read_max });
}

/// A stream over the terminal on fd (reopened, so fd's own flags stay as they are); EINVAL if
/// it is not a terminal. On Windows fd is a console HANDLE value (0, 1, 2: the standard
/// handles), bridged to a loopback socket; only console input is read (see io/tty.zig).
pub export fn eg_tty_open(loop_handle: u32, fd: i32, read_max: u32) i32 {
    return call(streams.openTerminal, .{ allocator, loop_handle, fd, read_max });
}

/// A stream over a descriptor of its own for standard stream fd (0 input, 1 or 2 output),
/// whatever fd is (a pipe, a socket, a terminal, a file; see io/stdio.zig).
pub export fn eg_stdio_open(loop_handle: u32, fd: i32, read_max: u32) i32 {
    return call(streams.openStdio, .{ allocator, loop_handle, fd, read_max });
}

/// Writes the terminal's { columns, rows } into out.
pub export fn eg_tty_winsize(handle: u32, out: ?*[2]u32) i32 {
    return call(streams.windowSize, .{ stream(handle), required(out) });
}

/// Raw mode on (1) or back to the mode from before (0).
pub export fn eg_tty_set_raw(handle: u32, raw: u32) i32 {
    return call(streams.setRawMode, .{ stream(handle), raw });
}

// ---------------------------------------------------------------------------------------
// Name lookup (io/lookup.zig): getaddrinfo on a short-lived thread; the caller waits for the
// request's descriptor to be readable on its loop (eg_loop_watch or an addReader), then reads
// the addresses. Handles belong to the thread that started the lookup.

/// Starts resolving host (a name or an IP literal); returns the lookup's handle (> 0) or -code.
pub export fn eg_lookup_start(host: ?[*]const u8, host_length: u32) i32 {
    return call(io.lookup.start, .{ allocator, bytes(host, host_length) });
}

/// The descriptor that becomes readable once the lookup is done.
pub export fn eg_lookup_fd(handle: u32) i32 {
    return call(io.lookup.waitFd, .{handle});
}

/// Blocks the calling thread until the lookup is done or timeout_ms passed (-1: no bound):
/// 1 if done, 0 if not yet. For callers that cannot wait on a loop (a synchronous bind).
pub export fn eg_lookup_wait(handle: u32, timeout_ms: i32) i32 {
    return call(io.lookup.wait, .{ handle, timeout_ms });
}

/// Once done: writes the addresses as text, each followed by a newline, into out (at most
/// out_length bytes) and returns the byte count; -ENOENT for a name that does not resolve.
pub export fn eg_lookup_result(handle: u32, out: ?[*]u8, out_length: u32) i32 {
    return call(io.lookup.result, .{ handle, buffer(out, out_length) });
}

/// Ends a lookup, done or not (a thread still resolving frees the request when it ends); the
/// caller stops watching the descriptor first.
pub export fn eg_lookup_close(handle: u32) i32 {
    return call(io.lookup.close, .{handle});
}
