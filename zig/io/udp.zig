//! UDP endpoints on the hub (hub/hub.zig). Received datagrams land in a ring of fixed-size slots
//! in native memory that JS reads in place (filled by recvmmsg batches where the OS has it);
//! sends go straight to the kernel and only what would block is copied into a bounded native
//! queue that a hub op drains. udp_calls.zig and exports.zig are the C ABI over this file;
//! udp_socket.zig the OS.

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("../loop/errors.zig");
const event = @import("../loop/event.zig");
const handles = @import("../loop/handles.zig");
const hub_module = @import("../hub/hub.zig");
const ip = @import("address.zig");
const socket = @import("udp_socket.zig");

const Address = ip.Address;

/// Op kinds in completion records (hub/hub.zig reserves 16 and up for ops).
pub const kind_receive: u32 = 48;
pub const kind_send: u32 = 49;

pub const Options = struct {
    /// Bytes per receive slot: the largest datagram received whole.
    receive_size: u32 = 65536,
    /// Slots in the receive ring (a power of two): datagrams taken from the kernel per call.
    receive_batch: u32 = 64,
    /// Bytes the send queue may hold; a send beyond it fails with ENOBUFS.
    queue_bytes_max: u32 = 16 << 20,

    pub const receive_size_max: u32 = 65536;
    pub const receive_batch_max: u32 = 1024;
    pub const queue_bytes_min: u32 = 65536;
    /// Datagrams the send queue may hold, whatever their size.
    pub const queue_count_max: u32 = 1 << 16;

    pub fn validate(options: Options) errors.Error!void {
        if (options.receive_size == 0 or options.receive_size > receive_size_max) return error.InvalidArgument;
        // A power of two keeps slot = counter mod slot_count continuous when the u32 wraps.
        if (!std.math.isPowerOfTwo(options.receive_batch) or options.receive_batch > receive_batch_max) {
            return error.InvalidArgument;
        }
        if (options.queue_bytes_max < queue_bytes_min) return error.InvalidArgument;
    }
};

/// What a send did with the datagrams it was given.
pub const SendStatus = enum(i32) {
    /// Every datagram went to the kernel.
    sent = 0,
    /// Some are queued; the send op that drains the queue is running.
    queued = 1,
    /// Some are queued and no op drains the queue: start one (eg_udp_flush_start).
    queued_start = 2,
};

/// Datagrams sendMany and the queue drain hand to one sendmmsg call.
const send_batch_max = 64;
/// Datagrams the send op sends per loop turn before it lets other work run.
const send_chunk_max = 1024;
/// Bounds on retry loops: a kernel that keeps reporting ICMP errors or spurious readiness.
const retries_max = 64;
const waits_max = 1 << 30;

// ---------------------------------------------------------------------------------------
// Handles (loop/handles.zig): room for many more endpoints than loops, since a server may hold
// thousands of them.

pub const endpoints_max: u32 = 1 << 14;

/// Every live endpoint, by handle; also those whose loop closed their socket (`detached`).
pub var endpoints: handles.Registry(Endpoint, endpoints_max) = .{};

/// The endpoint behind a handle, for its owner thread, while its socket is open.
pub fn get(handle: u32) errors.Error!*Endpoint {
    const endpoint = try endpoints.get(handle);
    if (endpoint.detached) return error.BadDescriptor;
    return endpoint;
}

/// Creates an endpoint with a socket of `family` on the loop `loop_handle`; returns its handle.
pub fn open(gpa: std.mem.Allocator, loop_handle: u32, family: u16, options: Options) errors.Error!u32 {
    const endpoint = try Endpoint.create(gpa, loop_handle, family, options);
    errdefer endpoint.destroy(null);
    endpoint.handle = try endpoints.insert(endpoint);
    return endpoint.handle;
}

/// Invalidates the handle, then closes the endpoint (see Endpoint.destroy). Works on an
/// endpoint whose loop closed its socket (closeLoop): that frees what is left.
pub fn close(handle: u32, hub: ?*hub_module.Hub) errors.Error!void {
    const endpoint = try endpoints.remove(handle);
    endpoint.destroy(hub);
}

/// The handle of the loop an endpoint was opened on (also once that loop closed its socket).
pub fn loopOf(handle: u32) errors.Error!u32 {
    return (try endpoints.get(handle)).loop_handle;
}

/// Closes the sockets of every endpoint opened on loop `loop_handle` (the loop is closing;
/// `hub` is its hub): queued datagrams get one last nonblocking try, their ops end with
/// ECANCELED, and every later call on those handles but eg_udp_close fails with EBADF. The
/// handles and receive rings stay until eg_udp_close (JS may still map a ring), so an
/// endpoint dropped without close() holds memory until its finalizer runs, never a socket.
/// The loop's owner thread calls this, and it owns the loop's endpoints (eg_udp_open checks).
pub fn closeLoop(loop_handle: u32, hub: ?*hub_module.Hub) errors.Error!void {
    const thread = handles.currentThread();
    var from: u32 = 0;
    while (endpoints.nextOwnedBy(thread, from)) |handle| {
        from = @TypeOf(endpoints).slotIndex(handle) + 1;
        const endpoint = try endpoints.get(handle);
        if (endpoint.loop_handle == loop_handle and !endpoint.detached) endpoint.detach(hub);
    }
}

// ---------------------------------------------------------------------------------------
// The receive ring, shared with JS (src/native/udp_native.ts decodes the same layout):
//
//   byte 0   header (64 bytes, u32 words)
//     +0 magic 0x31554745 ("EGU1")   +4 slot_count   +8 slot_size   +12 meta_offset (64)
//     +16 head  next slot JS reads; written by JS only
//     +20 tail  next slot native fills; written by native only
//     +24 data_offset   +28 meta_size (32)
//   byte 64  meta[slot_count], 32 bytes each:
//     +0 length  the datagram's size (its real size when truncated, where the OS tells)
//     +4 flags   bit 0: truncated (it did not fit the slot)
//     +8 sender  Address (24 bytes, udp_socket.zig)
//   byte data_offset  data[slot_count][slot_size]
//
// head and tail are free-running u32 counters; datagram number i is in slot i & (slot_count - 1)
// (slot_count is a power of two).

pub const ring_magic: u32 = 0x31554745;
pub const meta_truncated: u32 = 1;

pub const RingHeader = extern struct {
    magic: u32,
    slot_count: u32,
    slot_size: u32,
    meta_offset: u32,
    head: u32,
    tail: u32,
    data_offset: u32,
    meta_size: u32,
    reserved: [8]u32,
};

pub const Meta = extern struct {
    length: u32,
    flags: u32,
    sender: Address,
};

comptime {
    std.debug.assert(@sizeOf(RingHeader) == 64);
    std.debug.assert(@sizeOf(Meta) == 32);
    std.debug.assert(@offsetOf(RingHeader, "head") == 16 and @offsetOf(RingHeader, "tail") == 20);
}

const ReceiveRing = struct {
    /// The block JS maps: header, metas, data.
    memory: []align(64) u8,
    header: *RingHeader,
    metas: []Meta,
    data: []u8,
    slot_size: u32,
    /// The last fill left the kernel's queue empty (it took less than it had room for).
    drained: bool = false,
    /// Native only: the sender of each slot as the OS wrote it.
    names: []socket.Name,
    batch: if (socket.has_batches) struct {
        headers: []socket.MessageHeader,
        vectors: []socket.IoVector,
    } else void,

    fn create(gpa: std.mem.Allocator, slot_count: u32, slot_size: u32) errors.Error!*ReceiveRing {
        std.debug.assert(slot_count > 0 and slot_size > 0);
        const data_offset = 64 + @as(usize, slot_count) * @sizeOf(Meta);
        const size = data_offset + @as(usize, slot_count) * slot_size;
        const ring = try gpa.create(ReceiveRing);
        errdefer gpa.destroy(ring);
        const memory = try gpa.alignedAlloc(u8, .@"64", size);
        errdefer gpa.free(memory);
        const names = try gpa.alloc(socket.Name, slot_count);
        errdefer gpa.free(names);
        @memset(memory[0..data_offset], 0);
        const header: *RingHeader = @ptrCast(memory.ptr);
        header.* = .{
            .magic = ring_magic,
            .slot_count = slot_count,
            .slot_size = slot_size,
            .meta_offset = 64,
            .head = 0,
            .tail = 0,
            .data_offset = @intCast(data_offset),
            .meta_size = @sizeOf(Meta),
            .reserved = @splat(0),
        };
        const metas_ptr: [*]Meta = @ptrCast(@alignCast(memory.ptr + 64));
        ring.* = .{
            .memory = memory,
            .header = header,
            .metas = metas_ptr[0..slot_count],
            .data = memory[data_offset..],
            .slot_size = slot_size,
            .names = names,
            .batch = undefined,
        };
        if (socket.has_batches) {
            const headers = try gpa.alloc(socket.MessageHeader, slot_count);
            errdefer gpa.free(headers);
            const vectors = try gpa.alloc(socket.IoVector, slot_count);
            for (headers, vectors, names, 0..) |*message, *vector, *name, i| {
                vector.* = .{ .base = ring.data.ptr + i * slot_size, .len = slot_size };
                message.* = .{ .hdr = std.mem.zeroes(@TypeOf(message.hdr)), .len = 0 };
                message.hdr.name = &name.storage.any;
                message.hdr.iov = @ptrCast(vector);
                message.hdr.iovlen = 1;
            }
            ring.batch = .{ .headers = headers, .vectors = vectors };
        }
        return ring;
    }

    fn destroy(ring: *ReceiveRing, gpa: std.mem.Allocator) void {
        if (socket.has_batches) {
            gpa.free(ring.batch.headers);
            gpa.free(ring.batch.vectors);
        }
        gpa.free(ring.names);
        gpa.free(ring.memory);
        gpa.destroy(ring);
    }

    /// Datagrams JS has not taken yet. JS owns `head`, so a corrupted head is an error.
    fn buffered(ring: *const ReceiveRing) errors.Error!u32 {
        const head = @atomicLoad(u32, &ring.header.head, .acquire);
        const used = ring.header.tail -% head;
        if (used > ring.metas.len) return error.InvalidArgument;
        return used;
    }

    /// Takes what the kernel holds into the free slots (one batch); returns the datagrams
    /// buffered afterwards, or WouldBlock when there are none.
    fn fill(ring: *ReceiveRing, fd: event.Fd) errors.Error!u32 {
        const slot_count: u32 = @intCast(ring.metas.len);
        const used = try ring.buffered();
        if (used == slot_count) return used;
        const tail = ring.header.tail;
        const start = tail & (slot_count - 1);
        // One contiguous run of slots per call; the wrapped rest is filled on the next call.
        const room = @min(slot_count - used, slot_count - start);
        const received = ring.receiveInto(fd, start, room) catch |err| {
            ring.drained = err == error.WouldBlock;
            if (err == error.WouldBlock and used > 0) return used;
            return err;
        };
        std.debug.assert(received > 0 and received <= room);
        ring.drained = received < room;
        for (start..start + received) |slot| {
            const meta = &ring.metas[slot];
            ring.describe(slot, meta);
        }
        @atomicStore(u32, &ring.header.tail, tail +% received, .release);
        return used + received;
    }

    fn receiveInto(ring: *ReceiveRing, fd: event.Fd, start: u32, room: u32) errors.Error!u32 {
        std.debug.assert(room > 0);
        var attempt: u32 = 0;
        while (attempt < retries_max) : (attempt += 1) {
            if (socket.has_batches) {
                return socket.receiveBatch(fd, ring.batch.headers[start..][0..room], ring.names[start..][0..room]) catch |err| switch (err) {
                    // An ICMP error for an earlier send, reported once: the next call goes on.
                    error.ConnectionRefused, error.ConnectionReset => continue,
                    else => return err,
                };
            }
            var count: u32 = 0;
            while (count < room) : (count += 1) {
                const slot = start + count;
                const buffer = ring.data[@as(usize, slot) * ring.slot_size ..][0..ring.slot_size];
                const got = socket.receiveFrom(fd, buffer, &ring.names[slot]) catch |err| switch (err) {
                    error.ConnectionRefused, error.ConnectionReset => break,
                    error.WouldBlock => if (count > 0) return count else return err,
                    else => if (count > 0) return count else return err,
                };
                ring.metas[slot].length = got.size;
                ring.metas[slot].flags = if (got.truncated) meta_truncated else 0;
            }
            if (count > 0) return count;
        }
        return error.WouldBlock;
    }

    /// Completes a freshly filled slot's meta: length and flags (from the batch header on
    /// Linux, already set elsewhere) and the sender in the library's layout.
    fn describe(ring: *ReceiveRing, slot: usize, meta: *Meta) void {
        if (socket.has_batches) {
            const message = &ring.batch.headers[slot];
            meta.length = message.len;
            const truncated = message.hdr.flags & std.os.linux.MSG.TRUNC != 0 or message.len > ring.slot_size;
            meta.flags = if (truncated) meta_truncated else 0;
        }
        meta.sender = ring.names[slot].toAddress() catch Address.any(Address.ip4);
    }
};

// ---------------------------------------------------------------------------------------
// The send queue: native copies of the datagrams the kernel could not take at once, in order.

const Queued = struct {
    name: socket.Name,
    /// Where the datagram's copy is in the queue's `data`.
    offset: usize,
    len: usize,
};

const SendQueue = struct {
    items: std.ArrayList(Queued) = .empty,
    head: usize = 0,
    /// The datagrams' copies, back to back, in one buffer that is emptied (and kept, up to
    /// data_keep_max) when the queue empties: staging a datagram per request allocates nothing.
    data: std.ArrayList(u8) = .empty,
    /// Bytes of the datagrams not sent yet.
    bytes: usize = 0,

    /// A buffer larger than this is freed when the queue empties, so an idle endpoint is small.
    const data_keep_max = 256 * 1024;
    /// Sent datagrams' room is reclaimed (the rest moved to the front) once there are this many
    /// of them, or bytes, and more than are left.
    const dead_items_min = 1024;
    const dead_bytes_min = 64 * 1024;

    /// What an empty datagram's bytes point at: an empty buffer's address is one the kernel
    /// refuses (EFAULT) even for zero bytes.
    var empty_payload: [1]u8 = .{0};

    fn len(queue: *const SendQueue) usize {
        return queue.items.items.len - queue.head;
    }

    fn pending(queue: *SendQueue) []Queued {
        return queue.items.items[queue.head..];
    }

    fn payload(queue: *const SendQueue, item: *const Queued) []u8 {
        if (item.len == 0) return empty_payload[0..0];
        return queue.data.items[item.offset..][0..item.len];
    }

    fn push(queue: *SendQueue, gpa: std.mem.Allocator, name: *const socket.Name, bytes: []const u8) errors.Error!void {
        try queue.items.ensureUnusedCapacity(gpa, 1);
        const offset = queue.data.items.len;
        try queue.data.appendSlice(gpa, bytes);
        queue.items.appendAssumeCapacity(.{ .name = name.*, .offset = offset, .len = bytes.len });
        queue.bytes += bytes.len;
    }

    /// Forgets the first n datagrams (sent, or dropped after a permanent error).
    fn dropFront(queue: *SendQueue, gpa: std.mem.Allocator, n: usize) void {
        std.debug.assert(n <= queue.len());
        for (queue.pending()[0..n]) |item| queue.bytes -= item.len;
        queue.head += n;
        if (queue.head == queue.items.items.len) {
            queue.items.clearRetainingCapacity();
            queue.head = 0;
            if (queue.data.capacity > data_keep_max) queue.data.clearAndFree(gpa) else queue.data.clearRetainingCapacity();
            return;
        }
        const dead_bytes = queue.pending()[0].offset;
        const dead_items = queue.head;
        if ((dead_items >= dead_items_min and dead_items >= queue.len()) or
            (dead_bytes >= dead_bytes_min and dead_bytes >= queue.data.items.len - dead_bytes))
        {
            const rest = queue.len();
            std.mem.copyForwards(Queued, queue.items.items[0..rest], queue.pending());
            queue.items.items.len = rest;
            queue.head = 0;
            for (queue.items.items) |*item| item.offset -= dead_bytes;
            const kept = queue.data.items.len - dead_bytes;
            std.mem.copyForwards(u8, queue.data.items[0..kept], queue.data.items[dead_bytes..]);
            queue.data.items.len = kept;
        }
    }

    fn deinit(queue: *SendQueue, gpa: std.mem.Allocator) void {
        queue.items.deinit(gpa);
        queue.data.deinit(gpa);
        queue.* = undefined;
    }
};

/// Scratch for one sendmmsg call (Linux only), allocated with the first batch send: up to
/// send_batch_max datagrams (vectors and names), grouped into messages.
const SendScratch = struct {
    headers: [send_batch_max]socket.MessageHeader,
    vectors: [send_batch_max]socket.IoVector,
    names: [send_batch_max]*const socket.Name,
    controls: [send_batch_max]socket.SegmentControl,
    /// The datagrams of each message: a run of `count` vectors from `first`.
    spans: [send_batch_max]Span,

    const Span = struct { first: u32, count: u32 };

    /// Prepares the messages for datagrams [first, count): one per datagram, or with
    /// `segmenting` one per run of datagrams to one address that the kernel can cut apart
    /// (all of one size but the last, which may be shorter). Returns the message count.
    fn group(scratch: *SendScratch, first: usize, count: usize, segmenting: bool) usize {
        comptime std.debug.assert(socket.has_batches);
        var messages: usize = 0;
        var i = first;
        while (i < count) : (messages += 1) {
            const size = scratch.vectors[i].len;
            var run: usize = 1;
            if (segmenting and size > 0) {
                var total = size;
                while (i + run < count and run < socket.segments_max) {
                    const next = scratch.vectors[i + run].len;
                    if (next == 0 or next > size or total + next > socket.segmented_bytes_max) break;
                    if (!sameName(scratch.names[i], scratch.names[i + run])) break;
                    total += next;
                    run += 1;
                    // A shorter datagram can only end a run.
                    if (next < size) break;
                }
            }
            const message = &scratch.headers[messages];
            message.* = .{ .hdr = std.mem.zeroes(@TypeOf(message.hdr)), .len = 0 };
            message.hdr.name = @constCast(&scratch.names[i].storage.any);
            message.hdr.namelen = scratch.names[i].len;
            message.hdr.iov = @ptrCast(&scratch.vectors[i]);
            message.hdr.iovlen = run;
            if (run > 1) {
                scratch.controls[messages] = .{ .segment = @intCast(size) };
                message.hdr.control = &scratch.controls[messages];
                message.hdr.controllen = @sizeOf(socket.SegmentControl);
            }
            scratch.spans[messages] = .{ .first = @intCast(i), .count = @intCast(run) };
            i += run;
        }
        return messages;
    }
};

/// Segmented sends that the kernel refused (a device without checksum offload, a path MTU
/// below the datagram size) before the endpoint stops trying.
const segment_failures_max = 8;

fn sameName(a: *const socket.Name, b: *const socket.Name) bool {
    if (a == b) return true;
    if (a.len != b.len) return false;
    const size: usize = @min(a.len, @sizeOf(@TypeOf(a.storage)));
    return std.mem.eql(u8, std.mem.asBytes(&a.storage)[0..size], std.mem.asBytes(&b.storage)[0..size]);
}

const SendProgress = struct {
    sent: u32 = 0,
    failed: u32 = 0,
    first_failure: ?errors.Error = null,
    blocked: bool = false,

    fn noteFailure(progress: *SendProgress, err: errors.Error) void {
        progress.failed += 1;
        if (progress.first_failure == null) progress.first_failure = err;
    }
};

/// The largest datagram to `name` the kernel takes: 65507 bytes over IPv4 (IPv4-mapped IPv6
/// addresses too), 65527 over IPv6.
fn sizeMax(name: *const socket.Name) usize {
    if (name.storage.any.family == socket.af_inet) return socket.datagram_size_max_ip4;
    const mapped_prefix = [12]u8{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (std.mem.eql(u8, name.storage.v6.addr[0..12], &mapped_prefix)) return socket.datagram_size_max_ip4;
    return socket.datagram_size_max;
}

/// Errors that concern only the kernel's buffers: the datagram waits and is retried.
fn isTransient(err: errors.Error) bool {
    return err == error.WouldBlock or err == error.NoBufferSpace;
}

/// ICMP errors of earlier sends that some systems report once on a later call.
fn isIcmpNotice(err: errors.Error) bool {
    return err == error.ConnectionRefused or err == error.ConnectionReset;
}

// ---------------------------------------------------------------------------------------
// Endpoints

pub const Endpoint = struct {
    gpa: std.mem.Allocator,
    handle: u32 = 0,
    loop_handle: u32,
    fd: event.Fd,
    family: u16,
    options: Options,
    ring: ?*ReceiveRing = null,
    queue: SendQueue = .{},
    scratch: if (socket.has_batches) ?*SendScratch else void,
    receive_op_live: bool = false,
    send_op_live: bool = false,
    /// Segmented sends the kernel refused (see segment_failures_max).
    segment_failures: u32 = 0,
    /// The loop closed the socket (closeLoop); only close() is left to do.
    detached: bool = false,

    fn create(gpa: std.mem.Allocator, loop_handle: u32, family: u16, options: Options) errors.Error!*Endpoint {
        try options.validate();
        if (family != Address.ip4 and family != Address.ip6) return error.InvalidArgument;
        const fd = try socket.open(family);
        errdefer socket.close(fd);
        const endpoint = try gpa.create(Endpoint);
        endpoint.* = .{
            .gpa = gpa,
            .loop_handle = loop_handle,
            .fd = fd,
            .family = family,
            .options = options,
            .scratch = if (socket.has_batches) null else {},
        };
        return endpoint;
    }

    /// Makes one last nonblocking attempt to send what is queued, wakes the endpoint's ops
    /// (they find the handle retired and end with ECANCELED), closes the socket, frees all.
    fn destroy(endpoint: *Endpoint, hub: ?*hub_module.Hub) void {
        endpoint.detach(hub);
        if (endpoint.ring) |ring| ring.destroy(endpoint.gpa);
        endpoint.queue.deinit(endpoint.gpa);
        if (socket.has_batches) {
            if (endpoint.scratch) |scratch| endpoint.gpa.destroy(scratch);
        }
        endpoint.gpa.destroy(endpoint);
    }

    /// Closes the socket (once): one last nonblocking try for what is queued, then the ops
    /// waiting on it are woken and find the endpoint gone (they end with ECANCELED).
    fn detach(endpoint: *Endpoint, hub: ?*hub_module.Hub) void {
        if (endpoint.detached) return;
        if (endpoint.queue.len() > 0) _ = endpoint.drainQueue(endpoint.queue.len());
        endpoint.queue.dropFront(endpoint.gpa, endpoint.queue.len());
        endpoint.detached = true;
        if (hub) |live| live.cancelFd(endpoint.fd) catch {};
        socket.close(endpoint.fd);
    }

    pub fn bind(endpoint: *Endpoint, address: *const Address, flags: u32) errors.Error!void {
        if (!address.isValid()) return error.InvalidArgument;
        if (address.family != endpoint.family) return error.AddressFamilyNotSupported;
        return socket.bind(endpoint.fd, address, flags);
    }

    pub fn sockname(endpoint: *const Endpoint) errors.Error!Address {
        return socket.sockname(endpoint.fd);
    }

    /// The receive ring, created on first use; its memory lives until the endpoint closes.
    pub fn receiveRing(endpoint: *Endpoint) errors.Error!*ReceiveRing {
        if (endpoint.ring) |ring| return ring;
        const ring = try ReceiveRing.create(endpoint.gpa, endpoint.options.receive_batch, endpoint.options.receive_size);
        endpoint.ring = ring;
        return ring;
    }

    /// Fills the ring from the kernel; returns the datagrams buffered, or (nothing waiting)
    /// starts a receive op that posts that count with `token` once some arrive and returns 0.
    /// Token 0 starts no op: WouldBlock instead.
    pub fn receive(endpoint: *Endpoint, hub: *hub_module.Hub, token: u32) errors.Error!u32 {
        const ring = endpoint.ring orelse return error.InvalidArgument;
        if (endpoint.receive_op_live) return error.Busy;
        const buffered = try ring.buffered();
        if (buffered > 0) return buffered;
        // After a fill that emptied the kernel's queue, asking again would most likely find
        // nothing: the op waits first (a datagram that came meanwhile is reported at once).
        if (token == 0 or !ring.drained) {
            if (ring.fill(endpoint.fd)) |count| {
                std.debug.assert(count > 0);
                return count;
            } else |err| {
                if (err != error.WouldBlock or token == 0) return err;
            }
        }
        endpoint.receive_op_live = true;
        hub.start(ReceiveOp, .{ .op = undefined, .handle = endpoint.handle }, token) catch |err| {
            endpoint.receive_op_live = false;
            return err;
        };
        return 0;
    }

    /// Ends a receive op early (its task was killed): it completes with ECANCELED.
    pub fn cancelReceive(endpoint: *Endpoint, hub: *hub_module.Hub) errors.Error!void {
        if (!endpoint.receive_op_live) return;
        // This wakes the send op too; it sees its endpoint alive and waits again.
        try hub.cancelFd(endpoint.fd);
        std.debug.assert(!endpoint.receive_op_live);
    }

    /// Sends one datagram now, or queues a copy when the kernel's buffer is full.
    pub fn send(endpoint: *Endpoint, bytes: []const u8, address: *const Address) errors.Error!SendStatus {
        if (bytes.len > socket.datagram_size_max) return error.MessageTooBig;
        const name = try endpoint.nameFor(address);
        if (endpoint.queue.len() > 0) return endpoint.enqueue(&name, bytes);
        var attempt: u32 = 0;
        while (attempt < retries_max) : (attempt += 1) {
            socket.sendTo(endpoint.fd, bytes, &name) catch |err| {
                if (isTransient(err)) return endpoint.enqueue(&name, bytes);
                if (isIcmpNotice(err)) continue;
                return err;
            };
            return .sent;
        }
        return error.Interrupted;
    }

    pub const ManyResult = struct {
        status: SendStatus,
        /// The first permanent failure; its datagram was dropped, the others were sent.
        failure: ?errors.Error,
    };

    /// Sends `lengths.len` datagrams packed back to back in `data` to one address, in order.
    pub fn sendMany(endpoint: *Endpoint, data: []const u8, lengths: []const u32, address: *const Address) errors.Error!ManyResult {
        var total: usize = 0;
        for (lengths) |length| {
            if (length > socket.datagram_size_max) return error.MessageTooBig;
            total += length;
        }
        if (total > data.len) return error.InvalidArgument;
        const name = try endpoint.nameFor(address);
        var progress: SendProgress = .{};
        var offset: usize = 0;
        var index: usize = 0;
        if (endpoint.queue.len() == 0) {
            if (socket.has_batches) {
                while (index < lengths.len) {
                    const batch = @min(lengths.len - index, send_batch_max);
                    const step = try endpoint.sendPacked(data[offset..], lengths[index..][0..batch], &name, &progress);
                    for (lengths[index..][0..step]) |length| offset += length;
                    index += step;
                    if (progress.blocked) break;
                }
            } else {
                while (index < lengths.len and !progress.blocked) : (index += 1) {
                    const bytes = data[offset..][0..lengths[index]];
                    endpoint.sendOne(bytes, &name, &progress);
                    if (progress.blocked) break;
                    offset += bytes.len;
                }
            }
        }
        var status: SendStatus = .sent;
        while (index < lengths.len) : (index += 1) {
            const bytes = data[offset..][0..lengths[index]];
            status = try endpoint.enqueue(&name, bytes);
            offset += bytes.len;
        }
        return .{ .status = status, .failure = progress.first_failure };
    }

    /// Queues a copy of a datagram to leave with the next sendQueued (JS calls it at the end
    /// of the loop turn, so that a turn's datagrams leave in one sendmmsg), after the checks
    /// that would fail a send at once: a bad address, a datagram too big for its family.
    pub fn stage(endpoint: *Endpoint, bytes: []const u8, address: *const Address) errors.Error!SendStatus {
        const name = try endpoint.nameFor(address);
        if (bytes.len > sizeMax(&name)) return error.MessageTooBig;
        return endpoint.enqueue(&name, bytes);
    }

    /// Sends what is queued without waiting, unless the send op is draining it already.
    /// `status` says what is left: sent (nothing), queued (the op runs) or queued_start (the
    /// kernel is full: start the op); `failure` is the first datagram refused for good.
    pub fn sendQueued(endpoint: *Endpoint) ManyResult {
        if (endpoint.send_op_live) return .{ .status = .queued, .failure = null };
        if (endpoint.queue.len() == 0) return .{ .status = .sent, .failure = null };
        const progress = endpoint.drainQueue(endpoint.queue.len());
        const status: SendStatus = if (endpoint.queue.len() == 0) .sent else .queued_start;
        return .{ .status = status, .failure = progress.first_failure };
    }

    /// Queues a copy of a datagram as if the kernel's buffer were full (tests use it to run
    /// the drain path on demand; loopback never pushes back).
    pub fn enqueueForTest(endpoint: *Endpoint, bytes: []const u8, address: *const Address) errors.Error!SendStatus {
        if (bytes.len > socket.datagram_size_max) return error.MessageTooBig;
        const name = try endpoint.nameFor(address);
        return endpoint.enqueue(&name, bytes);
    }

    /// Starts the op that drains the send queue, reporting with `token`; false when the queue
    /// is empty or already being drained (then the token is unused).
    pub fn startFlush(endpoint: *Endpoint, hub: *hub_module.Hub, token: u32) errors.Error!bool {
        if (endpoint.queue.len() == 0 or endpoint.send_op_live) return false;
        endpoint.send_op_live = true;
        hub.start(SendOp, .{ .op = undefined, .handle = endpoint.handle }, token) catch |err| {
            endpoint.send_op_live = false;
            return err;
        };
        return true;
    }

    pub fn queued(endpoint: *const Endpoint) u32 {
        return @intCast(endpoint.queue.len());
    }

    pub fn setOption(endpoint: *Endpoint, option: socket.Option, value: i32) errors.Error!void {
        return socket.setOption(endpoint.fd, endpoint.family, option, value);
    }

    pub fn membership(endpoint: *Endpoint, join: bool, group: *const Address, interface: *const Address) errors.Error!void {
        if (!group.isValid() or !interface.isValid()) return error.InvalidArgument;
        if (group.family != endpoint.family) return error.AddressFamilyNotSupported;
        return socket.membership(endpoint.fd, join, group, interface);
    }

    pub fn setMulticastInterface(endpoint: *Endpoint, interface: *const Address) errors.Error!void {
        if (!interface.isValid()) return error.InvalidArgument;
        return socket.setMulticastInterface(endpoint.fd, endpoint.family, interface);
    }

    /// The OS address for a destination; an IPv6 socket reaches IPv4 through mapped addresses.
    fn nameFor(endpoint: *const Endpoint, address: *const Address) errors.Error!socket.Name {
        if (!address.isValid()) return error.InvalidArgument;
        if (address.family == endpoint.family) return socket.Name.fromAddress(address);
        var converted = address.*;
        if (endpoint.family == Address.ip6) {
            converted = Address.any(Address.ip6);
            converted.port = address.port;
            converted.bytes[10] = 0xff;
            converted.bytes[11] = 0xff;
            @memcpy(converted.bytes[12..16], address.bytes[0..4]);
            return socket.Name.fromAddress(&converted);
        }
        const mapped_prefix = [12]u8{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        if (!std.mem.eql(u8, address.bytes[0..12], &mapped_prefix)) return error.AddressFamilyNotSupported;
        converted = Address.any(Address.ip4);
        converted.port = address.port;
        @memcpy(converted.bytes[0..4], address.bytes[12..16]);
        return socket.Name.fromAddress(&converted);
    }

    fn enqueue(endpoint: *Endpoint, name: *const socket.Name, bytes: []const u8) errors.Error!SendStatus {
        const queue = &endpoint.queue;
        if (queue.len() >= Options.queue_count_max) return error.NoBufferSpace;
        if (queue.bytes + bytes.len > endpoint.options.queue_bytes_max) return error.NoBufferSpace;
        try queue.push(endpoint.gpa, name, bytes);
        return if (endpoint.send_op_live) .queued else .queued_start;
    }

    /// Sends one datagram; records a permanent failure (the datagram is dropped) or `blocked`.
    fn sendOne(endpoint: *Endpoint, bytes: []const u8, name: *const socket.Name, progress: *SendProgress) void {
        var attempt: u32 = 0;
        while (attempt < retries_max) : (attempt += 1) {
            socket.sendTo(endpoint.fd, bytes, name) catch |err| {
                if (isIcmpNotice(err)) continue;
                if (isTransient(err)) {
                    progress.blocked = true;
                } else {
                    progress.noteFailure(err);
                }
                return;
            };
            progress.sent += 1;
            return;
        }
        progress.noteFailure(error.Interrupted);
    }

    /// One sendmmsg batch of datagrams packed in `data`; returns how many were dealt with
    /// (sent, or dropped after a permanent failure); stops early when the kernel is full.
    fn sendPacked(endpoint: *Endpoint, data: []const u8, lengths: []const u32, name: *const socket.Name, progress: *SendProgress) errors.Error!usize {
        comptime std.debug.assert(socket.has_batches);
        std.debug.assert(lengths.len > 0 and lengths.len <= send_batch_max);
        const scratch = try endpoint.sendScratch();
        var offset: usize = 0;
        for (lengths, 0..) |length, i| {
            scratch.vectors[i] = .{ .base = @constCast(data[offset..].ptr), .len = length };
            scratch.names[i] = name;
            offset += length;
        }
        return endpoint.sendPrepared(scratch, lengths.len, progress);
    }

    /// Sends scratch's first `count` datagrams (vectors and names) in order with sendmmsg;
    /// returns how many were dealt with. A run of datagrams of one size to one address
    /// leaves as one segmented message where the kernel can (UDP GSO), so that it costs
    /// about one datagram's trip through the network stack.
    fn sendPrepared(endpoint: *Endpoint, scratch: *SendScratch, count: usize, progress: *SendProgress) usize {
        comptime std.debug.assert(socket.has_batches);
        var segmenting = endpoint.segment_failures < segment_failures_max and socket.hasSegmentation(endpoint.fd);
        var done: usize = 0;
        var attempt: u32 = 0;
        while (done < count and attempt < retries_max) : (attempt += 1) {
            const messages = scratch.group(done, count, segmenting);
            var failure: ?errors.Error = null;
            const sent = socket.sendBatch(endpoint.fd, scratch.headers[0..messages], &failure);
            for (scratch.spans[0..sent]) |span| {
                done += span.count;
                progress.sent += span.count;
            }
            const err = failure orelse continue;
            if (isIcmpNotice(err)) continue;
            if (isTransient(err)) {
                progress.blocked = true;
                return done;
            }
            if (scratch.spans[sent].count > 1) {
                // The kernel would not segment this run: its datagrams go one by one.
                endpoint.segment_failures += 1;
                segmenting = false;
                continue;
            }
            // The datagram at `done` cannot be sent (too big, no route, not permitted).
            progress.noteFailure(err);
            done += 1;
        }
        return done;
    }

    fn sendScratch(endpoint: *Endpoint) errors.Error!*SendScratch {
        comptime std.debug.assert(socket.has_batches);
        if (endpoint.scratch) |scratch| return scratch;
        const scratch = try endpoint.gpa.create(SendScratch);
        endpoint.scratch = scratch;
        return scratch;
    }

    /// Sends queued datagrams, oldest first, until `max` were dealt with, the queue is empty
    /// or the kernel is full.
    fn drainQueue(endpoint: *Endpoint, max: usize) SendProgress {
        var progress: SendProgress = .{};
        var dealt: usize = 0;
        while (dealt < max and endpoint.queue.len() > 0 and !progress.blocked) {
            const batch = @min(endpoint.queue.len(), max - dealt, send_batch_max);
            var step: usize = 0;
            if (socket.has_batches) {
                const scratch = endpoint.sendScratch() catch {
                    progress.blocked = true;
                    break;
                };
                for (endpoint.queue.pending()[0..batch], 0..) |*item, i| {
                    const bytes = endpoint.queue.payload(item);
                    scratch.vectors[i] = .{ .base = bytes.ptr, .len = bytes.len };
                    scratch.names[i] = &item.name;
                }
                step = endpoint.sendPrepared(scratch, batch, &progress);
            } else {
                while (step < batch and !progress.blocked) {
                    const item = &endpoint.queue.pending()[step];
                    endpoint.sendOne(endpoint.queue.payload(item), &item.name, &progress);
                    if (!progress.blocked) step += 1;
                }
            }
            endpoint.queue.dropFront(endpoint.gpa, step);
            dealt += step;
        }
        return progress;
    }
};

// ---------------------------------------------------------------------------------------
// Ops. They hold the endpoint's handle, never a pointer, and look it up after every wait: a
// close in between retires the handle and frees the endpoint, and the op then just ends.

const ReceiveOp = struct {
    pub const kind = kind_receive;

    op: hub_module.Op,
    handle: u32,

    pub fn run(self: *ReceiveOp) hub_module.Completion {
        var wait: u32 = 0;
        while (wait < waits_max) : (wait += 1) {
            // The caller found the ring empty just before starting this op: wait first.
            const fd = (get(self.handle) catch return .fail(error.Canceled)).fd;
            self.op.waitReadable(fd) catch |err| return self.end(err);
            const endpoint = get(self.handle) catch return .fail(error.Canceled);
            const ring = endpoint.ring.?;
            const count = ring.fill(endpoint.fd) catch |err| switch (err) {
                error.WouldBlock => continue,
                else => return self.end(err),
            };
            endpoint.receive_op_live = false;
            return .{ .result = @intCast(count) };
        }
        return self.end(error.TimedOut);
    }

    fn end(self: *ReceiveOp, err: errors.Error) hub_module.Completion {
        if (get(self.handle)) |endpoint| endpoint.receive_op_live = false else |_| {}
        return .fail(err);
    }
};

const SendOp = struct {
    pub const kind = kind_send;

    op: hub_module.Op,
    handle: u32,

    /// Completes with the number of datagrams sent, or -code of the first that failed
    /// (aux = how many failed); the failed ones were dropped, the others sent.
    pub fn run(self: *SendOp) hub_module.Completion {
        var total: SendProgress = .{};
        var wait: u32 = 0;
        while (wait < waits_max) : (wait += 1) {
            const endpoint = get(self.handle) catch return .fail(error.Canceled);
            const step = endpoint.drainQueue(send_chunk_max);
            total.sent +|= step.sent;
            total.failed +|= step.failed;
            if (total.first_failure == null) total.first_failure = step.first_failure;
            if (endpoint.queue.len() == 0) {
                endpoint.send_op_live = false;
                return summary(&total);
            }
            // Waiting for writability waits out a full buffer and, after a long chunk, lets
            // the loop run other work (a writable socket is reported on the next poll).
            self.op.waitWritable(endpoint.fd) catch |err| {
                const alive = get(self.handle) catch return .fail(error.Canceled);
                // A receive op canceled on the same descriptor wakes this one too.
                if (err == error.Canceled and !self.op.canceled) continue;
                alive.send_op_live = false;
                return .fail(err);
            };
        }
        if (get(self.handle)) |endpoint| endpoint.send_op_live = false else |_| {}
        return .fail(error.TimedOut);
    }

    fn summary(progress: *const SendProgress) hub_module.Completion {
        if (progress.first_failure) |err| return .{ .result = errors.negative(err), .aux = progress.failed };
        return .{ .result = @intCast(@min(progress.sent, std.math.maxInt(i32))) };
    }
};

// ---------------------------------------------------------------------------------------
// Tests: real sockets on 127.0.0.1 and ::1, real ops on a real hub.

test {
    _ = socket;
}

const testing = std.testing;
const completion_ring = @import("../loop/ring.zig");
const support = @import("../loop/test_support.zig");

fn drain(hub: *hub_module.Hub, out: []completion_ring.Record) u32 {
    return support.drain(&hub.loop.ring, out);
}

const Pair = struct {
    receiver: u32,
    sender: u32,
    target: Address,

    fn init(family: u16, options: Options) !Pair {
        const loopback = try ip.parse(if (family == Address.ip4) "127.0.0.1" else "::1", 0);
        const receiver = try open(testing.allocator, 0, family, options);
        errdefer close(receiver, null) catch {};
        const sender = try open(testing.allocator, 0, family, options);
        errdefer close(sender, null) catch {};
        const receiving = try get(receiver);
        try receiving.bind(&loopback, 0);
        _ = try receiving.receiveRing();
        try (try get(sender)).bind(&loopback, 0);
        return .{ .receiver = receiver, .sender = sender, .target = try receiving.sockname() };
    }

    fn deinit(pair: Pair, hub: ?*hub_module.Hub) void {
        close(pair.receiver, hub) catch unreachable;
        close(pair.sender, hub) catch unreachable;
    }
};

/// Takes the next datagram out of the ring the way JS does.
fn take(endpoint: *Endpoint) struct { bytes: []const u8, meta: Meta } {
    const ring = endpoint.ring.?;
    const head = ring.header.head;
    std.debug.assert(head != ring.header.tail);
    const slot = head & (ring.header.slot_count - 1);
    const meta = ring.metas[slot];
    ring.header.head = head +% 1;
    const stored = @min(meta.length, ring.slot_size);
    return .{ .bytes = ring.data[slot * ring.slot_size ..][0..stored], .meta = meta };
}

fn hasIp6() bool {
    const fd = socket.open(Address.ip6) catch return false;
    defer socket.close(fd);
    const loopback = ip.parse("::1", 0) catch return false;
    socket.bind(fd, &loopback, 0) catch return false;
    return true;
}

test "datagrams keep their boundaries, order and sender, IPv4 and IPv6" {
    for ([_]u16{ Address.ip4, Address.ip6 }) |family| {
        if (family == Address.ip6 and !hasIp6()) continue;
        const pair = try Pair.init(family, .{ .receive_batch = 8, .receive_size = 256 });
        defer pair.deinit(null);
        const sender = try get(pair.sender);
        const from = try sender.sockname();
        var message: [32]u8 = undefined;
        for (0..20) |i| {
            const text = try std.fmt.bufPrint(&message, "datagram {d}", .{i});
            try testing.expectEqual(SendStatus.sent, try sender.send(text, &pair.target));
        }
        const receiver = try get(pair.receiver);
        var seen: u32 = 0;
        var rounds: u32 = 0;
        while (seen < 20 and rounds < 1000) : (rounds += 1) {
            const count = receiver.ring.?.fill(receiver.fd) catch |err| switch (err) {
                error.WouldBlock => {
                    @import("../loop/test_support.zig").sleepMs(1);
                    continue;
                },
                else => return err,
            };
            try testing.expect(count <= 8);
            for (0..count) |_| {
                const got = take(receiver);
                const expected = try std.fmt.bufPrint(&message, "datagram {d}", .{seen});
                try testing.expectEqualStrings(expected, got.bytes);
                try testing.expectEqual(from.port, got.meta.sender.port);
                try testing.expectEqual(family, got.meta.sender.family);
                seen += 1;
            }
        }
        try testing.expectEqual(@as(u32, 20), seen);
    }
}

test "a datagram larger than the slot is flagged truncated with its real size where known" {
    const pair = try Pair.init(Address.ip4, .{ .receive_batch = 4, .receive_size = 16 });
    defer pair.deinit(null);
    const payload: [100]u8 = @splat('x');
    _ = try (try get(pair.sender)).send(&payload, &pair.target);
    const receiver = try get(pair.receiver);
    var count: u32 = 0;
    var rounds: u32 = 0;
    while (count == 0 and rounds < 1000) : (rounds += 1) {
        count = receiver.ring.?.fill(receiver.fd) catch 0;
    }
    try testing.expectEqual(@as(u32, 1), count);
    const got = take(receiver);
    try testing.expectEqual(meta_truncated, got.meta.flags);
    try testing.expectEqual(@as(usize, 16), got.bytes.len);
    if (builtin.os.tag == .linux) try testing.expectEqual(@as(u32, 100), got.meta.length);
}

test "a receive op waits on the hub and posts the count; close cancels a waiting op" {
    const hub = try hub_module.Hub.create(testing.allocator, .{});
    defer hub.destroy();
    const pair = try Pair.init(Address.ip4, .{ .receive_batch = 16, .receive_size = 64 });
    const receiver = try get(pair.receiver);
    try testing.expectError(error.WouldBlock, receiver.receive(hub, 0));
    try testing.expectEqual(@as(u32, 0), try receiver.receive(hub, 7));
    try testing.expectError(error.Busy, receiver.receive(hub, 8));
    try testing.expectEqual(@as(u32, 1), hub.opsLive());
    const sender = try get(pair.sender);
    for (0..3) |_| _ = try sender.send("abc", &pair.target);
    var out: [4]completion_ring.Record = undefined;
    var n: u32 = 0;
    var rounds: u32 = 0;
    while (n == 0 and rounds < 100) : (rounds += 1) {
        _ = try hub.poll(100);
        n = drain(hub, &out);
    }
    try testing.expectEqual(@as(u32, 1), n);
    try testing.expectEqual(@as(u32, 7), out[0].token);
    try testing.expectEqual(kind_receive, out[0].kind);
    try testing.expect(out[0].result >= 1 and out[0].result <= 3);
    try testing.expect(!receiver.receive_op_live);

    // Drain the ring, wait again, then close while the op waits.
    while (receiver.ring.?.buffered() catch 0 > 0) _ = take(receiver);
    var rest = receiver.receive(hub, 9) catch 0;
    while (rest > 0) : (rest = receiver.receive(hub, 9) catch 0) {
        while (receiver.ring.?.buffered() catch 0 > 0) _ = take(receiver);
    }
    try testing.expectEqual(@as(u32, 1), hub.opsLive());
    pair.deinit(hub);
    try testing.expectEqual(@as(u32, 0), hub.opsLive());
    try testing.expectEqual(@as(u32, 1), drain(hub, &out));
    try testing.expectEqual(@as(u32, 9), out[0].token);
    try testing.expectEqual(errors.negative(error.Canceled), out[0].result);
}

test "cancelReceive ends only the receive op; the send op keeps draining" {
    const hub = try hub_module.Hub.create(testing.allocator, .{});
    defer hub.destroy();
    const pair = try Pair.init(Address.ip4, .{ .receive_batch = 64, .receive_size = 64 });
    defer pair.deinit(hub);
    const receiver = try get(pair.receiver);
    const sender = try get(pair.sender);
    // The sender receives too, so that both ops wait on its descriptor.
    _ = try sender.receiveRing();
    try testing.expectEqual(@as(u32, 0), try sender.receive(hub, 1));
    for (0..10) |i| {
        const byte = [1]u8{@intCast(i)};
        _ = try sender.enqueueForTest(&byte, &pair.target);
    }
    try testing.expect(try sender.startFlush(hub, 2));
    try testing.expect(!try sender.startFlush(hub, 3));
    try sender.cancelReceive(hub);
    var out: [8]completion_ring.Record = undefined;
    var got_cancel = false;
    var got_send = false;
    var rounds: u32 = 0;
    while (!(got_cancel and got_send) and rounds < 100) : (rounds += 1) {
        _ = try hub.poll(10);
        for (out[0..drain(hub, &out)]) |record| {
            if (record.token == 1) {
                try testing.expectEqual(errors.negative(error.Canceled), record.result);
                got_cancel = true;
            } else {
                try testing.expectEqual(@as(u32, 2), record.token);
                try testing.expectEqual(kind_send, record.kind);
                try testing.expectEqual(@as(i32, 10), record.result);
                got_send = true;
            }
        }
    }
    try testing.expect(got_cancel and got_send);
    try testing.expectEqual(@as(u32, 0), sender.queued());
    // Every queued datagram arrived, in order.
    var next: u8 = 0;
    rounds = 0;
    while (next < 10 and rounds < 1000) : (rounds += 1) {
        const count = receiver.ring.?.fill(receiver.fd) catch continue;
        for (0..count) |_| {
            const got = take(receiver);
            try testing.expectEqualSlices(u8, &.{next}, got.bytes);
            next += 1;
        }
    }
    try testing.expectEqual(@as(u8, 10), next);
}

test "sendMany sends a packed batch in order; later sends queue behind queued ones" {
    const hub = try hub_module.Hub.create(testing.allocator, .{});
    defer hub.destroy();
    const pair = try Pair.init(Address.ip4, .{ .receive_batch = 128, .receive_size = 64 });
    defer pair.deinit(hub);
    const sender = try get(pair.sender);
    var data: [200]u8 = undefined;
    var lengths: [100]u32 = undefined;
    for (&lengths, 0..) |*length, i| {
        length.* = 2;
        data[2 * i] = @intCast(i);
        data[2 * i + 1] = 0xee;
    }
    const result = try sender.sendMany(&data, &lengths, &pair.target);
    try testing.expectEqual(SendStatus.sent, result.status);
    try testing.expect(result.failure == null);
    // A queued datagram makes the next sends queue behind it, so order holds.
    try testing.expectEqual(SendStatus.queued_start, try sender.enqueueForTest(&.{ 100, 0xee }, &pair.target));
    try testing.expectEqual(SendStatus.queued_start, try sender.send(&.{ 101, 0xee }, &pair.target));
    try testing.expect(try sender.startFlush(hub, 5));
    try testing.expectEqual(@as(u32, 0), sender.queued());

    const receiver = try get(pair.receiver);
    var next: u32 = 0;
    var rounds: u32 = 0;
    while (next < 102 and rounds < 1000) : (rounds += 1) {
        const count = receiver.ring.?.fill(receiver.fd) catch continue;
        for (0..count) |_| {
            const got = take(receiver);
            try testing.expectEqualSlices(u8, &.{ @intCast(next), 0xee }, got.bytes);
            next += 1;
        }
    }
    try testing.expectEqual(@as(u32, 102), next);
    try testing.expectError(error.InvalidArgument, sender.sendMany(data[0..10], &lengths, &pair.target));
}

/// Receives `count` datagrams into `out` (copies), waiting up to a second.
fn receiveAll(endpoint: *Endpoint, out: [][]u8, senders: []Address) !void {
    var got: usize = 0;
    var rounds: u32 = 0;
    while (got < out.len and rounds < 1000) : (rounds += 1) {
        const count = endpoint.ring.?.fill(endpoint.fd) catch |err| switch (err) {
            error.WouldBlock => {
                @import("../loop/test_support.zig").sleepMs(1);
                continue;
            },
            else => return err,
        };
        for (0..count) |_| {
            const taken = take(endpoint);
            try testing.expectEqual(@as(u32, 0), taken.meta.flags);
            out[got] = try testing.allocator.dupe(u8, taken.bytes);
            senders[got] = taken.meta.sender;
            got += 1;
        }
    }
    try testing.expectEqual(out.len, got);
}

test "staged datagrams leave in one sendQueued with boundaries, order and sender kept" {
    const hub = try hub_module.Hub.create(testing.allocator, .{});
    defer hub.destroy();
    const pair = try Pair.init(Address.ip4, .{ .receive_batch = 256, .receive_size = 2048 });
    defer pair.deinit(hub);
    const loopback = try ip.parse("127.0.0.1", 0);
    const second = try open(testing.allocator, 0, Address.ip4, .{ .receive_batch = 64, .receive_size = 2048 });
    defer close(second, hub) catch unreachable;
    const other = try get(second);
    try other.bind(&loopback, 0);
    _ = try other.receiveRing();
    const other_target = try other.sockname();
    const sender = try get(pair.sender);
    const from = try sender.sockname();

    // Runs of one size (some longer than a segmented message holds), a shorter datagram
    // ending a run, empty datagrams, and a second destination in between.
    var sizes: [200]u32 = undefined;
    for (&sizes, 0..) |*size, i| {
        size.* = if (i < 150) 64 else if (i < 160) 1400 else if (i == 160) 3 else if (i == 170) 0 else @intCast((i * 7) % 50);
    }
    var payload: [1400]u8 = undefined;
    var to_other: usize = 0;
    for (sizes, 0..) |size, i| {
        @memset(payload[0..size], @intCast(i & 0xff));
        const target = if (i % 50 == 49) &other_target else &pair.target;
        if (i % 50 == 49) to_other += 1;
        try testing.expectEqual(SendStatus.queued_start, try sender.stage(payload[0..size], target));
    }
    try testing.expectEqual(@as(u32, sizes.len), sender.queued());
    const result = sender.sendQueued();
    try testing.expectEqual(SendStatus.sent, result.status);
    try testing.expect(result.failure == null);
    try testing.expectEqual(@as(u32, 0), sender.queued());
    try testing.expectEqual(@as(u32, 0), sender.segment_failures);

    var first: [sizes.len - 4][]u8 = undefined;
    var first_senders: [first.len]Address = undefined;
    try receiveAll(try get(pair.receiver), &first, &first_senders);
    defer for (first) |bytes| testing.allocator.free(bytes);
    var seconds: [4][]u8 = undefined;
    var second_senders: [4]Address = undefined;
    try receiveAll(other, &seconds, &second_senders);
    defer for (seconds) |bytes| testing.allocator.free(bytes);
    var at_first: usize = 0;
    var at_second: usize = 0;
    for (sizes, 0..) |size, i| {
        const bytes, const address = if (i % 50 == 49) blk: {
            at_second += 1;
            break :blk .{ seconds[at_second - 1], second_senders[at_second - 1] };
        } else blk: {
            at_first += 1;
            break :blk .{ first[at_first - 1], first_senders[at_first - 1] };
        };
        try testing.expectEqual(@as(usize, size), bytes.len);
        for (bytes) |byte| try testing.expectEqual(@as(u8, @intCast(i & 0xff)), byte);
        try testing.expectEqual(from.port, address.port);
    }
    try testing.expectEqual(to_other, at_second);
}

test "a datagram staged and sent per request allocates nothing once the first has gone" {
    var counting: std.testing.FailingAllocator = .init(testing.allocator, .{});
    const pair = try Pair.init(Address.ip4, .{ .receive_batch = 8, .receive_size = 512 });
    defer pair.deinit(null);
    const loopback = try ip.parse("127.0.0.1", 0);
    const handle = try open(counting.allocator(), 0, Address.ip4, .{});
    defer close(handle, null) catch unreachable;
    const sender = try get(handle);
    try sender.bind(&loopback, 0);
    const receiver = try get(pair.receiver);
    var answer: [100]u8 = undefined;
    for (0..30) |round| {
        const allocations = counting.allocations;
        const deallocations = counting.deallocations;
        @memset(&answer, @intCast(round));
        _ = try sender.stage(answer[0 .. 20 + round], &pair.target);
        _ = try sender.stage("", &pair.target);
        try testing.expectEqual(SendStatus.sent, sender.sendQueued().status);
        var got: [2][]u8 = undefined;
        var senders: [2]Address = undefined;
        try receiveAll(receiver, &got, &senders);
        defer for (got) |bytes| testing.allocator.free(bytes);
        try testing.expectEqualSlices(u8, answer[0 .. 20 + round], got[0]);
        try testing.expectEqual(@as(usize, 0), got[1].len);
        if (round == 0) continue;
        try testing.expectEqual(allocations, counting.allocations);
        try testing.expectEqual(deallocations, counting.deallocations);
    }
}

test "a send queue that never empties reclaims the room of the datagrams it sent" {
    var queue: SendQueue = .{};
    defer queue.deinit(testing.allocator);
    const name = socket.Name.fromAddress(&(try ip.parse("127.0.0.1", 9)));
    var datagram: [3000]u8 = undefined;
    var pushed: usize = 0;
    var dropped: usize = 0;
    // Datagrams leave a few at a time, as a kernel that keeps pushing back takes them, while
    // more arrive, so the queue never empties: large ones of varied sizes (empty ones too),
    // then tiny ones.
    for (0..4000) |round| {
        for (0..3) |_| {
            const size = testDatagramSize(pushed);
            @memset(datagram[0..size], @truncate(pushed));
            try queue.push(testing.allocator, &name, datagram[0..size]);
            pushed += 1;
        }
        const n: usize = if (round == 0) 1 else 3;
        for (queue.pending()[0..n], dropped..) |*item, index| {
            const size = testDatagramSize(index);
            const bytes = queue.payload(item);
            try testing.expectEqual(size, bytes.len);
            for (bytes) |byte| try testing.expectEqual(@as(u8, @truncate(index)), byte);
        }
        queue.dropFront(testing.allocator, n);
        dropped += n;
        var pending_bytes: usize = 0;
        for (queue.pending()) |*item| pending_bytes += item.len;
        try testing.expectEqual(pending_bytes, queue.bytes);
        // Bounded by what is pending, not by all that ever passed.
        try testing.expect(queue.data.items.len <= 2 * queue.bytes + SendQueue.dead_bytes_min + datagram.len);
        try testing.expect(queue.head <= @max(SendQueue.dead_items_min, queue.len()));
    }
    try testing.expectEqual(@as(usize, 2), queue.len());
}

/// The size of the test's datagram number `index`.
fn testDatagramSize(index: usize) usize {
    return if (index < 6000) (index * 997) % 3000 else index % 2;
}

test "a segmented run the kernel refuses goes datagram by datagram; each failure is counted" {
    if (!socket.has_batches) return error.SkipZigTest;
    const pair = try Pair.init(Address.ip4, .{ .receive_batch = 16, .receive_size = 64 });
    defer pair.deinit(null);
    const sender = try get(pair.sender);
    if (!socket.hasSegmentation(sender.fd)) return error.SkipZigTest;
    // Broadcast without SO_BROADCAST: the kernel refuses the run (EACCES), then each one.
    const broadcast = try ip.parse("255.255.255.255", pair.target.port);
    _ = try sender.stage("ok1", &pair.target);
    for (0..3) |_| _ = try sender.stage("bad", &broadcast);
    _ = try sender.stage("ok2", &pair.target);
    _ = try sender.stage("ok3", &pair.target);
    var progress = sender.drainQueue(sender.queue.len());
    try testing.expectEqual(@as(u32, 3), progress.sent);
    try testing.expectEqual(@as(u32, 3), progress.failed);
    try testing.expectEqual(@as(?errors.Error, error.AccessDenied), progress.first_failure);
    try testing.expectEqual(@as(u32, 1), sender.segment_failures);
    var got: [3][]u8 = undefined;
    var senders: [3]Address = undefined;
    try receiveAll(try get(pair.receiver), &got, &senders);
    defer for (got) |bytes| testing.allocator.free(bytes);
    try testing.expectEqualStrings("ok1", got[0]);
    try testing.expectEqualStrings("ok2", got[1]);
    try testing.expectEqualStrings("ok3", got[2]);
    // After segment_failures_max refusals the endpoint stops trying to segment.
    sender.segment_failures = segment_failures_max;
    for (0..4) |_| _ = try sender.stage("x", &pair.target);
    progress = sender.drainQueue(sender.queue.len());
    try testing.expectEqual(@as(u32, 4), progress.sent);
    try testing.expectEqual(segment_failures_max, sender.segment_failures);
}

test "stage refuses at once what the kernel would: 65507 bytes over IPv4, 65527 over IPv6" {
    const pair = try Pair.init(Address.ip4, .{ .receive_batch = 2, .receive_size = 65536 });
    defer pair.deinit(null);
    const sender = try get(pair.sender);
    const big = try testing.allocator.alloc(u8, socket.datagram_size_max_ip4 + 1);
    defer testing.allocator.free(big);
    @memset(big, 0x5a);
    try testing.expectError(error.MessageTooBig, sender.stage(big, &pair.target));
    try testing.expectError(error.AddressFamilyNotSupported, sender.stage(big[0..1], &(try ip.parse("::1", 9))));
    // The largest IPv4 datagrams, two in a row (too big to share a segmented message).
    _ = try sender.stage(big[0..socket.datagram_size_max_ip4], &pair.target);
    _ = try sender.stage(big[0..socket.datagram_size_max_ip4], &pair.target);
    const result = sender.sendQueued();
    try testing.expectEqual(SendStatus.sent, result.status);
    try testing.expect(result.failure == null);
    var got: [2][]u8 = undefined;
    var senders: [2]Address = undefined;
    try receiveAll(try get(pair.receiver), &got, &senders);
    defer for (got) |bytes| testing.allocator.free(bytes);
    for (got) |bytes| try testing.expectEqual(@as(usize, socket.datagram_size_max_ip4), bytes.len);

    if (!hasIp6()) return;
    const v6 = try Pair.init(Address.ip6, .{ .receive_batch = 2, .receive_size = 65536 });
    defer v6.deinit(null);
    const sender6 = try get(v6.sender);
    const bigger = try testing.allocator.alloc(u8, socket.datagram_size_max + 1);
    defer testing.allocator.free(bigger);
    try testing.expectError(error.MessageTooBig, sender6.stage(bigger, &v6.target));
    try testing.expectError(error.MessageTooBig, sender6.stage(bigger[0 .. socket.datagram_size_max_ip4 + 1], &(try ip.parse("::ffff:127.0.0.1", 9))));
    _ = try sender6.stage(bigger[0..socket.datagram_size_max], &v6.target);
    try testing.expectEqual(SendStatus.sent, sender6.sendQueued().status);
}

test "send errors: too big, wrong family, a full queue; an unreachable port harms nothing" {
    const pair = try Pair.init(Address.ip4, .{ .queue_bytes_max = Options.queue_bytes_min });
    defer pair.deinit(null);
    const sender = try get(pair.sender);
    var huge: [socket.datagram_size_max + 1]u8 = undefined;
    try testing.expectError(error.MessageTooBig, sender.send(&huge, &pair.target));
    const v6 = try ip.parse("::1", 9);
    try testing.expectError(error.AddressFamilyNotSupported, sender.send("x", &v6));
    const mapped = try ip.parse("::ffff:127.0.0.1", pair.target.port);
    try testing.expectEqual(SendStatus.sent, try sender.send("mapped", &mapped));

    // A port nobody listens on: ICMP port unreachable comes back; later sends still work.
    const closed_port = try open(testing.allocator, 0, Address.ip4, .{});
    const loopback = try ip.parse("127.0.0.1", 0);
    try (try get(closed_port)).bind(&loopback, 0);
    const dead = try (try get(closed_port)).sockname();
    try close(closed_port, null);
    for (0..5) |_| _ = try sender.send("void", &dead);
    try testing.expectEqual(SendStatus.sent, try sender.send("alive", &pair.target));

    const chunk: [40000]u8 = @splat(1);
    _ = try sender.enqueueForTest(&chunk, &pair.target);
    try testing.expectError(error.NoBufferSpace, sender.enqueueForTest(&chunk, &pair.target));
}

test "closing a loop closes its endpoints' sockets and ends their ops; close() frees the rest" {
    const hub = try hub_module.Hub.create(testing.allocator, .{});
    defer hub.destroy();
    const loopback = try ip.parse("127.0.0.1", 0);
    // Two endpoints on loop 7 (one waiting in a receive op, one with a queued datagram) and
    // one on loop 8.
    const waiting = try open(testing.allocator, 7, Address.ip4, .{ .receive_batch = 4, .receive_size = 64 });
    const queued = try open(testing.allocator, 7, Address.ip4, .{});
    const other = try open(testing.allocator, 8, Address.ip4, .{ .receive_batch = 4, .receive_size = 64 });
    defer close(other, hub) catch unreachable;
    for ([_]u32{ waiting, queued, other }) |handle| try (try get(handle)).bind(&loopback, 0);
    const target = try (try get(other)).sockname();
    _ = try (try get(waiting)).receiveRing();
    try testing.expectEqual(@as(u32, 0), try (try get(waiting)).receive(hub, 3));
    try testing.expectEqual(SendStatus.queued_start, try (try get(queued)).enqueueForTest("last", &target));
    const fds = [_]event.Fd{ (try get(waiting)).fd, (try get(queued)).fd };
    try testing.expectEqual(@as(u32, 1), hub.opsLive());

    try closeLoop(7, hub);
    try testing.expectEqual(@as(u32, 0), hub.opsLive());
    var out: [4]completion_ring.Record = undefined;
    try testing.expectEqual(@as(u32, 1), drain(hub, &out));
    try testing.expectEqual(@as(u32, 3), out[0].token);
    try testing.expectEqual(errors.negative(error.Canceled), out[0].result);
    if (builtin.os.tag != .windows) {
        for (fds) |fd| try testing.expect(std.c.fcntl(fd, std.c.F.GETFD) < 0);
    }
    // Every call but close fails; the ring's memory is still there for JS.
    try testing.expectError(error.BadDescriptor, get(waiting));
    try testing.expectError(error.BadDescriptor, get(queued));
    try testing.expectEqual(@as(u32, 7), try loopOf(waiting));
    try closeLoop(7, hub);
    try close(waiting, null);
    try close(queued, null);
    try testing.expectError(error.BadDescriptor, loopOf(waiting));

    // The other loop's endpoint is untouched and got the queued datagram's last try.
    const receiver = try get(other);
    _ = try receiver.receiveRing();
    var count: u32 = 0;
    var rounds: u32 = 0;
    while (count == 0 and rounds < 1000) : (rounds += 1) {
        count = receiver.ring.?.fill(receiver.fd) catch 0;
    }
    try testing.expectEqual(@as(u32, 1), count);
    try testing.expectEqualStrings("last", take(receiver).bytes);
}

test "the handle table rejects stale, forged and foreign handles" {
    const handle = try open(testing.allocator, 0, Address.ip4, .{});
    try testing.expect(handle > 0 and handle < 1 << 31);
    _ = try get(handle);
    try close(handle, null);
    try testing.expectError(error.BadDescriptor, get(handle));
    try testing.expectError(error.BadDescriptor, close(handle, null));
    try testing.expectError(error.BadDescriptor, get(0));
    try testing.expectError(error.BadDescriptor, get(0x7fff_ffff));
    try testing.expectError(error.InvalidArgument, open(testing.allocator, 0, 5, .{}));
    try testing.expectError(error.InvalidArgument, open(testing.allocator, 0, Address.ip4, .{ .receive_size = 0 }));
    try testing.expectError(error.InvalidArgument, open(testing.allocator, 0, Address.ip4, .{ .receive_batch = 48 }));
}

test "multicast join and leave on loopback, where the kernel allows it" {
    const handle = try open(testing.allocator, 0, Address.ip4, .{});
    defer close(handle, null) catch unreachable;
    const endpoint = try get(handle);
    const any = Address.any(Address.ip4);
    try endpoint.bind(&any, socket.BindFlags.reuse_address);
    const group = try ip.parse("239.255.0.1", 0);
    const loopback = try ip.parse("127.0.0.1", 0);
    endpoint.membership(true, &group, &loopback) catch |err| switch (err) {
        error.Unexpected, error.AddressNotAvailable => return error.SkipZigTest,
        else => return err,
    };
    try endpoint.membership(false, &group, &loopback);
    const unicast = try ip.parse("127.0.0.1", 0);
    try testing.expectError(error.InvalidArgument, endpoint.membership(true, &unicast, &loopback));
}
