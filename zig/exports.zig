//! The C ABI: the file that exports symbols (prefix `eg_`), with test_exports.zig for the
//! test-only ones; include/evergreen.h declares them (tests/seam_test.ts checks it) and
//! src/native/symbols.ts types them for Deno. Every function validates its arguments and
//! returns 0 or a count on success and `-code` (loop/errors.zig) on failure; nothing here
//! aborts the process on bad input. The numbers the seam uses are named in abi.zig.

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("loop/errors.zig");
const handles = @import("loop/handles.zig");
const event = @import("loop/event.zig");
const support = @import("loop/test_support.zig");
const SpinLock = @import("loop/spin_lock.zig").SpinLock;
const hub_module = @import("hub.zig");
const signals = @import("loop/signals.zig");
const stacklet = @import("stacklet/stacklet.zig");
const lifetime = @import("loop/lifetime.zig");
const abi = @import("abi.zig");

const Hub = hub_module.Hub;
const Fd = event.Fd;

/// Bumped whenever an exported signature or the ring layout changes; the TS seam checks it.
pub const abi_version: u32 = abi.version;
pub const loops_max = 64;
/// Ops (blocked reads, drains, accepts, ...) one loop holds at once.
pub const ops_max = hub_module.ops_limit;

const default_allocator = if (builtin.link_libc) std.heap.c_allocator else std.heap.smp_allocator;
/// The library's allocator; tests swap in the leak-checking one.
pub var allocator: std.mem.Allocator = default_allocator;

pub var loops: handles.Registry(Hub, loops_max) = .{};

pub fn fail(err: errors.Error) i32 {
    return errors.negative(err);
}

pub fn toFd(fd: i32) errors.Error!Fd {
    if (fd < 0) return error.BadDescriptor;
    return @intCast(fd);
}

// ---------------------------------------------------------------------------------------
// Library

/// Also pins the library (see loop/lifetime.zig): Deno calls this right after opening it.
export fn eg_abi_version() u32 {
    _ = lifetime.pinLibrary();
    return abi_version;
}

/// Does nothing: measures the cost of an FFI call.
export fn eg_nop() void {}

/// The name of an error code ("EBADF"), or null; accepts the code or its negation.
export fn eg_error_name(value: i32) ?[*:0]const u8 {
    const positive = if (value < 0) -%value else value;
    const text = errors.name(positive) orelse return null;
    return text.ptr;
}

/// Writes the value of the seam constant called name[0..length] ("EG_KIND_READ"; the table is
/// abi.zig) to out[0]; -ENOENT for a name the library does not define.
export fn eg_constant(name: ?[*]const u8, length: u32, out: ?*i64) i32 {
    const text = name orelse return fail(error.InvalidArgument);
    const target = out orelse return fail(error.InvalidArgument);
    target.* = abi.lookup(text[0..length]) orelse return fail(error.NotFound);
    return 0;
}

/// The name of seam constant number index (0, 1, ...), or null past the last one.
export fn eg_constant_name(index: u32) ?[*:0]const u8 {
    if (index >= abi.table.len) return null;
    return abi.table[index].name.ptr;
}

// ---------------------------------------------------------------------------------------
// Loops

/// Creates a loop owned by the calling thread; returns its handle (> 0) or -code.
/// ring_capacity: records in the completion ring, a power of two; 0 picks 4096.
export fn eg_loop_new(ring_capacity: u32) i32 {
    // Parks and lookups may run library code on other threads from now on; and a thread that
    // owns a loop gives back what its loops own when it exits.
    _ = lifetime.pinLibrary();
    ThreadExit.register() catch |err| return fail(err);
    var options: hub_module.Options = .{};
    // Every blocked stream read, drain or accept is an op. Their table (the overflow reserve)
    // starts small and grows on demand up to ops_max, the hard cap src/native mirrors in
    // NATIVE_OPS_MAX for its error message.
    options.ops_max = ops_max;
    options.loop.overflow_capacity = 4096;
    options.loop.overflow_capacity_max = ops_max + 2048;
    if (ring_capacity != 0) options.loop.ring_capacity = ring_capacity;
    const hub = Hub.create(allocator, options) catch |err| return fail(err);
    const handle = loops.insert(hub) catch |err| {
        hub.destroy();
        return fail(err);
    };
    return @intCast(handle);
}

const ThreadExit = lifetime.ThreadExit(releaseThread);

/// Runs as a thread that created a loop exits. A Deno Worker that ends runs no JS finalizers,
/// so what its loops own is given back here: each loop is closed (a park in progress on
/// another thread is woken and awaited, its slot freed), then the thread's UDP endpoints and
/// streams are closed (their descriptors, and so their ports, released) and its name lookups
/// ended (a lookup still resolving frees its request when its thread ends).
fn releaseThread() void {
    const thread = handles.currentThread();
    closeOwned(&loops, thread, eg_loop_close);
    closeOwned(&udp.endpoints, thread, eg_udp_close);
    closeOwned(&io.stream.streams, thread, eg_stream_close);
    closeOwned(&lookups, thread, eg_lookup_close);
}

fn closeOwned(registry: anytype, thread: usize, comptime close: fn (u32) callconv(.c) i32) void {
    var from: u32 = 0;
    while (registry.nextOwnedBy(thread, from)) |handle| {
        from = @TypeOf(registry.*).slotIndex(handle) + 1;
        _ = close(handle);
    }
}

/// Destroys a loop: closes the sockets of its UDP endpoints, cancels its ops, stops its
/// watches, frees its ring. A park in progress on another thread is woken and waited for first.
export fn eg_loop_close(handle: u32) i32 {
    const hub = loops.retire(handle) catch |err| return fail(err);
    hub.loop.wake() catch {};
    if (!loops.awaitForeign(handle)) return fail(error.Busy); // leaked, never freed under a user
    udp.closeLoop(handle, hub) catch {};
    hub.destroy();
    return 0;
}

/// One loop turn (owner thread): waits up to timeout_ms (0: no wait, -1: forever) and returns
/// how many records the ring holds for JS now.
export fn eg_loop_poll(handle: u32, timeout_ms: i32) i32 {
    const hub = loops.get(handle) catch |err| return fail(err);
    const count = hub.poll(timeout_ms) catch |err| return fail(err);
    return @intCast(count);
}

/// Blocks the calling thread (any thread; Deno calls it as a nonblocking symbol) until the loop
/// has something to harvest, is woken, or timeout_ms passes. Touches neither the ring nor the
/// ops: the owner harvests with eg_loop_poll. Returns 1 if ready, 0 on timeout.
export fn eg_loop_park(handle: u32, timeout_ms: i32) i32 {
    const hub = loops.acquire(handle) catch |err| return fail(err);
    defer loops.release(handle);
    const ready = hub.loop.park(timeout_ms) catch |err| return fail(err);
    return @intFromBool(ready);
}

/// Interrupts a poll or park of the loop. Any thread.
export fn eg_loop_wake(handle: u32) i32 {
    const hub = loops.acquire(handle) catch |err| return fail(err);
    defer loops.release(handle);
    hub.loop.wake() catch |err| return fail(err);
    return 0;
}

/// Watches fd for events (1 readable, 2 writable, or both; 0 unwatches), replacing the
/// previous mask. Readiness records (kind 1) carry token, the ready mask and fd.
export fn eg_loop_watch(handle: u32, fd: i32, events: u32, token: u32) i32 {
    const hub = loops.get(handle) catch |err| return fail(err);
    hub.loop.watch(toFd(fd) catch |err| return fail(err), events, token) catch |err| return fail(err);
    return 0;
}

export fn eg_loop_unwatch(handle: u32, fd: i32) i32 {
    const hub = loops.get(handle) catch |err| return fail(err);
    hub.loop.unwatch(toFd(fd) catch |err| return fail(err)) catch |err| return fail(err);
    return 0;
}

/// Reports signo as signal records (kind 2: result = signo, aux = count since last report).
export fn eg_loop_watch_signal(handle: u32, signo: i32, token: u32) i32 {
    const hub = loops.get(handle) catch |err| return fail(err);
    hub.loop.watchSignal(signo, token) catch |err| return fail(err);
    return 0;
}

export fn eg_loop_unwatch_signal(handle: u32, signo: i32) i32 {
    const hub = loops.get(handle) catch |err| return fail(err);
    hub.loop.unwatchSignal(signo) catch |err| return fail(err);
    return 0;
}

/// How many times the library's handler caught signo in this process (wrapping, as i32 bits);
/// every arrival is counted before the handler chains to the one installed before it.
export fn eg_signal_arrivals(signo: i32) i32 {
    return @bitCast(signals.arrivalCount(signo));
}

/// Writes the address of the loop's ring (layout in loop/ring.zig) to out[0]; the memory lives
/// until eg_loop_close.
export fn eg_loop_ring(handle: u32, out: ?*u64) i32 {
    const hub = loops.get(handle) catch |err| return fail(err);
    const target = out orelse return fail(error.InvalidArgument);
    target.* = @intFromPtr(hub.loop.ring.memory.ptr);
    return 0;
}

/// Completes the ops waiting on fd with ECANCELED (call before closing it).
export fn eg_loop_cancel_fd(handle: u32, fd: i32) i32 {
    const hub = loops.get(handle) catch |err| return fail(err);
    hub.cancelFd(toFd(fd) catch |err| return fail(err)) catch |err| return fail(err);
    return 0;
}

/// Ops started and not yet completed.
export fn eg_loop_ops_live(handle: u32) i32 {
    const hub = loops.get(handle) catch |err| return fail(err);
    return @intCast(hub.opsLive());
}

/// Loops alive in the process, every thread's (each holds one of loops_max slots).
export fn eg_loops_live() i32 {
    return @intCast(loops.liveCount());
}

// ---------------------------------------------------------------------------------------
// Stacklets for C/Zig/Rust embedders (PyPy's API). A handle is a suspended stacklet, NULL
// means EMPTY (a stacklet that finished). Threads are registered so a bad pointer is EBADF.

const threads_max = 256;
var threads: [threads_max]?*stacklet.Thread = @splat(null);
var threads_lock: SpinLock = .{};

fn findThread(thread: ?*stacklet.Thread) errors.Error!usize {
    const wanted = thread orelse return error.BadDescriptor;
    threads_lock.lock() catch return error.Busy;
    defer threads_lock.unlock();
    for (threads, 0..) |registered, index| {
        if (registered == wanted) return index;
    }
    return error.BadDescriptor;
}

fn stackletError(err: stacklet.Error) i32 {
    return fail(switch (err) {
        error.OutOfMemory => error.OutOfMemory,
        error.InvalidHandle, error.CannotDestroyMain => error.BadDescriptor,
        error.WrongThread => error.WrongThread,
        error.TooManyStacklets => error.Overflow,
        error.StackletRunning, error.StackBusy, error.WrongStack => error.Busy,
        error.InvalidStackSize => error.InvalidArgument,
        error.InvalidRunResult, error.GuardPageFailed => error.Unexpected,
    });
}

/// Creates the stacklet state for the calling thread (which becomes its main stacklet);
/// null when out of memory or when too many are alive.
export fn eg_stacklet_newthread() ?*stacklet.Thread {
    const thread = stacklet.newThread(allocator) catch return null;
    threads_lock.lock() catch {
        stacklet.deleteThread(thread);
        return null;
    };
    defer threads_lock.unlock();
    for (&threads) |*slot| {
        if (slot.* == null) {
            slot.* = thread;
            return thread;
        }
    }
    stacklet.deleteThread(thread);
    return null;
}

export fn eg_stacklet_deletethread(thread: ?*stacklet.Thread) i32 {
    const index = findThread(thread) catch |err| return fail(err);
    stacklet.deleteThreadChecked(thread.?) catch |err| return stackletError(err);
    threads_lock.lock() catch return fail(error.Busy);
    defer threads_lock.unlock();
    threads[index] = null;
    return 0;
}

/// Starts run(origin, arg) on a new stacklet; when some stacklet switches back, stores its
/// handle (null if the new one already finished) in out and returns 0.
export fn eg_stacklet_new(thread: ?*stacklet.Thread, run: ?stacklet.RunFn, arg: ?*anyopaque, out: ?*stacklet.Handle) i32 {
    _ = findThread(thread) catch |err| return fail(err);
    const entry = run orelse return fail(error.InvalidArgument);
    const target = out orelse return fail(error.InvalidArgument);
    target.* = stacklet.new(thread.?, entry, arg) catch |err| return stackletError(err);
    return 0;
}

/// Suspends the running stacklet and resumes `handle`; stores who switched back in out.
export fn eg_stacklet_switch(thread: ?*stacklet.Thread, handle: ?*anyopaque, out: ?*stacklet.Handle) i32 {
    _ = findThread(thread) catch |err| return fail(err);
    const target_out = out orelse return fail(error.InvalidArgument);
    const target = stacklet.handleFromAddress(thread.?, @intFromPtr(handle)) catch |err| return stackletError(err);
    if (target == null) return fail(error.BadDescriptor);
    target_out.* = stacklet.switchTo(thread.?, target) catch |err| return stackletError(err);
    return 0;
}

/// Frees a suspended stacklet without resuming it.
export fn eg_stacklet_destroy(thread: ?*stacklet.Thread, handle: ?*anyopaque) i32 {
    _ = findThread(thread) catch |err| return fail(err);
    const target = stacklet.handleFromAddress(thread.?, @intFromPtr(handle)) catch |err| return stackletError(err);
    stacklet.destroyChecked(thread.?, target) catch |err| return stackletError(err);
    return 0;
}

// ---------------------------------------------------------------------------------------
// UDP endpoints (io/udp.zig). Handles are > 0 and belong to the loop's thread; addresses
// cross as the 24-byte records of io/address.zig that eg_udp_address fills; sends return
// udp.SendStatus (0 sent, 1 queued, 2 queued: call eg_udp_flush_start) or -code.

const udp = @import("io/udp.zig");

test {
    _ = udp;
}

pub fn readUdpAddress(bytes: ?[*]const u8) errors.Error!udp.Address {
    const source = bytes orelse return error.InvalidArgument;
    const address = std.mem.bytesToValue(udp.Address, source[0..@sizeOf(udp.Address)]);
    if (!address.isValid()) return error.InvalidArgument;
    return address;
}

fn writeUdpAddress(out: ?[*]u8, address: udp.Address) errors.Error!void {
    const target = out orelse return error.InvalidArgument;
    @memcpy(target[0..@sizeOf(udp.Address)], std.mem.asBytes(&address));
}

fn udpHub(endpoint: *const udp.Endpoint) errors.Error!*Hub {
    return loops.get(endpoint.loop_handle);
}

pub fn udpBytes(data: ?[*]const u8, length: u32) errors.Error![]const u8 {
    if (length == 0) return &.{};
    const source = data orelse return error.InvalidArgument;
    return source[0..length];
}

/// Parses the IP literal text[0..length] (or "localhost", 127.0.0.1) and port into out (a
/// 24-byte record of io/address.zig); returns the family (4 or 6). Host names are refused
/// (EINVAL): callers resolve them first (src/io/lookup.ts).
export fn eg_udp_address(text: ?[*]const u8, length: u32, port: u32, out: ?[*]u8) i32 {
    if (port > std.math.maxInt(u16)) return fail(error.InvalidArgument);
    const address = io.address.parseLocal(udpBytes(text, length) catch |err| return fail(err), @intCast(port)) catch |err| return fail(err);
    writeUdpAddress(out, address) catch |err| return fail(err);
    return address.family;
}

/// Writes the host text of the 24-byte address record into out (64 bytes: "::1",
/// "fe80::1%2", the same text TCP streams report); returns its length.
export fn eg_address_text(record: ?[*]const u8, out: ?*[io.address.text_max]u8) i32 {
    const address = readUdpAddress(record) catch |err| return fail(err);
    const target = out orelse return fail(error.InvalidArgument);
    return @intCast(io.address.format(&address, target));
}

/// Creates an endpoint with a socket of family 4 or 6 on loop `loop`. Zero sizes pick the
/// defaults: 64 KiB receive slots, 64 slots per batch, a 16 MiB send queue.
export fn eg_udp_open(loop: u32, family: u32, receive_size: u32, receive_batch: u32, queue_bytes_max: u32) i32 {
    _ = loops.get(loop) catch |err| return fail(err);
    if (family != udp.Address.ip4 and family != udp.Address.ip6) return fail(error.InvalidArgument);
    var options: udp.Options = .{};
    if (receive_size != 0) options.receive_size = receive_size;
    if (receive_batch != 0) options.receive_batch = receive_batch;
    if (queue_bytes_max != 0) options.queue_bytes_max = queue_bytes_max;
    const handle = udp.open(allocator, loop, @intCast(family), options) catch |err| return fail(err);
    return @intCast(handle);
}

/// flags: 1 SO_REUSEADDR (and SO_REUSEPORT on BSDs), 2 IPV6_V6ONLY.
export fn eg_udp_bind(handle: u32, address: ?[*]const u8, flags: u32) i32 {
    const endpoint = udp.get(handle) catch |err| return fail(err);
    const target = readUdpAddress(address) catch |err| return fail(err);
    endpoint.bind(&target, flags) catch |err| return fail(err);
    return 0;
}

export fn eg_udp_sockname(handle: u32, out: ?[*]u8) i32 {
    const endpoint = udp.get(handle) catch |err| return fail(err);
    const address = endpoint.sockname() catch |err| return fail(err);
    writeUdpAddress(out, address) catch |err| return fail(err);
    return 0;
}

/// Writes the address of the endpoint's receive ring (layout in io/udp.zig) to out[0],
/// creating it on first call; the memory lives until eg_udp_close.
export fn eg_udp_ring(handle: u32, out: ?*u64) i32 {
    const endpoint = udp.get(handle) catch |err| return fail(err);
    const target = out orelse return fail(error.InvalidArgument);
    const ring = endpoint.receiveRing() catch |err| return fail(err);
    target.* = @intFromPtr(ring.memory.ptr);
    return 0;
}

/// Fills the receive ring; returns the datagrams buffered (> 0). With none waiting it starts
/// a receive op that posts { token, count, kind 48 } and returns 0; token 0 returns -EAGAIN.
export fn eg_udp_receive(handle: u32, token: u32) i32 {
    const endpoint = udp.get(handle) catch |err| return fail(err);
    const hub = udpHub(endpoint) catch |err| return fail(err);
    const count = endpoint.receive(hub, token) catch |err| return fail(err);
    return @intCast(count);
}

/// Completes a waiting receive op with ECANCELED (its task gave up waiting).
export fn eg_udp_cancel_receive(handle: u32) i32 {
    const endpoint = udp.get(handle) catch |err| return fail(err);
    const hub = udpHub(endpoint) catch |err| return fail(err);
    endpoint.cancelReceive(hub) catch |err| return fail(err);
    return 0;
}

export fn eg_udp_send(handle: u32, data: ?[*]const u8, length: u32, address: ?[*]const u8) i32 {
    const endpoint = udp.get(handle) catch |err| return fail(err);
    const bytes = udpBytes(data, length) catch |err| return fail(err);
    const target = readUdpAddress(address) catch |err| return fail(err);
    const status = endpoint.send(bytes, &target) catch |err| return fail(err);
    return @backingInt(status);
}

/// Queues a copy of a datagram to leave with the next eg_udp_send_queued (JS calls it at the
/// end of the loop turn); fails at once where eg_udp_send would (size, address). Returns
/// udp.SendStatus (1: the send op will take it; else nothing is started) or -code.
export fn eg_udp_stage(handle: u32, data: ?[*]const u8, length: u32, address: ?[*]const u8) i32 {
    const endpoint = udp.get(handle) catch |err| return fail(err);
    const bytes = udpBytes(data, length) catch |err| return fail(err);
    const target = readUdpAddress(address) catch |err| return fail(err);
    const status = endpoint.stage(bytes, &target) catch |err| return fail(err);
    return @backingInt(status);
}

/// Sends the queued datagrams without waiting (sendmmsg; runs of one size to one address as
/// one segmented message where the kernel can). Returns 0 when all went, 1 when the send op
/// drains them, 2 when the kernel is full (start the op: eg_udp_flush_start), or -code of
/// the first datagram refused for good (it was dropped; the others went or wait).
export fn eg_udp_send_queued(handle: u32) i32 {
    const endpoint = udp.get(handle) catch |err| return fail(err);
    const result = endpoint.sendQueued();
    if (result.failure) |err| return fail(err);
    return @backingInt(result.status);
}

/// Sends `count` datagrams packed in data[0..data_length] (sizes in lengths[0..count]) to one
/// address, with sendmmsg where there is one. A datagram that fails for good is dropped, the
/// rest still go; the first such failure is returned as -code.
export fn eg_udp_send_many(handle: u32, data: ?[*]const u8, data_length: u32, lengths: ?[*]const u32, count: u32, address: ?[*]const u8) i32 {
    const endpoint = udp.get(handle) catch |err| return fail(err);
    if (count == 0 or count > udp.Options.queue_count_max) return fail(error.InvalidArgument);
    const sizes = lengths orelse return fail(error.InvalidArgument);
    const bytes = udpBytes(data, data_length) catch |err| return fail(err);
    const target = readUdpAddress(address) catch |err| return fail(err);
    const result = endpoint.sendMany(bytes, sizes[0..count], &target) catch |err| return fail(err);
    if (result.failure) |err| return fail(err);
    return @backingInt(result.status);
}

/// Starts the op that drains the send queue; it posts { token, datagrams sent or -code of the
/// first failure, kind 49, failures }. Returns 1 if started, 0 if there was nothing to do.
export fn eg_udp_flush_start(handle: u32, token: u32) i32 {
    const endpoint = udp.get(handle) catch |err| return fail(err);
    const hub = udpHub(endpoint) catch |err| return fail(err);
    const started = endpoint.startFlush(hub, token) catch |err| return fail(err);
    return @intFromBool(started);
}

/// Datagrams waiting in the send queue.
export fn eg_udp_queued(handle: u32) i32 {
    const endpoint = udp.get(handle) catch |err| return fail(err);
    return @intCast(endpoint.queued());
}

/// option: 1 broadcast, 2 multicast loopback, 3 multicast TTL, 4 TTL, 5 SO_RCVBUF, 6 SO_SNDBUF.
export fn eg_udp_set_option(handle: u32, option: u32, value: i32) i32 {
    const endpoint = udp.get(handle) catch |err| return fail(err);
    const which = std.enums.fromInt(udp.Option, option) orelse return fail(error.InvalidArgument);
    endpoint.setOption(which, value) catch |err| return fail(err);
    return 0;
}

/// Joins (join = 1) or leaves (0) a multicast group on an interface (IPv4: its address;
/// IPv6: the scope id of the record; the unspecified address lets the OS choose).
export fn eg_udp_membership(handle: u32, join: u32, group: ?[*]const u8, interface: ?[*]const u8) i32 {
    const endpoint = udp.get(handle) catch |err| return fail(err);
    if (join > 1) return fail(error.InvalidArgument);
    const group_address = readUdpAddress(group) catch |err| return fail(err);
    const interface_address = readUdpAddress(interface) catch |err| return fail(err);
    endpoint.membership(join == 1, &group_address, &interface_address) catch |err| return fail(err);
    return 0;
}

export fn eg_udp_multicast_interface(handle: u32, interface: ?[*]const u8) i32 {
    const endpoint = udp.get(handle) catch |err| return fail(err);
    const interface_address = readUdpAddress(interface) catch |err| return fail(err);
    endpoint.setMulticastInterface(&interface_address) catch |err| return fail(err);
    return 0;
}

/// Closes an endpoint: one last nonblocking try for queued datagrams, its ops complete with
/// ECANCELED, its ring is freed. Works after the endpoint's loop was closed (which closed its
/// socket already: this frees the rest).
export fn eg_udp_close(handle: u32) i32 {
    const loop = udp.loopOf(handle) catch |err| return fail(err);
    const hub = loops.get(loop) catch null;
    udp.close(handle, hub) catch |err| return fail(err);
    return 0;
}

// ---------------------------------------------------------------------------------------
// Streams: TCP, Unix sockets, inherited descriptors and terminals (io/). Handles are > 0 and
// belong to the thread that opened them; their ops run on the hub of the loop they were opened
// on. Reads answer the byte count to move out with eg_stream_take (0 at end of stream), -EAGAIN
// (then start an op with eg_stream_read_start) or -code. Ops answer -EINPROGRESS and complete
// through the ring with the kinds of io/stream.zig (32 read, 33 drain, 34 connect, 35 accept).

const io = @import("io/io.zig");
const Stream = io.stream.Stream;

pub fn streamFor(handle: u32) errors.Error!*Stream {
    return io.stream.streams.get(handle);
}

fn streamHub(stream: *const Stream) errors.Error!*Hub {
    return loops.get(stream.loop_handle);
}

fn ioBytes(data: ?[*]const u8, length: u32) errors.Error![]const u8 {
    if (length == 0) return &.{};
    const source = data orelse return error.InvalidArgument;
    return source[0..length];
}

fn ioPort(port: u32) errors.Error!u16 {
    if (port > std.math.maxInt(u16)) return error.InvalidArgument;
    return @intCast(port);
}

fn readMax(value: u32) errors.Error!usize {
    if (value == 0 or value > io.stream.read_max_limit) return error.InvalidArgument;
    return value;
}

fn backlogOf(value: u32) u31 {
    return @intCast(@min(value, std.math.maxInt(u31)));
}

fn handleResult(stream: *const Stream) i32 {
    return @intCast(stream.handle);
}

/// Streams open now (closed ones whose ops are still ending are not counted).
export fn eg_io_streams_live() i32 {
    return @intCast(io.stream.streams.liveCount());
}

/// An unconnected stream (a TCP or Unix socket client before eg_tcp_connect/eg_pipe_connect).
/// read_max: the read buffer's bound in bytes.
export fn eg_stream_new(loop: u32, read_max: u32) i32 {
    _ = loops.get(loop) catch |err| return fail(err);
    const limit = readMax(read_max) catch |err| return fail(err);
    const stream = Stream.create(allocator, loop, io.sys.invalid_fd, .socket, limit) catch |err| return fail(err);
    return handleResult(stream);
}

/// A stream over an inherited descriptor (a pipe, a socket), which it owns from now on and
/// makes nonblocking. On Windows fd is a HANDLE value (0, 1, 2: the standard handles): a
/// pipe end, file or console is bridged to a loopback socket and closed when the bridge ends.
export fn eg_stream_open(loop: u32, fd: i32, read_max: u32) i32 {
    _ = loops.get(loop) catch |err| return fail(err);
    const limit = readMax(read_max) catch |err| return fail(err);
    const stream = io.pipe.open(allocator, loop, fd, limit) catch |err| return fail(err);
    return handleResult(stream);
}

/// Answers a read (mode 0: exactly arg bytes, 1: to the delimiter, 2: more than arg bytes) from
/// the buffer and at most a few reads of the descriptor.
export fn eg_stream_read(handle: u32, mode: u32, arg: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    if (mode > 2) return fail(error.InvalidArgument);
    return stream.readNow(@fromBackingInt(@intCast(mode)), arg);
}

/// Sets the delimiter (1..65536 bytes, copied) and answers a read up to it, like eg_stream_read.
export fn eg_stream_read_until(handle: u32, delimiter: ?[*]const u8, length: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    const bytes = ioBytes(delimiter, length) catch |err| return fail(err);
    stream.setDelimiter(bytes) catch |err| return fail(err);
    return stream.readNow(.until, 0);
}

/// Answers a read like eg_stream_read (mode 1 first sets the delimiter when delimiter_length
/// is not 0) and, when the answer fits in dest[offset..][0..capacity], moves it there, so that a
/// read of buffered bytes is one call: the count. A larger answer stays buffered (move it with
/// eg_stream_take); 0 at end of stream, -EAGAIN (start an op), or -code.
export fn eg_stream_read_take(handle: u32, mode: u32, arg: u32, delimiter: ?[*]const u8, delimiter_length: u32, dest: ?[*]u8, offset: u32, capacity: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    if (mode > 2) return fail(error.InvalidArgument);
    if (mode == 1 and delimiter_length > 0) {
        const bytes = ioBytes(delimiter, delimiter_length) catch |err| return fail(err);
        stream.setDelimiter(bytes) catch |err| return fail(err);
    }
    const result = stream.readNow(@fromBackingInt(@intCast(mode)), arg);
    if (result <= 0) return result;
    const n: usize = @intCast(result);
    if (n > capacity) return result;
    const out = dest orelse return fail(error.InvalidArgument);
    stream.take(out[offset..][0..n], n) catch |err| return fail(err);
    return result;
}

/// Reads up to length bytes into dest (buffered bytes first, else straight from the socket):
/// the count, 0 at end of stream, -EAGAIN (then wait with a mode-2 op, arg 0), or -code.
export fn eg_stream_read_into(handle: u32, dest: ?[*]u8, length: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    const out = dest orelse return fail(error.InvalidArgument);
    return stream.readInto(out[0..length]);
}

/// Starts the read op that waits for eg_stream_read's answer (mode 1 uses the last delimiter).
export fn eg_stream_read_start(handle: u32, mode: u32, arg: u32, token: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    const hub = streamHub(stream) catch |err| return fail(err);
    if (mode > 2) return fail(error.InvalidArgument);
    return stream.startRead(hub, @fromBackingInt(@intCast(mode)), arg, token);
}

/// Moves n buffered bytes into dest (or drops them when dest is null); returns n.
export fn eg_stream_take(handle: u32, dest: ?[*]u8, n: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    const out: ?[]u8 = if (dest) |pointer| pointer[0..n] else null;
    stream.take(out, n) catch |err| return fail(err);
    return @intCast(n);
}

/// Copies n buffered bytes from offset into dest, leaving them buffered; returns n.
export fn eg_stream_peek(handle: u32, dest: ?[*]u8, offset: u32, n: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    const out = dest orelse return fail(error.InvalidArgument);
    stream.peek(out[0..n], offset, n) catch |err| return fail(err);
    return @intCast(n);
}

/// The read window: writes the address of the stream's `Window` (start, end, scan,
/// generation: four u32 that JS reads and advances in place), the read buffer's address and
/// its length into out[0..3]; returns the generation (31 bits). The window's address stays
/// valid until the stream is closed; the buffer's only until the generation changes.
export fn eg_stream_window(handle: u32, out: ?[*]u64) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    const slots = out orelse return fail(error.InvalidArgument);
    const buffer = stream.windowBuffer();
    slots[0] = @intFromPtr(&stream.window);
    slots[1] = if (buffer.len == 0) 0 else @intFromPtr(buffer.ptr);
    slots[2] = buffer.len;
    return @bitCast(stream.window.generation & 0x7fffffff);
}

export fn eg_stream_buffered(handle: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    return @intCast(stream.buffered());
}

/// Writes without blocking; the bytes are copied before it returns. 1: all sent; 0: queued
/// behind a running drain; 2: queued, start the drain (eg_stream_drain); 3: failed now (the
/// error comes back from the next write or drain); -code.
export fn eg_stream_write(handle: u32, bytes: ?[*]const u8, length: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    const data = ioBytes(bytes, length) catch |err| return fail(err);
    return stream.write(data);
}

/// Starts the op that sends the write queue: -EINPROGRESS, 0 if nothing is queued, or -code.
export fn eg_stream_drain(handle: u32, token: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    const hub = streamHub(stream) catch |err| return fail(err);
    return stream.startDrain(hub, token);
}

/// Bytes queued and not sent yet (capped at 2^31 - 1), or the kept write error.
export fn eg_stream_queued(handle: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    if (stream.write_error) |err| return fail(err);
    return @intCast(@min(stream.queued(), std.math.maxInt(i32)));
}

/// Half-closes the write side (EBUSY while bytes are queued: drain first).
export fn eg_stream_shutdown(handle: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    stream.shutdown() catch |err| return fail(err);
    return 0;
}

/// Completes the op on one side with ECANCELED: 0 the read (or accept), 1 the drain (or
/// connect). The other side's op keeps going.
export fn eg_stream_cancel(handle: u32, side: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    const hub = streamHub(stream) catch |err| return fail(err);
    const which = std.enums.fromInt(abi.CancelSide, side) orelse return fail(error.InvalidArgument);
    stream.cancel(hub, switch (which) {
        .read => .read,
        .write => .write,
    });
    return 0;
}

/// Closes the stream: its ops complete with ECANCELED, queued bytes are dropped, the handle
/// dies. Works after the stream's loop was closed.
export fn eg_stream_close(handle: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    const hub = streamHub(stream) catch null;
    stream.close(hub);
    return 0;
}

/// Writes the local (peer = 0) or remote (peer = 1) address into out (132 bytes): port as a
/// little-endian u16, the text's length as a u16, then the host or path text.
export fn eg_stream_address(handle: u32, peer: u32, out: ?*[abi.stream_address_size]u8) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    const target = out orelse return fail(error.InvalidArgument);
    if (stream.fd == io.sys.invalid_fd) return fail(error.NotConnected);
    const address = (if (peer != 0) io.sys.peerAddress(stream.fd) else io.sys.localAddress(stream.fd)) catch |err| return fail(err);
    const length = address.hostText(target[4..]);
    std.mem.writeInt(u16, target[0..2], address.port(), .little);
    std.mem.writeInt(u16, target[2..4], @intCast(length), .little);
    return 0;
}

/// Listens again with another backlog (serve(backlog) after bind).
export fn eg_stream_listen(handle: u32, backlog: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    if (stream.role != .listener) return fail(error.InvalidArgument);
    io.sys.listen(stream.fd, backlogOf(backlog)) catch |err| return fail(err);
    return 0;
}

/// Starts the accept loop of a listener: each connection is a record { token, 1, kind 35,
/// handle }; the last record is -ECANCELED (closed or canceled) or the error that stopped it.
export fn eg_stream_accept(handle: u32, token: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    const hub = streamHub(stream) catch |err| return fail(err);
    return io.socket.startAccept(stream, hub, token);
}

/// Connects an unconnected stream to host:port over TCP: an IP literal is tried at once, a
/// name is resolved off the loop thread and every address tried in order. An optional source
/// address (an IP literal, source_port 0 for any) is bound first.
export fn eg_tcp_connect(handle: u32, host: ?[*]const u8, host_length: u32, port: u32, source: ?[*]const u8, source_length: u32, source_port: u32, token: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    const hub = streamHub(stream) catch |err| return fail(err);
    const name = ioBytes(host, host_length) catch |err| return fail(err);
    const target_port = ioPort(port) catch |err| return fail(err);
    var from: ?io.tcp.Source = null;
    if (source_length > 0) from = .{
        .host = ioBytes(source, source_length) catch |err| return fail(err),
        .port = ioPort(source_port) catch |err| return fail(err),
    };
    return io.tcp.connect(stream, hub, name, target_port, from, token);
}

/// A TCP listener bound to host:port (an IP literal, "localhost", or "" for every IPv4
/// address) and listening: a port in use is EADDRINUSE here.
export fn eg_tcp_listen(loop: u32, host: ?[*]const u8, host_length: u32, port: u32, backlog: u32, read_max: u32) i32 {
    return eg_tcp_listen_flags(loop, host, host_length, port, backlog, read_max, 0);
}

const tcp_listen_reuse_port = abi.tcp_listen_reuse_port;

/// eg_tcp_listen with flags (tcp_listen_reuse_port).
export fn eg_tcp_listen_flags(loop: u32, host: ?[*]const u8, host_length: u32, port: u32, backlog: u32, read_max: u32, flags: u32) i32 {
    if (flags & ~tcp_listen_reuse_port != 0) return fail(error.InvalidArgument);
    _ = loops.get(loop) catch |err| return fail(err);
    const limit = readMax(read_max) catch |err| return fail(err);
    const name = ioBytes(host, host_length) catch |err| return fail(err);
    const bind_port = ioPort(port) catch |err| return fail(err);
    const reuse_port = flags & tcp_listen_reuse_port != 0;
    const server = io.tcp.listen(allocator, loop, name, bind_port, backlogOf(backlog), limit, reuse_port) catch |err| return fail(err);
    return handleResult(server);
}

/// Connects an unconnected stream to the Unix socket at path, or on Windows to the named pipe
/// `\\.\pipe\name` (opened at once; EBUSY while every instance is taken).
export fn eg_pipe_connect(handle: u32, path: ?[*]const u8, length: u32, token: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    const hub = streamHub(stream) catch |err| return fail(err);
    const text = ioBytes(path, length) catch |err| return fail(err);
    if (io.pipe.isNamedPipe(text)) {
        if (stream.fd != io.sys.invalid_fd or stream.closed) return fail(error.AlreadyConnected);
        const fd = io.pipe.named.connect(allocator, text) catch |err| return fail(err);
        const started = io.socket.startConnected(stream, hub, fd, token);
        if (started != fail(error.InProgress)) io.sys.close(fd);
        return started;
    }
    const address = io.pipe.address(text) catch |err| return fail(err);
    return io.socket.startConnect(stream, hub, &.{address}, "", 0, null, false, token);
}

/// A Unix socket listener at path (EADDRINUSE if the path exists); closing it removes the file.
/// On Windows a `\\.\pipe\name` path serves that named pipe through loopback bridges.
export fn eg_pipe_listen(loop: u32, path: ?[*]const u8, length: u32, backlog: u32, read_max: u32) i32 {
    _ = loops.get(loop) catch |err| return fail(err);
    const limit = readMax(read_max) catch |err| return fail(err);
    const text = ioBytes(path, length) catch |err| return fail(err);
    if (io.pipe.isNamedPipe(text)) {
        const loopback = io.sys.Address.ip4(.{ 127, 0, 0, 1 }, 0);
        const server = io.socket.listen(allocator, loop, &loopback, backlogOf(backlog), limit, false, false) catch |err| return fail(err);
        const port = (io.sys.localAddress(server.fd) catch |err| {
            server.close(null);
            return fail(err);
        }).port();
        server.named_server = io.pipe.named.Server.start(allocator, text, port) catch |err| {
            server.close(null);
            return fail(err);
        };
        return handleResult(server);
    }
    const address = io.pipe.address(text) catch |err| return fail(err);
    const server = io.socket.listen(allocator, loop, &address, backlogOf(backlog), limit, false, false) catch |err| return fail(err);
    return handleResult(server);
}

/// A stream over the terminal on fd (reopened, so fd's own flags stay as they are); EINVAL if
/// it is not a terminal. On Windows fd is a console HANDLE value (0, 1, 2: the standard
/// handles), bridged to a loopback socket; only console input is read (see io/tty.zig).
export fn eg_tty_open(loop: u32, fd: i32, read_max: u32) i32 {
    _ = loops.get(loop) catch |err| return fail(err);
    const limit = readMax(read_max) catch |err| return fail(err);
    const stream = io.tty.open(allocator, loop, fd, limit) catch |err| return fail(err);
    return handleResult(stream);
}

/// A stream over a descriptor of its own for standard stream fd (0 input, 1 or 2 output),
/// whatever fd is (a pipe, a socket, a terminal, a file; see io/stdio.zig).
export fn eg_stdio_open(loop: u32, fd: i32, read_max: u32) i32 {
    _ = loops.get(loop) catch |err| return fail(err);
    const limit = readMax(read_max) catch |err| return fail(err);
    const stream = io.stdio.open(allocator, loop, fd, limit) catch |err| return fail(err);
    return handleResult(stream);
}

/// Writes the terminal's { columns, rows } into out.
export fn eg_tty_winsize(handle: u32, out: ?*[2]u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    const target = out orelse return fail(error.InvalidArgument);
    const size = io.tty.windowSize(stream) catch |err| return fail(err);
    target.* = .{ size.columns, size.rows };
    return 0;
}

/// Raw mode on (1) or back to the mode from before (0).
export fn eg_tty_set_raw(handle: u32, raw: u32) i32 {
    const stream = streamFor(handle) catch |err| return fail(err);
    io.tty.setRawMode(stream, raw != 0) catch |err| return fail(err);
    return 0;
}

// ---------------------------------------------------------------------------------------
// Name lookup (io/resolve.zig): getaddrinfo on a short-lived thread; the caller waits for the
// request's descriptor to be readable on its loop (eg_loop_watch or an addReader), then reads
// the addresses. Handles belong to the thread that started the lookup.

var lookups: handles.Registry(io.resolve.Request, io.resolve.in_flight_max) = .{};

/// Starts resolving host (a name or an IP literal); returns the lookup's handle (> 0) or -code.
export fn eg_lookup_start(host: ?[*]const u8, host_length: u32) i32 {
    const name = ioBytes(host, host_length) catch |err| return fail(err);
    const request = io.resolve.start(allocator, name, 0) catch |err| return fail(err);
    const handle = lookups.insert(request) catch |err| {
        request.release();
        return fail(err);
    };
    return @intCast(handle);
}

/// The descriptor that becomes readable once the lookup is done.
export fn eg_lookup_fd(handle: u32) i32 {
    const request = lookups.get(handle) catch |err| return fail(err);
    return @intCast(request.waitFd());
}

/// Blocks the calling thread until the lookup is done or timeout_ms passed (-1: no bound):
/// 1 if done, 0 if not yet. For callers that cannot wait on a loop (a synchronous bind).
export fn eg_lookup_wait(handle: u32, timeout_ms: i32) i32 {
    const request = lookups.get(handle) catch |err| return fail(err);
    const fd = request.waitFd();
    if (builtin.os.tag == .windows) {
        const win = @import("loop/winsock.zig");
        var fds = [1]win.WSAPOLLFD{.{ .fd = fd, .events = win.POLLIN, .revents = 0 }};
        const ready = win.WSAPoll(&fds, 1, timeout_ms);
        if (ready < 0) return fail(error.Unexpected);
        return @intFromBool(ready > 0);
    }
    var fds = [1]std.c.pollfd{.{ .fd = fd, .events = std.c.POLL.IN, .revents = 0 }};
    const ready = std.c.poll(&fds, 1, timeout_ms);
    if (ready < 0) return fail(io.sys.lastError());
    return @intFromBool(ready > 0);
}

/// Once done: writes the addresses as text, each followed by a newline, into out (at most
/// out_length bytes) and returns the byte count; -ENOENT for a name that does not resolve.
export fn eg_lookup_result(handle: u32, out: ?[*]u8, out_length: u32) i32 {
    const request = lookups.get(handle) catch |err| return fail(err);
    const target = out orelse return fail(error.InvalidArgument);
    const found = request.result() catch |err| return fail(err);
    var written: usize = 0;
    for (found) |*address| {
        var text: [128]u8 = undefined;
        const length = address.hostText(&text);
        if (written + length + 1 > out_length) return fail(error.NoBufferSpace);
        @memcpy(target[written..][0..length], text[0..length]);
        target[written + length] = '\n';
        written += length + 1;
    }
    return @intCast(written);
}

/// Ends a lookup, done or not (a thread still resolving frees the request when it ends); the
/// caller stops watching the descriptor first.
export fn eg_lookup_close(handle: u32) i32 {
    const request = lookups.remove(handle) catch |err| return fail(err);
    request.release();
    return 0;
}

// ---------------------------------------------------------------------------------------
// Tests of the ABI contract: codes, handles, threads.

const testing = std.testing;

fn code(err: errors.Error) i32 {
    return errors.negative(err);
}

test "bad, stale and closed loop handles give EBADF" {
    allocator = testing.allocator;
    defer allocator = default_allocator;
    try testing.expectEqual(code(error.BadDescriptor), eg_loop_poll(0, 0));
    try testing.expectEqual(code(error.BadDescriptor), eg_loop_poll(0xffff_ffff, 0));
    const handle = eg_loop_new(0);
    try testing.expect(handle > 0);
    const h: u32 = @intCast(handle);
    try testing.expectEqual(@as(i32, 0), eg_loop_poll(h, 0));
    try testing.expectEqual(@as(i32, 0), eg_loop_close(h));
    try testing.expectEqual(code(error.BadDescriptor), eg_loop_close(h));
    try testing.expectEqual(code(error.BadDescriptor), eg_loop_poll(h, 0));
    try testing.expectEqual(code(error.BadDescriptor), eg_loop_wake(h));
    try testing.expectEqual(code(error.BadDescriptor), eg_loop_park(h, 0));
    try testing.expectEqual(code(error.InvalidArgument), eg_loop_new(3));
}

test "arguments are validated" {
    allocator = testing.allocator;
    defer allocator = default_allocator;
    const h: u32 = @intCast(eg_loop_new(16));
    defer _ = eg_loop_close(h);
    try testing.expectEqual(code(error.BadDescriptor), eg_loop_watch(h, -1, 1, 0));
    try testing.expectEqual(code(error.InvalidArgument), eg_loop_watch(h, 0, 8, 0));
    try testing.expectEqual(code(error.NotFound), eg_loop_unwatch(h, 5));
    // SIGKILL on POSIX; Windows has only SIGINT and SIGBREAK.
    const refused: errors.Error = if (builtin.os.tag == .windows) error.Unsupported else error.InvalidArgument;
    try testing.expectEqual(code(refused), eg_loop_watch_signal(h, 9, 0));
    try testing.expectEqual(code(error.InvalidArgument), eg_loop_ring(h, null));
    var address: u64 = 0;
    try testing.expectEqual(@as(i32, 0), eg_loop_ring(h, &address));
    const header: *const [8]u32 = @ptrFromInt(address);
    try testing.expectEqual(@as(u32, 0x31524745), header[0]);
    try testing.expectEqual(@as(u32, 16), header[2]);
    try testing.expectEqualStrings("EBADF", std.mem.span(eg_error_name(-1).?));
    try testing.expect(eg_error_name(999) == null);
}

const WrongThread = struct {
    fn run(handle: u32, result: *i32) void {
        result.* = eg_loop_poll(handle, 0);
    }
};

test "a call from another thread gives EWRONGTHREAD; wake and park work from any thread" {
    allocator = testing.allocator;
    defer allocator = default_allocator;
    const h: u32 = @intCast(eg_loop_new(0));
    defer _ = eg_loop_close(h);
    var result: i32 = 0;
    const thread = try std.Thread.spawn(.{}, WrongThread.run, .{ h, &result });
    thread.join();
    try testing.expectEqual(code(error.WrongThread), result);
    try testing.expectEqual(@as(i32, 0), eg_loop_wake(h));
    try testing.expectEqual(@as(i32, 1), eg_loop_park(h, 1000));
}

const Parked = struct {
    fn run(handle: u32, result: *i32) void {
        result.* = eg_loop_park(handle, -1);
    }
};

test "closing a loop wakes and waits for a park in progress on another thread" {
    allocator = testing.allocator;
    defer allocator = default_allocator;
    const h: u32 = @intCast(eg_loop_new(0));
    var result: i32 = -100;
    const thread = try std.Thread.spawn(.{}, Parked.run, .{ h, &result });
    support.sleepMs(30);
    try testing.expectEqual(@as(i32, 0), eg_loop_close(h));
    thread.join();
    try testing.expect(result == 1 or result == code(error.BadDescriptor));
}

const Counter = struct {
    thread: ?*stacklet.Thread,
    steps: u32 = 0,

    fn run(origin: stacklet.Handle, arg: ?*anyopaque) callconv(.c) stacklet.Handle {
        const self: *Counter = @ptrCast(@alignCast(arg.?));
        self.steps += 1;
        var back: stacklet.Handle = null;
        if (eg_stacklet_switch(self.thread, origin, &back) != 0) return origin;
        self.steps += 1;
        return back;
    }
};

test "the stacklet C API runs a stacklet and rejects bad pointers" {
    allocator = testing.allocator;
    defer allocator = default_allocator;
    const thread = eg_stacklet_newthread();
    try testing.expect(thread != null);
    var counter: Counter = .{ .thread = thread };
    var suspended: stacklet.Handle = null;
    try testing.expectEqual(@as(i32, 0), eg_stacklet_new(thread, Counter.run, &counter, &suspended));
    try testing.expect(suspended != null);
    try testing.expectEqual(@as(u32, 1), counter.steps);
    var finished: stacklet.Handle = undefined;
    try testing.expectEqual(@as(i32, 0), eg_stacklet_switch(thread, suspended, &finished));
    try testing.expect(finished == null);
    try testing.expectEqual(@as(u32, 2), counter.steps);
    // The finished stacklet's handle is stale now.
    try testing.expectEqual(code(error.BadDescriptor), eg_stacklet_switch(thread, suspended, &finished));
    try testing.expectEqual(code(error.BadDescriptor), eg_stacklet_destroy(thread, @ptrFromInt(0x1000)));
    var not_a_thread: u64 = 0;
    try testing.expectEqual(code(error.BadDescriptor), eg_stacklet_new(@ptrCast(&not_a_thread), Counter.run, null, &suspended));
    try testing.expectEqual(@as(i32, 0), eg_stacklet_deletethread(thread));
    try testing.expectEqual(code(error.BadDescriptor), eg_stacklet_deletethread(thread));
}

/// A thread that makes a loop with a listening socket (accept op live), a bound UDP endpoint
/// (receive op live), a client whose connect waits for a name lookup, and a park in progress
/// on a second thread; then exits without closing any of it.
const Abandoning = struct {
    loop: u32 = 0,
    tcp_port: u16 = 0,
    udp_port: u16 = 0,
    lookup: u32 = 0,
    parker: ?std.Thread = null,
    park_result: i32 = -100,
    failure: ?anyerror = null,

    fn run(self: *Abandoning) void {
        self.setUp() catch |err| {
            self.failure = err;
        };
    }

    fn setUp(self: *Abandoning) !void {
        const handle = eg_loop_new(0);
        if (handle < 0) return error.LoopNew;
        self.loop = @intCast(handle);
        const host = "127.0.0.1";
        const server = eg_tcp_listen(self.loop, host, host.len, 0, 16, 65536);
        if (server < 0) return error.Listen;
        var address: [132]u8 = undefined;
        if (eg_stream_address(@intCast(server), 0, &address) != 0) return error.Address;
        self.tcp_port = std.mem.readInt(u16, address[0..2], .little);
        if (eg_stream_accept(@intCast(server), 1) != code(error.InProgress)) return error.Accept;

        const endpoint = eg_udp_open(self.loop, 4, 0, 0, 0);
        if (endpoint < 0) return error.UdpOpen;
        var udp_address: [@sizeOf(udp.Address)]u8 = undefined;
        if (eg_udp_address(host, host.len, 0, &udp_address) != 4) return error.UdpAddress;
        if (eg_udp_bind(@intCast(endpoint), &udp_address, 0) != 0) return error.UdpBind;
        if (eg_udp_sockname(@intCast(endpoint), &udp_address) != 0) return error.UdpName;
        self.udp_port = std.mem.bytesToValue(udp.Address, &udp_address).port;
        var ring: u64 = 0;
        if (eg_udp_ring(@intCast(endpoint), &ring) != 0) return error.UdpRing;
        if (eg_udp_receive(@intCast(endpoint), 2) != 0) return error.UdpReceive;

        const client = eg_stream_new(self.loop, 65536);
        if (client < 0) return error.StreamNew;
        const name = "localhost";
        if (eg_tcp_connect(@intCast(client), name, name.len, self.tcp_port, null, 0, 0, 3) != code(error.InProgress)) return error.Connect;
        const lookup = eg_lookup_start(name, name.len);
        if (lookup < 0) return error.LookupStart;
        self.lookup = @intCast(lookup);

        self.parker = try std.Thread.spawn(.{}, Parked.run, .{ self.loop, &self.park_result });
        support.sleepMs(30);
    }
};

test "a thread that exits gives back what its loops own, ends its lookups and wakes a park in progress" {
    allocator = testing.allocator;
    defer allocator = default_allocator;
    const loops_before = eg_loops_live();
    const streams_before = eg_io_streams_live();
    const lookups_before = lookups.liveCount();
    var abandoning: Abandoning = .{};
    const thread = try std.Thread.spawn(.{}, Abandoning.run, .{&abandoning});
    thread.join();
    if (abandoning.failure) |err| return err;
    abandoning.parker.?.join();
    try testing.expect(abandoning.park_result == 1 or abandoning.park_result == code(error.BadDescriptor));
    try testing.expectEqual(loops_before, eg_loops_live());
    try testing.expectEqual(streams_before, eg_io_streams_live());
    try testing.expectEqual(code(error.BadDescriptor), eg_loop_wake(abandoning.loop));
    // Its name lookup was ended too (the leak check below sees the request freed).
    try testing.expectEqual(lookups_before, lookups.liveCount());
    try testing.expectEqual(code(error.BadDescriptor), eg_lookup_close(abandoning.lookup));

    // The ports were released: both bind again.
    const h: u32 = @intCast(eg_loop_new(0));
    defer _ = eg_loop_close(h);
    const host = "127.0.0.1";
    const server = eg_tcp_listen(h, host, host.len, abandoning.tcp_port, 16, 65536);
    try testing.expect(server > 0);
    const endpoint = eg_udp_open(h, 4, 0, 0, 0);
    try testing.expect(endpoint > 0);
    defer _ = eg_udp_close(@intCast(endpoint));
    var udp_address: [@sizeOf(udp.Address)]u8 = undefined;
    try testing.expectEqual(@as(i32, 4), eg_udp_address(host, host.len, abandoning.udp_port, &udp_address));
    try testing.expectEqual(@as(i32, 0), eg_udp_bind(@intCast(endpoint), &udp_address, 0));
    // The name lookup outlives its loop on its own thread, touching only its request; wait for
    // it so that the leak check sees the request freed.
    var waited: u32 = 0;
    while (io.resolve.inFlight() != 0 and waited < 2000) : (waited += 1) support.sleepMs(5);
    try testing.expectEqual(@as(u32, 0), io.resolve.inFlight());
    _ = eg_stream_close(@intCast(server));
}
