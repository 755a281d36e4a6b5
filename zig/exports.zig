//! The C ABI: the file that exports symbols (prefix `eg_`), with test_exports.zig for the
//! test-only ones; include/evergreen.h declares and documents them (tests/seam_test.ts checks
//! it) and src/native/symbols.ts types them for Deno. Each export converts its C arguments (a
//! handle to its object, a pointer and length to a slice: ffi.zig), calls one function of a
//! layer below, and answers through the one wrapper, `ffi.call`: 0 or a count on success,
//! `-code` (loop/errors.zig) on failure. Policy (defaults, checks, which hub an op runs on)
//! lives in those layers (zig/README.md); nothing here aborts the process on bad input. The
//! numbers the seam uses are named in abi.zig; the ABI's tests are in exports_test.zig.

const errors = @import("loop/errors.zig");
const signals = @import("loop/signals.zig");
const lifetime = @import("loop/lifetime.zig");
const stacklet = @import("stacklet/stacklet.zig");
const loops = @import("hub/loops.zig");
const stacklets = @import("hub/stacklets.zig");
const Hub = @import("hub/hub.zig").Hub;
const io = @import("io/io.zig");
const abi = @import("abi.zig");
const ffi = @import("ffi.zig");

const Loop = @import("loop/loop.zig").Loop;
const Stream = io.stream.Stream;
const streams = io.stream_calls;
const udp = io.udp_calls;
const call = ffi.call;
const required = ffi.required;
const bytes = ffi.bytes;
const buffer = ffi.buffer;
const address = ffi.address;
const toFd = ffi.toFd;
const stream = streams.get;
const endpoint = io.udp.get;
const loopOf = loops.loopOf;

/// Bumped whenever an exported signature or the ring layout changes; the TS seam checks it.
pub const abi_version: u32 = abi.version;

// ---------------------------------------------------------------------------------------
// Library

/// Also pins the library (loop/lifetime.zig): Deno calls it right after opening it.
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

/// Writes the value of the seam constant name[0..length] (abi.zig) to out[0]; else -ENOENT.
pub export fn eg_constant(name: ?[*]const u8, length: u32, out: ?*i64) i32 {
    return call(abi.write, .{ ffi.text(name, length), required(out) });
}

/// The name of seam constant number index, or null past the last one.
pub export fn eg_constant_name(index: u32) ?[*:0]const u8 {
    return if (index < abi.table.len) abi.table[index].name.ptr else null;
}

// ---------------------------------------------------------------------------------------
// Loops (hub/loops.zig; created, closed and released at thread exit by io/owned.zig)

/// ring_capacity: a power of two (0: 4096). Returns the loop's handle.
pub export fn eg_loop_new(ring_capacity: u32) i32 {
    return call(io.owned.newLoop, .{ ffi.allocator, ring_capacity });
}

/// Cancels ops, stops watches, frees the ring; waits for a park in progress.
pub export fn eg_loop_close(handle: u32) i32 {
    return call(io.owned.closeLoop, .{handle});
}

/// One turn: waits up to timeout_ms (0 none, -1 forever); returns the records readable.
pub export fn eg_loop_poll(handle: u32, timeout_ms: i32) i32 {
    return call(Hub.poll, .{ loops.get(handle), timeout_ms });
}

/// Any thread: blocks until there is something to harvest, a wake, or timeout_ms (1 or 0).
pub export fn eg_loop_park(handle: u32, timeout_ms: i32) i32 {
    return call(loops.park, .{ handle, timeout_ms });
}

/// Any thread: interrupts a poll or park.
pub export fn eg_loop_wake(handle: u32) i32 {
    return call(loops.wake, .{handle});
}

/// Owner thread: whether Deno's runtime has I/O events it has not collected (EG_HOST_IO_*).
pub export fn eg_loop_host_io_pending(handle: u32) i32 {
    return call(Loop.hostIo, .{loopOf(handle)});
}

/// Level-triggered readiness for fd (events: 1 readable, 2 writable; 0 unwatches).
pub export fn eg_loop_watch(handle: u32, fd: i32, events: u32, token: u32) i32 {
    return call(Loop.watch, .{ loopOf(handle), toFd(fd), events, token });
}

pub export fn eg_loop_unwatch(handle: u32, fd: i32) i32 {
    return call(Loop.unwatch, .{ loopOf(handle), toFd(fd) });
}

/// Signal records (kind 2: result = signo, aux = count since the last report).
pub export fn eg_loop_watch_signal(handle: u32, signo: i32, token: u32) i32 {
    return call(Loop.watchSignal, .{ loopOf(handle), signo, token });
}

pub export fn eg_loop_unwatch_signal(handle: u32, signo: i32) i32 {
    return call(Loop.unwatchSignal, .{ loopOf(handle), signo });
}

/// Arrivals of signo the library's handler caught, process-wide (wrapping).
pub export fn eg_signal_arrivals(signo: i32) i32 {
    return @bitCast(signals.arrivalCount(signo));
}

/// Stores the ring's address (layout in loop/ring.zig) in out[0]; valid until close.
pub export fn eg_loop_ring(handle: u32, out: ?*u64) i32 {
    return call(loops.writeRingAddress, .{ loops.get(handle), required(out) });
}

/// Completes the ops waiting on fd with ECANCELED (call before closing it).
pub export fn eg_loop_cancel_fd(handle: u32, fd: i32) i32 {
    return call(Hub.cancelFd, .{ loops.get(handle), toFd(fd) });
}

pub export fn eg_loop_ops_live(handle: u32) i32 {
    return call(Hub.opsLive, .{loops.get(handle)});
}

/// Loops alive in the process, every thread's.
pub export fn eg_loops_live() i32 {
    return @intCast(loops.loops.liveCount());
}

// ---------------------------------------------------------------------------------------
// Stacklets for C/Zig/Rust embedders (hub/stacklets.zig, PyPy's API). A handle is a suspended
// stacklet, NULL means EMPTY (a stacklet that finished); a bad thread pointer is EBADF.

/// Null when out of memory or too many; the calling thread's stack becomes main's.
pub export fn eg_stacklet_newthread() ?*stacklet.Thread {
    return stacklets.newThread(ffi.allocator);
}

pub export fn eg_stacklet_deletethread(thread: ?*stacklet.Thread) i32 {
    return call(stacklets.deleteThread, .{thread});
}

/// Runs run(origin, arg) on a new stacklet; out = who switched back (null: it finished).
pub export fn eg_stacklet_new(thread: ?*stacklet.Thread, run: ?stacklet.RunFn, arg: ?*anyopaque, out: ?*stacklet.Handle) i32 {
    return call(stacklets.new, .{ thread, run, arg, out });
}

/// Suspends the running stacklet, resumes handle; out = who switched back.
pub export fn eg_stacklet_switch(thread: ?*stacklet.Thread, handle: ?*anyopaque, out: ?*stacklet.Handle) i32 {
    return call(stacklets.switchTo, .{ thread, handle, out });
}

/// Frees a suspended stacklet without resuming it.
pub export fn eg_stacklet_destroy(thread: ?*stacklet.Thread, handle: ?*anyopaque) i32 {
    return call(stacklets.destroy, .{ thread, handle });
}

// ---------------------------------------------------------------------------------------
// UDP endpoints (io/udp.zig, io/udp_calls.zig). Addresses cross as the 24-byte records of
// io/address.zig; sends return a udp.SendStatus or -code.

/// An IP literal (or "localhost") and port as a 24-byte record; returns the family (4|6).
pub export fn eg_udp_address(host: ?[*]const u8, length: u32, port: u32, out: ?[*]u8) i32 {
    return call(udp.parseAddress, .{ bytes(host, length), port, ffi.addressOut(out) });
}

/// The host text of an address record ("::1", "fe80::1%2"); returns its length.
pub export fn eg_address_text(record: ?[*]const u8, out: ?*[io.address.text_max]u8) i32 {
    return call(udp.addressText, .{ address(record), required(out) });
}

/// family 4|6; zero sizes pick the defaults of udp.Options. Returns a handle.
pub export fn eg_udp_open(loop_handle: u32, family: u32, receive_size: u32, receive_batch: u32, queue_bytes_max: u32) i32 {
    return call(udp.open, .{ ffi.allocator, loop_handle, family, receive_size, receive_batch, queue_bytes_max });
}

/// flags: 1 SO_REUSEADDR (and SO_REUSEPORT on BSDs), 2 IPV6_V6ONLY.
pub export fn eg_udp_bind(handle: u32, record: ?[*]const u8, flags: u32) i32 {
    return call(udp.bind, .{ endpoint(handle), address(record), flags });
}

pub export fn eg_udp_sockname(handle: u32, out: ?[*]u8) i32 {
    return call(udp.sockname, .{ endpoint(handle), ffi.addressOut(out) });
}

/// Stores the receive ring's address (layout in io/udp.zig) in out[0].
pub export fn eg_udp_ring(handle: u32, out: ?*u64) i32 {
    return call(udp.ringAddress, .{ endpoint(handle), required(out) });
}

/// Fills the ring: > 0 datagrams buffered, or 0 when an op reports with token (0: -EAGAIN).
pub export fn eg_udp_receive(handle: u32, token: u32) i32 {
    return call(udp.receive, .{ endpoint(handle), token });
}

pub export fn eg_udp_cancel_receive(handle: u32) i32 {
    return call(udp.cancelReceive, .{endpoint(handle)});
}

pub export fn eg_udp_send(handle: u32, data: ?[*]const u8, length: u32, record: ?[*]const u8) i32 {
    return call(udp.send, .{ endpoint(handle), bytes(data, length), address(record) });
}

/// Queues a copy to leave with the next eg_udp_send_queued (checks as eg_udp_send).
pub export fn eg_udp_stage(handle: u32, data: ?[*]const u8, length: u32, record: ?[*]const u8) i32 {
    return call(udp.stage, .{ endpoint(handle), bytes(data, length), address(record) });
}

/// Sends what is queued without waiting: a SendStatus, or the first datagram refused.
pub export fn eg_udp_send_queued(handle: u32) i32 {
    return call(udp.sendQueued, .{endpoint(handle)});
}

/// count datagrams packed in data (sizes in sizes) to one address.
pub export fn eg_udp_send_many(handle: u32, data: ?[*]const u8, data_length: u32, sizes: ?[*]const u32, count: u32, record: ?[*]const u8) i32 {
    return call(udp.sendMany, .{ endpoint(handle), bytes(data, data_length), ffi.lengths(sizes, count), address(record) });
}

/// Starts the op draining the send queue: 1 started, 0 nothing to do.
pub export fn eg_udp_flush_start(handle: u32, token: u32) i32 {
    return call(udp.startFlush, .{ endpoint(handle), token });
}

pub export fn eg_udp_queued(handle: u32) i32 {
    return call(io.udp.Endpoint.queued, .{endpoint(handle)});
}

/// option: 1 broadcast, 2 multicast loop, 3 multicast TTL, 4 TTL, 5 SO_RCVBUF, 6 SO_SNDBUF.
pub export fn eg_udp_set_option(handle: u32, option: u32, value: i32) i32 {
    return call(udp.setOption, .{ endpoint(handle), option, value });
}

/// Joins (1) or leaves (0) a multicast group on an interface.
pub export fn eg_udp_membership(handle: u32, join: u32, group: ?[*]const u8, interface: ?[*]const u8) i32 {
    return call(udp.membership, .{ endpoint(handle), join, address(group), address(interface) });
}

pub export fn eg_udp_multicast_interface(handle: u32, interface: ?[*]const u8) i32 {
    return call(udp.setMulticastInterface, .{ endpoint(handle), address(interface) });
}

/// Works after the endpoint's loop was closed (which closed its socket).
pub export fn eg_udp_close(handle: u32) i32 {
    return call(io.owned.closeEndpoint, .{handle});
}

// ---------------------------------------------------------------------------------------
// Streams: TCP, Unix sockets, inherited descriptors and terminals (io/stream.zig,
// io/stream_calls.zig). Reads answer a count to move out with eg_stream_take (0 at end),
// -EAGAIN (start an op) or -code; ops answer -EINPROGRESS and complete through the ring.

/// Streams open now, every thread's.
pub export fn eg_io_streams_live() i32 {
    return @intCast(io.stream.streams.liveCount());
}

/// An unconnected socket stream (for eg_tcp_connect or eg_pipe_connect).
pub export fn eg_stream_new(loop_handle: u32, read_max: u32) i32 {
    return call(streams.new, .{ ffi.allocator, loop_handle, read_max });
}

/// A stream over an inherited descriptor (on Windows a HANDLE value), which it owns.
pub export fn eg_stream_open(loop_handle: u32, fd: i32, read_max: u32) i32 {
    return call(streams.open, .{ ffi.allocator, loop_handle, fd, read_max });
}

/// Answers a read (mode 0 exact, 1 until, 2 more) from the buffer and a few reads.
pub export fn eg_stream_read(handle: u32, mode: u32, arg: u32) i32 {
    return call(Stream.readNow, .{ stream(handle), streams.readMode(mode), arg });
}

/// Sets the delimiter (copied) and answers a read up to it.
pub export fn eg_stream_read_until(handle: u32, delimiter: ?[*]const u8, length: u32) i32 {
    return call(streams.readUntil, .{ stream(handle), bytes(delimiter, length) });
}

/// eg_stream_read, then moves an answer that fits into dest[offset..][0..capacity].
pub export fn eg_stream_read_take(handle: u32, mode: u32, arg: u32, delimiter: ?[*]const u8, delimiter_length: u32, dest: ?[*]u8, offset: u32, capacity: u32) i32 {
    return call(streams.readTake, .{ stream(handle), streams.readMode(mode), arg, bytes(delimiter, delimiter_length), dest, offset, capacity });
}

/// Reads up to length bytes into dest: the count, 0 at end, -EAGAIN or -code.
pub export fn eg_stream_read_into(handle: u32, dest: ?[*]u8, length: u32) i32 {
    return call(Stream.readInto, .{ stream(handle), buffer(dest, length) });
}

/// Starts the read op that waits for eg_stream_read's answer.
pub export fn eg_stream_read_start(handle: u32, mode: u32, arg: u32, token: u32) i32 {
    return call(streams.startRead, .{ stream(handle), streams.readMode(mode), arg, token });
}

/// Moves n buffered bytes into dest (dropped when dest is null); returns n.
pub export fn eg_stream_take(handle: u32, dest: ?[*]u8, n: u32) i32 {
    return call(streams.take, .{ stream(handle), dest, n });
}

/// Copies n buffered bytes from offset into dest, keeping them; returns n.
pub export fn eg_stream_peek(handle: u32, dest: ?[*]u8, offset: u32, n: u32) i32 {
    return call(streams.peek, .{ stream(handle), buffer(dest, n), offset });
}

/// The read window (io/stream_calls.zig): the Window's address, the buffer's and its length.
pub export fn eg_stream_window(handle: u32, out: ?[*]u64) i32 {
    return call(streams.window, .{ stream(handle), required(out) });
}

pub export fn eg_stream_buffered(handle: u32) i32 {
    return call(Stream.buffered, .{stream(handle)});
}

/// Writes without blocking (the bytes are copied): an abi.StreamWrite or -code.
pub export fn eg_stream_write(handle: u32, data: ?[*]const u8, length: u32) i32 {
    return call(Stream.write, .{ stream(handle), bytes(data, length) });
}

/// Starts the drain op: -EINPROGRESS, 0 if nothing is queued, or -code.
pub export fn eg_stream_drain(handle: u32, token: u32) i32 {
    return call(streams.startDrain, .{ stream(handle), token });
}

/// Bytes queued and not sent yet, or the kept write error.
pub export fn eg_stream_queued(handle: u32) i32 {
    return call(streams.queued, .{stream(handle)});
}

/// Half-closes the write side (EBUSY while bytes are queued).
pub export fn eg_stream_shutdown(handle: u32) i32 {
    return call(Stream.shutdown, .{stream(handle)});
}

/// Completes the op on one side (io/stream_calls.zig `CancelSide`) with ECANCELED.
pub export fn eg_stream_cancel(handle: u32, side: u32) i32 {
    return call(streams.cancel, .{ stream(handle), side });
}

/// Its ops complete with ECANCELED; works after the loop was closed.
pub export fn eg_stream_close(handle: u32) i32 {
    return call(io.owned.closeStream, .{handle});
}

/// Local (peer 0) or remote (peer 1) address: port u16, text length u16, text.
pub export fn eg_stream_address(handle: u32, peer: u32, out: ?*[abi.stream_address_size]u8) i32 {
    return call(streams.address, .{ stream(handle), peer, required(out) });
}

pub export fn eg_stream_listen(handle: u32, backlog: u32) i32 {
    return call(streams.listen, .{ stream(handle), backlog });
}

/// Starts a listener's accept loop: one kind-35 record per connection.
pub export fn eg_stream_accept(handle: u32, token: u32) i32 {
    return call(streams.startAccept, .{ stream(handle), token });
}

/// host: an IP literal, or a name resolved off the loop thread; source optional.
pub export fn eg_tcp_connect(handle: u32, host: ?[*]const u8, host_length: u32, port: u32, source: ?[*]const u8, source_length: u32, source_port: u32, token: u32) i32 {
    return call(streams.tcpConnect, .{ stream(handle), bytes(host, host_length), port, bytes(source, source_length), source_port, token });
}

/// host: an IP literal, "localhost", or empty for every IPv4 address.
pub export fn eg_tcp_listen(loop_handle: u32, host: ?[*]const u8, host_length: u32, port: u32, backlog: u32, read_max: u32) i32 {
    return eg_tcp_listen_flags(loop_handle, host, host_length, port, backlog, read_max, 0);
}

/// eg_tcp_listen with flags (EG_TCP_LISTEN_REUSE_PORT).
pub export fn eg_tcp_listen_flags(loop_handle: u32, host: ?[*]const u8, host_length: u32, port: u32, backlog: u32, read_max: u32, flags: u32) i32 {
    return call(streams.tcpListen, .{ ffi.allocator, loop_handle, bytes(host, host_length), port, backlog, read_max, flags });
}

/// A Unix socket path, or on Windows a named pipe \\.\pipe\name.
pub export fn eg_pipe_connect(handle: u32, path: ?[*]const u8, length: u32, token: u32) i32 {
    return call(streams.pipeConnect, .{ ffi.allocator, stream(handle), bytes(path, length), token });
}

/// A Unix socket path (removed on close), or on Windows a named pipe served by bridges.
pub export fn eg_pipe_listen(loop_handle: u32, path: ?[*]const u8, length: u32, backlog: u32, read_max: u32) i32 {
    return call(streams.pipeListen, .{ ffi.allocator, loop_handle, bytes(path, length), backlog, read_max });
}

/// A stream over the terminal on fd (EINVAL if it is not one).
pub export fn eg_tty_open(loop_handle: u32, fd: i32, read_max: u32) i32 {
    return call(streams.openTerminal, .{ ffi.allocator, loop_handle, fd, read_max });
}

/// A stream over a descriptor of its own for standard stream fd (io/stdio.zig).
pub export fn eg_stdio_open(loop_handle: u32, fd: i32, read_max: u32) i32 {
    return call(streams.openStdio, .{ ffi.allocator, loop_handle, fd, read_max });
}

/// out = { columns, rows }.
pub export fn eg_tty_winsize(handle: u32, out: ?*[2]u32) i32 {
    return call(streams.windowSize, .{ stream(handle), required(out) });
}

/// Raw mode on (1) or back to the mode from before (0).
pub export fn eg_tty_set_raw(handle: u32, raw: u32) i32 {
    return call(streams.setRawMode, .{ stream(handle), raw });
}

// ---------------------------------------------------------------------------------------
// Name lookup (io/lookup.zig): getaddrinfo on a short-lived thread; the caller waits for the
// request's descriptor on its loop (or with eg_lookup_wait), then reads the addresses.

/// Starts resolving host (a name or an IP literal); returns the lookup's handle.
pub export fn eg_lookup_start(host: ?[*]const u8, host_length: u32) i32 {
    return call(io.lookup.start, .{ ffi.allocator, bytes(host, host_length) });
}

/// The descriptor that becomes readable once the lookup is done.
pub export fn eg_lookup_fd(handle: u32) i32 {
    return call(io.lookup.waitFd, .{handle});
}

/// Blocks until done or timeout_ms (-1: no bound): 1 done, 0 not yet.
pub export fn eg_lookup_wait(handle: u32, timeout_ms: i32) i32 {
    return call(io.lookup.wait, .{ handle, timeout_ms });
}

/// The addresses as text, one per line, into out; -ENOENT for a name that does not resolve.
pub export fn eg_lookup_result(handle: u32, out: ?[*]u8, out_length: u32) i32 {
    return call(io.lookup.result, .{ handle, buffer(out, out_length) });
}

/// Ends a lookup, done or not; stop watching its descriptor first.
pub export fn eg_lookup_close(handle: u32) i32 {
    return call(io.lookup.close, .{handle});
}
