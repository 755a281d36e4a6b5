//! Buffered streams over nonblocking descriptors and the hub ops that block on them: a read that
//! accumulates into the stream's bounded buffer until n bytes, a delimiter or more than k bytes
//! are there (or end of stream), and the drain of the native write queue. JS starts each with one
//! call; when the data is already there the call answers at once and no op runs (DESIGN.md).
//! socket.zig adds connect and accept; tcp.zig, pipe.zig and tty.zig open streams.

const std = @import("std");
const errors = @import("../loop/errors.zig");
const event = @import("../loop/event.zig");
const handles = @import("../loop/handles.zig");
const hub_module = @import("../hub/hub.zig");
const sys = @import("sys.zig");
const terminal = @import("terminal.zig");
const windows_pipe = @import("windows_pipe.zig");

/// Completion kinds of the stream ops (hub/hub.zig's rule: 16 and up, unique; 32..47 are streams').
pub const kind_read: u32 = 32;
pub const kind_drain: u32 = 33;
pub const kind_connect: u32 = 34;
pub const kind_accept: u32 = 35;

/// Read buffers stay below this, so every count fits a completion's i32 result.
pub const read_max_limit: usize = std.math.maxInt(i32);
/// While direct reads find nothing, readNow tries one at most once in this many calls.
const probe_interval_max = 16;
/// Room for a kept peer address: an IPv6 socket address (28 bytes) or an IPv4 one.
const peer_kept_max = 28;
/// Bytes queued for writing at once, at most.
pub const write_queue_max: usize = 1 << 30;
/// Longest readUntil delimiter.
pub const delimiter_max: usize = 64 * 1024;
/// Delimiters up to this long are kept in the stream itself.
const delimiter_inline_size = 16;
/// A fresh read buffer's size, and the least free space a read asks the OS to fill.
const read_chunk_size = 16 * 1024;
/// Buffers larger than this are freed when they empty, so idle streams stay small.
const keep_size_max = 256 * 1024;
/// An op moves at most this much per loop turn, then waits (level-triggered: ready next poll),
/// so one busy stream cannot hold the turn.
const turn_budget_bytes = 4 * 1024 * 1024;

/// What JS wants from a read.
pub const ReadMode = enum(u32) {
    /// `arg` bytes exactly (fewer at end of stream).
    exact = 0,
    /// Up to and including the delimiter set with `setDelimiter`.
    until = 1,
    /// Everything buffered, once more than `arg` bytes are (readUntilRegex grows its window).
    more = 2,
};

pub const Io = enum { socket, file };
pub const Role = enum { stream, listener };

/// Every live stream, by handle.
pub var streams: handles.Registry(Stream, 1 << 20) = .{};

/// The read window JS sees: offsets into the read buffer, in memory JS reads and writes
/// through a view (native code runs only inside calls JS makes, on its thread, so neither side
/// sees the other's writes half done). JS may only advance `start` up to `end` and move `scan`;
/// every other change (filling, compacting, growing, freeing) is native, and whenever the buffer
/// itself moves or is freed, `generation` changes so JS fetches a new view of it.
pub const Window = extern struct {
    /// The first buffered byte.
    start: u32 = 0,
    /// One past the last buffered byte.
    end: u32 = 0,
    /// Bytes before this offset (and from `start`) were searched for the delimiter without
    /// finding it; it never exceeds `end`.
    scan: u32 = 0,
    /// Changes whenever read_buffer is replaced (grown, freed).
    generation: u32 = 0,
};

/// What a thread copying input into a stream's socket pair (stdio.zig) leaves the stream: the
/// read error that ended the input, if one did, so the reader gets it instead of end of stream.
/// Shared by the stream and the thread; the later of the two to let go frees it.
pub const CopyStatus = struct {
    gpa: std.mem.Allocator,
    refs: std.atomic.Value(u32) = .init(1),
    /// 0, or the code of the error that ended the input (set before the far end shuts down).
    code: std.atomic.Value(i32) = .init(0),

    pub fn create(gpa: std.mem.Allocator) errors.Error!*CopyStatus {
        const status = try gpa.create(CopyStatus);
        status.* = .{ .gpa = gpa };
        return status;
    }

    pub fn retain(status: *CopyStatus) void {
        _ = status.refs.fetchAdd(1, .acq_rel);
    }

    pub fn release(status: *CopyStatus) void {
        if (status.refs.fetchSub(1, .acq_rel) == 1) status.gpa.destroy(status);
    }

    pub fn fail(status: *CopyStatus, err: errors.Error) void {
        status.code.store(@backingInt(errors.code(err)), .release);
    }

    fn failure(status: *const CopyStatus) ?errors.Error {
        const value = status.code.load(.acquire);
        if (value == 0) return null;
        return errors.fromCode(@fromBackingInt(@intCast(value)));
    }
};

pub const Stream = struct {
    gpa: std.mem.Allocator,
    handle: u32 = 0,
    /// The loop (its handle in hub/loops.zig) whose hub runs this stream's ops.
    loop_handle: u32,
    fd: event.Fd = sys.invalid_fd,
    io: Io,
    role: Role = .stream,
    closed: bool = false,

    /// Ops running for this stream; the stream is freed when it is closed and none is left.
    ops_live: u32 = 0,
    read_live: bool = false,
    drain_live: bool = false,
    connect_live: bool = false,
    accept_live: bool = false,
    /// Set around hub.cancelFd so that only the op on the intended side gives up.
    cancel_read: bool = false,
    cancel_write: bool = false,

    read_buffer: []u8 = &.{},
    /// Where the buffered bytes are in read_buffer, shared with JS (`eg_stream_window`): JS
    /// reads what is buffered from a view of read_buffer and consumes by advancing `start`.
    window: Window = .{},
    read_max: usize,
    eof: bool = false,
    read_error: ?errors.Error = null,
    /// Input copied in by a thread (stdio.zig): how the copy ended, consulted at end of stream.
    copy_status: ?*CopyStatus = null,
    /// In delimiter_inline when it fits there, else allocated.
    delimiter: []u8 = &.{},
    /// Holds short delimiters, so that reads up to alternating ones (a head up to "\r\n\r\n",
    /// then chunk sizes up to "\r\n") allocate nothing.
    delimiter_inline: [delimiter_inline_size]u8 = undefined,
    /// The last direct read found nothing: the peer answers requests (ping-pong, or pipelined
    /// batches that JS consumes from the window), so readNow skips a read that would only say
    /// EAGAIN and the op waits for readiness instead. It reads anyway once every
    /// `read_probe_interval` calls (doubled, up to `probe_interval_max`, by each probe that
    /// finds nothing); a read that finds data clears it (a peer that streams).
    read_expect_empty: bool = false,
    read_skips: u8 = 0,
    read_probe_interval: u8 = 1,

    write_queue: []u8 = &.{},
    write_start: usize = 0,
    write_end: usize = 0,
    write_error: ?errors.Error = null,

    /// The peer's IP address as accept or connect found it: `address` answers with it once
    /// the socket no longer can (getpeername fails after a reset). Empty when len is 0.
    peer_kept: [peer_kept_max]u8 align(4) = undefined,
    peer_kept_len: u8 = 0,

    /// A second descriptor an op waits on (the resolver's signal during connect).
    aux_fd: event.Fd = sys.invalid_fd,
    /// Listeners: settings for accepted connections.
    accept_read_max: usize = 0,
    accept_tcp: bool = false,
    /// Unix socket servers remove their socket file on close, if the path still names the
    /// socket they made (`unlink_id`): not a file that replaced it, nor, after a change of
    /// directory, another file at a relative path.
    unlink_path: [sys.unix_path_max]u8 = undefined,
    unlink_len: usize = 0,
    unlink_id: sys.FileId = .{ .device = 0, .inode = 0 },
    tty_state: terminal.State = .{},
    /// A Windows named-pipe server feeding this listener, stopped on close.
    named_server: ?*windows_pipe.named.Server = null,

    /// A stream (not yet registered) over fd, which it owns from now on.
    pub fn create(gpa: std.mem.Allocator, loop_handle: u32, fd: event.Fd, io: Io, read_max: usize) errors.Error!*Stream {
        if (read_max == 0 or read_max > read_max_limit) return error.InvalidArgument;
        const stream = try gpa.create(Stream);
        stream.* = .{ .gpa = gpa, .loop_handle = loop_handle, .fd = fd, .io = io, .read_max = read_max };
        errdefer gpa.destroy(stream);
        stream.handle = try streams.insert(stream);
        return stream;
    }

    /// Closes the descriptor and invalidates the handle. Ops blocked on the stream complete with
    /// ECANCELED first (when the hub is still there); the memory goes with the last op.
    pub fn close(stream: *Stream, hub: ?*hub_module.Hub) void {
        std.debug.assert(!stream.closed);
        stream.closed = true;
        // Held while canceling: an op that finishes now must not free the stream under us.
        stream.ops_live += 1;
        _ = streams.remove(stream.handle) catch {};
        if (hub) |h| {
            if (stream.aux_fd != sys.invalid_fd) h.cancelFd(stream.aux_fd) catch {};
            if (stream.fd != sys.invalid_fd) h.cancelFd(stream.fd) catch {};
        }
        terminal.restore(stream.fd, &stream.tty_state);
        if (stream.named_server) |server| server.close();
        stream.named_server = null;
        if (stream.fd != sys.invalid_fd) {
            sys.close(stream.fd);
            stream.fd = sys.invalid_fd;
        }
        if (stream.unlink_len > 0) sys.unlinkSocketFile(stream.unlink_path[0..stream.unlink_len], stream.unlink_id);
        stream.ops_live -= 1;
        if (stream.ops_live == 0) stream.destroy();
    }

    fn destroy(stream: *Stream) void {
        std.debug.assert(stream.closed and stream.ops_live == 0);
        stream.gpa.free(stream.read_buffer);
        stream.gpa.free(stream.write_queue);
        stream.freeDelimiter();
        if (stream.copy_status) |status| status.release();
        stream.gpa.destroy(stream);
    }

    /// Counts an op that is about to start; undo with `opFinished` if it never ran.
    pub fn opStarting(stream: *Stream, flag: *bool) void {
        std.debug.assert(!flag.*);
        flag.* = true;
        stream.ops_live += 1;
    }

    /// Called by each op as it ends (or by the starter when the op never ran).
    pub fn opFinished(stream: *Stream, flag: *bool) void {
        std.debug.assert(flag.*);
        std.debug.assert(stream.ops_live > 0);
        flag.* = false;
        stream.ops_live -= 1;
        if (stream.closed and stream.ops_live == 0) stream.destroy();
    }

    // ---- reads ----

    /// Copies the delimiter for `until` reads (kept until the next call).
    pub fn setDelimiter(stream: *Stream, delimiter: []const u8) errors.Error!void {
        if (delimiter.len == 0 or delimiter.len > delimiter_max) return error.InvalidArgument;
        if (std.mem.eql(u8, stream.delimiter, delimiter)) return;
        if (delimiter.len <= delimiter_inline_size) {
            stream.freeDelimiter();
            @memcpy(stream.delimiter_inline[0..delimiter.len], delimiter);
            stream.delimiter = stream.delimiter_inline[0..delimiter.len];
        } else {
            const copy = try stream.gpa.dupe(u8, delimiter);
            stream.freeDelimiter();
            stream.delimiter = copy;
        }
        stream.window.scan = stream.window.start;
    }

    fn freeDelimiter(stream: *Stream) void {
        if (stream.delimiter.len > delimiter_inline_size) stream.gpa.free(stream.delimiter);
        stream.delimiter = &.{};
    }

    /// Keeps the peer's address (IP families only: a Unix peer is rarely named).
    pub fn keepPeer(stream: *Stream, peer: *const sys.Address) void {
        if (peer.len == 0 or peer.len > peer_kept_max) return;
        @memcpy(stream.peer_kept[0..peer.len], peer.storage[0..peer.len]);
        stream.peer_kept_len = @intCast(peer.len);
    }

    /// The address keepPeer kept, or null.
    pub fn keptPeer(stream: *const Stream) ?sys.Address {
        if (stream.peer_kept_len == 0) return null;
        var address: sys.Address = .{ .len = stream.peer_kept_len };
        @memcpy(address.storage[0..stream.peer_kept_len], stream.peer_kept[0..stream.peer_kept_len]);
        return address;
    }

    pub fn buffered(stream: *const Stream) usize {
        return stream.window.end - stream.window.start;
    }

    /// The window's view of the read buffer for JS: where the buffer is and how long.
    pub fn windowBuffer(stream: *const Stream) []u8 {
        return stream.read_buffer;
    }

    /// Replaces the read buffer (JS must fetch a new view of it).
    fn replaceBuffer(stream: *Stream, buffer: []u8) void {
        stream.gpa.free(stream.read_buffer);
        stream.read_buffer = buffer;
        stream.window.generation +%= 1;
    }

    /// Answers a read from the buffer and at most a few reads of the descriptor: the count to
    /// take (0 at end of stream), -EAGAIN when an op must wait, or -code.
    pub fn readNow(stream: *Stream, mode: ReadMode, arg: usize) i32 {
        stream.checkRead(mode, arg) catch |err| return errors.negative(err);
        var attempt: u32 = 0;
        while (attempt < 8) : (attempt += 1) {
            if (stream.readOutcome(mode, arg)) |result| return result;
            if (stream.skipsDirectRead()) return errors.negative(error.WouldBlock);
            const got = stream.fill() catch |err| switch (err) {
                error.WouldBlock => {
                    stream.directReadFoundNothing();
                    return errors.negative(error.WouldBlock);
                },
                else => blk: {
                    stream.read_error = err;
                    break :blk 0;
                },
            };
            if (got > 0) stream.directReadFoundData();
        }
        return stream.readOutcome(mode, arg) orelse errors.negative(error.WouldBlock);
    }

    /// Whether a direct read is skipped because the last ones found nothing (see
    /// read_expect_empty); every `read_probe_interval`-th call reads anyway.
    fn skipsDirectRead(stream: *Stream) bool {
        if (!stream.read_expect_empty) return false;
        if (stream.read_skips + 1 < stream.read_probe_interval) {
            stream.read_skips += 1;
            return true;
        }
        stream.read_skips = 0;
        return false;
    }

    fn directReadFoundNothing(stream: *Stream) void {
        if (stream.read_expect_empty) {
            stream.read_probe_interval = @min(stream.read_probe_interval * 2, probe_interval_max);
        }
        stream.read_expect_empty = true;
    }

    fn directReadFoundData(stream: *Stream) void {
        stream.read_expect_empty = false;
        stream.read_probe_interval = 1;
    }

    /// Reads up to dest.len bytes into dest: what is buffered, else straight from the
    /// descriptor (no copy through the buffer). The count (0 at end of stream), -EAGAIN
    /// (start a `more` op with arg 0, then take), or -code.
    pub fn readInto(stream: *Stream, dest: []u8) i32 {
        stream.checkRead(.more, 0) catch |err| return errors.negative(err);
        if (dest.len == 0) return errors.negative(error.InvalidArgument);
        const limit = @min(dest.len, read_max_limit);
        const count = stream.buffered();
        if (count > 0) {
            const n = @min(count, limit);
            stream.take(dest[0..n], n) catch unreachable;
            return @intCast(n);
        }
        if (stream.read_error) |err| return errors.negative(err);
        if (stream.eof) return 0;
        // A peer that answers requests (readInto + write per request) leaves nothing to read
        // here: as readNow, skip the read that would only say EAGAIN while the last ones did.
        if (stream.skipsDirectRead()) return errors.negative(error.WouldBlock);
        const n = stream.readRaw(dest[0..limit]) catch |err| switch (err) {
            error.WouldBlock => {
                stream.directReadFoundNothing();
                return errors.negative(error.WouldBlock);
            },
            else => {
                stream.read_error = err;
                return errors.negative(err);
            },
        };
        if (n == 0) {
            stream.reachedEnd();
            if (stream.read_error) |err| return errors.negative(err);
        } else stream.directReadFoundData();
        return @intCast(n);
    }

    fn readRaw(stream: *Stream, target: []u8) errors.Error!usize {
        return switch (stream.io) {
            .socket => sys.recv(stream.fd, target),
            .file => sys.read(stream.fd, target),
        };
    }

    /// Starts a read op (after readNow said -EAGAIN): -EINPROGRESS, or an answer if the buffer
    /// already has one, or -code.
    pub fn startRead(stream: *Stream, hub: *hub_module.Hub, mode: ReadMode, arg: usize, token: u32) i32 {
        stream.checkRead(mode, arg) catch |err| return errors.negative(err);
        if (stream.readOutcome(mode, arg)) |result| return result;
        stream.opStarting(&stream.read_live);
        hub.startWaiting(ReadOp, .{ .op = undefined, .stream = stream, .mode = mode, .arg = arg }, token, stream.fd, .read) catch |err| {
            stream.opFinished(&stream.read_live);
            return errors.negative(err);
        };
        return errors.negative(error.InProgress);
    }

    fn checkRead(stream: *const Stream, mode: ReadMode, arg: usize) errors.Error!void {
        if (stream.closed) return error.BadDescriptor;
        if (stream.role != .stream or stream.fd == sys.invalid_fd) return error.NotConnected;
        if (stream.read_live) return error.Busy;
        switch (mode) {
            .exact => if (arg == 0) return error.InvalidArgument,
            .until => if (stream.delimiter.len == 0) return error.InvalidArgument,
            .more => {},
        }
        // A request the bounded buffer can never satisfy fails like an overflowing one.
        if (mode == .exact and arg > stream.read_max) return error.NoBufferSpace;
        if (mode == .more and arg >= stream.read_max) return error.NoBufferSpace;
    }

    /// The read's answer if it has one: the byte count to take, or -code.
    fn readOutcome(stream: *Stream, mode: ReadMode, arg: usize) ?i32 {
        const count = stream.buffered();
        switch (mode) {
            .exact => if (count >= arg) return @intCast(arg),
            .until => if (stream.findDelimiter()) |end| return @intCast(end),
            .more => if (count > arg) return @intCast(count),
        }
        if (stream.read_error) |err| return errors.negative(err);
        if (stream.eof) return @intCast(count);
        if (count >= stream.read_max) return errors.negative(error.NoBufferSpace);
        return null;
    }

    /// The length up to and including the first delimiter, searching only new bytes.
    fn findDelimiter(stream: *Stream) ?usize {
        const start = stream.window.start;
        const data = stream.read_buffer[start..stream.window.end];
        const delimiter = stream.delimiter;
        if (data.len < delimiter.len) return null;
        // JS may have consumed past the scan point (it only ever moves start forward).
        const from = @min(@as(usize, stream.window.scan) -| start, data.len);
        switch (searchDelimiter(data, from, delimiter)) {
            .found => |index| return index + delimiter.len,
            .resume_at => |index| {
                stream.window.scan = @intCast(start + index);
                return null;
            },
        }
    }

    /// One read of the descriptor into the buffer; 0 at end of stream.
    fn fill(stream: *Stream) errors.Error!usize {
        try stream.reserveRead();
        const count = stream.buffered();
        const room = @min(stream.read_buffer.len - stream.window.end, stream.read_max - count);
        std.debug.assert(room > 0);
        const n = try stream.readRaw(stream.read_buffer[stream.window.end..][0..room]);
        if (n == 0) {
            stream.reachedEnd();
            return 0;
        }
        std.debug.assert(n <= room);
        stream.window.end += @intCast(n);
        return n;
    }

    /// The descriptor said end of stream: for copied input whose copy failed, the copy's read
    /// error instead (readOutcome answers with read_error before eof).
    fn reachedEnd(stream: *Stream) void {
        stream.eof = true;
        const status = stream.copy_status orelse return;
        if (status.failure()) |err| stream.read_error = err;
    }

    /// Makes room at the buffer's end: compacts, or grows up to read_max.
    fn reserveRead(stream: *Stream) errors.Error!void {
        const count = stream.buffered();
        std.debug.assert(count < stream.read_max);
        if (count == 0) {
            stream.window.start = 0;
            stream.window.end = 0;
            stream.window.scan = 0;
            // JS consumed a large buffer empty without a native call: give it back now.
            if (stream.read_buffer.len > keep_size_max) stream.replaceBuffer(&.{});
        }
        const room_wanted = @min(read_chunk_size, stream.read_max - count);
        if (stream.read_buffer.len - stream.window.end >= room_wanted) return;
        const grown = @max(stream.read_buffer.len * 2, read_chunk_size, count + room_wanted);
        const size = @min(grown, @max(stream.read_max, count + room_wanted));
        // Moving the bytes to the front beats a new buffer when they are in the back half (as
        // much room for less copying) or when the buffer cannot grow (it is read_max long: a
        // new one would be as long, and JS would have to fetch a view of it).
        const fits = stream.read_buffer.len - count >= room_wanted;
        if (fits and (stream.window.start >= stream.read_buffer.len / 2 or size <= stream.read_buffer.len)) {
            std.mem.copyForwards(u8, stream.read_buffer[0..count], stream.read_buffer[stream.window.start..stream.window.end]);
            stream.window.scan -|= stream.window.start;
            stream.window.start = 0;
            stream.window.end = @intCast(count);
            return;
        }
        const buffer = try stream.gpa.alloc(u8, size);
        @memcpy(buffer[0..count], stream.read_buffer[stream.window.start..stream.window.end]);
        stream.replaceBuffer(buffer);
        stream.window.scan -|= stream.window.start;
        stream.window.start = 0;
        stream.window.end = @intCast(count);
    }

    /// Moves n buffered bytes into dest (or drops them when dest is null).
    pub fn take(stream: *Stream, dest: ?[]u8, n: usize) errors.Error!void {
        if (n > stream.buffered()) return error.InvalidArgument;
        if (dest) |out| {
            if (out.len < n) return error.InvalidArgument;
            @memcpy(out[0..n], stream.read_buffer[stream.window.start..][0..n]);
        }
        // Bytes searched without finding the delimiter stay searched (scan is an offset).
        stream.window.start += @intCast(n);
        if (stream.window.start == stream.window.end) {
            stream.window.start = 0;
            stream.window.end = 0;
            stream.window.scan = 0;
            if (stream.read_buffer.len > keep_size_max) stream.replaceBuffer(&.{});
        }
    }

    /// Copies n buffered bytes from offset into dest without consuming them.
    pub fn peek(stream: *const Stream, dest: []u8, offset: usize, n: usize) errors.Error!void {
        if (offset > stream.buffered() or n > stream.buffered() - offset or dest.len < n) return error.InvalidArgument;
        @memcpy(dest[0..n], stream.read_buffer[stream.window.start + offset ..][0..n]);
    }

    // ---- writes ----

    /// Writes without blocking: 1 when every byte went out, 0 when queued behind a running
    /// drain, 2 when queued and a drain must be started, 3 when the write failed now (the error
    /// is kept for the next write or flush), or -code (the kept error, closed, ...).
    pub fn write(stream: *Stream, bytes: []const u8) i32 {
        if (stream.closed) return errors.negative(error.BadDescriptor);
        if (stream.role != .stream or stream.fd == sys.invalid_fd) return errors.negative(error.NotConnected);
        if (stream.write_error) |err| return errors.negative(err);
        if (stream.write_end > stream.write_start) {
            stream.enqueue(bytes) catch |err| return errors.negative(err);
            return if (stream.drain_live) 0 else 2;
        }
        if (bytes.len == 0) return 1;
        const sent = stream.sendSome(bytes) catch |err| switch (err) {
            error.WouldBlock => 0,
            else => {
                stream.write_error = err;
                return 3;
            },
        };
        if (sent == bytes.len) return 1;
        stream.enqueue(bytes[sent..]) catch |err| return errors.negative(err);
        return 2;
    }

    /// Bytes queued and not sent yet.
    pub fn queued(stream: *const Stream) usize {
        return stream.write_end - stream.write_start;
    }

    /// Starts the drain op: -EINPROGRESS, 0 when nothing is queued, or -code.
    pub fn startDrain(stream: *Stream, hub: *hub_module.Hub, token: u32) i32 {
        if (stream.closed) return errors.negative(error.BadDescriptor);
        if (stream.write_error) |err| return errors.negative(err);
        if (stream.drain_live) return errors.negative(error.AlreadyInProgress);
        if (stream.queued() == 0) return 0;
        stream.opStarting(&stream.drain_live);
        hub.start(DrainOp, .{ .op = undefined, .stream = stream }, token) catch |err| {
            stream.opFinished(&stream.drain_live);
            return errors.negative(err);
        };
        return errors.negative(error.InProgress);
    }

    /// Half-closes the write side; the queue must be drained first.
    pub fn shutdown(stream: *Stream) errors.Error!void {
        if (stream.closed) return error.BadDescriptor;
        if (stream.role != .stream or stream.fd == sys.invalid_fd) return error.NotConnected;
        if (stream.write_error) |err| return err;
        if (stream.queued() > 0) return error.Busy;
        if (stream.io != .socket) return error.NotSocket;
        try sys.shutdownWrite(stream.fd);
    }

    fn sendSome(stream: *Stream, bytes: []const u8) errors.Error!usize {
        return switch (stream.io) {
            .socket => sys.send(stream.fd, bytes),
            .file => sys.write(stream.fd, bytes),
        };
    }

    fn enqueue(stream: *Stream, bytes: []const u8) errors.Error!void {
        if (bytes.len == 0) return;
        const count = stream.queued();
        if (bytes.len > write_queue_max - count) return error.NoBufferSpace;
        if (stream.write_queue.len - stream.write_end < bytes.len) {
            if (stream.write_queue.len - count >= bytes.len) {
                std.mem.copyForwards(u8, stream.write_queue[0..count], stream.write_queue[stream.write_start..stream.write_end]);
            } else {
                const size = @max(stream.write_queue.len * 2, count + bytes.len, read_chunk_size);
                const queue = try stream.gpa.alloc(u8, size);
                @memcpy(queue[0..count], stream.write_queue[stream.write_start..stream.write_end]);
                stream.gpa.free(stream.write_queue);
                stream.write_queue = queue;
            }
            stream.write_start = 0;
            stream.write_end = count;
        }
        @memcpy(stream.write_queue[stream.write_end..][0..bytes.len], bytes);
        stream.write_end += bytes.len;
    }

    fn dequeue(stream: *Stream, n: usize) void {
        std.debug.assert(n <= stream.queued());
        stream.write_start += n;
        if (stream.write_start != stream.write_end) return;
        stream.write_start = 0;
        stream.write_end = 0;
        if (stream.write_queue.len > keep_size_max) {
            stream.gpa.free(stream.write_queue);
            stream.write_queue = &.{};
        }
    }

    // ---- waiting ----

    pub const Side = enum { read, write };

    /// Waits until fd is readable (side .read) or writable (.write). A cancel aimed at the op on
    /// the other side of the same descriptor (hub.cancelFd wakes both) is waited through;
    /// closing, or a cancel of this side, ends the wait with error.Canceled.
    pub fn waitFor(stream: *Stream, op: *hub_module.Op, side: Side, fd: event.Fd) errors.Error!void {
        return stream.waitOn(op, side, fd, side == .read);
    }

    /// waitFor with the direction chosen apart from the side (connect waits for the resolver's
    /// signal to be readable, as the op on the write side).
    pub fn waitOn(stream: *Stream, op: *hub_module.Op, side: Side, fd: event.Fd, readable: bool) errors.Error!void {
        var attempt: u32 = 0;
        while (attempt < 64) : (attempt += 1) {
            const waited = if (readable) op.waitReadable(fd) else op.waitWritable(fd);
            waited catch |err| {
                if (err != error.Canceled) return err;
                if (stream.cancelMeantFor(op, side)) return error.Canceled;
                continue;
            };
            return;
        }
        return error.Canceled;
    }

    /// For an op started by `Hub.startWaiting`: what `waitFor` would have returned from the
    /// wait it began in (a cancel aimed at the other side is waited through here too).
    pub fn afterDeferredWait(stream: *Stream, op: *hub_module.Op, side: Side, fd: event.Fd) errors.Error!void {
        op.deferredWait() catch |err| {
            std.debug.assert(err == error.Canceled);
            if (stream.cancelMeantFor(op, side)) return error.Canceled;
            return stream.waitFor(op, side, fd);
        };
    }

    /// Whether a cancel that woke op was aimed at it (closing, the hub's, or this side's),
    /// rather than at the op on the other side of the same descriptor.
    fn cancelMeantFor(stream: *const Stream, op: *const hub_module.Op, side: Side) bool {
        if (stream.closed or op.canceled) return true;
        return switch (side) {
            .read => stream.cancel_read,
            .write => stream.cancel_write,
        };
    }

    /// Completes the op on one side (read: read/accept, write: drain/connect) with ECANCELED.
    pub fn cancel(stream: *Stream, hub: *hub_module.Hub, side: Side) void {
        const flag = switch (side) {
            .read => &stream.cancel_read,
            .write => &stream.cancel_write,
        };
        flag.* = true;
        defer flag.* = false;
        if (stream.aux_fd != sys.invalid_fd and side == .write) hub.cancelFd(stream.aux_fd) catch {};
        if (stream.fd != sys.invalid_fd) hub.cancelFd(stream.fd) catch {};
    }
};

/// What `searchDelimiter` found: where the first delimiter starts, or, when there is none,
/// where the next search of the same bytes (and more after them) must start.
pub const Search = union(enum) {
    found: usize,
    resume_at: usize,
};

/// Finds the first `delimiter` in `data` that starts at or after `from`. Each candidate is a
/// place where the delimiter's first byte is (found by a vectorized scan), checked for the rest
/// there; a miss resumes after it. When there is none, `resume_at` is the first candidate too
/// close to the end to hold the whole delimiter (one may straddle the end: the next search,
/// with more bytes, starts there), else `data.len`: no byte before it starts a delimiter, so
/// an incremental search never looks at a byte twice but for such a straddling tail.
pub fn searchDelimiter(data: []const u8, from: usize, delimiter: []const u8) Search {
    std.debug.assert(delimiter.len > 0 and from <= data.len);
    const first = delimiter[0];
    const last = delimiter[delimiter.len - 1];
    const middle = if (delimiter.len > 2) delimiter[1 .. delimiter.len - 1] else "";
    var position = from;
    while (std.mem.indexOfScalarPos(u8, data, position, first)) |candidate| {
        if (data.len - candidate < delimiter.len) return .{ .resume_at = candidate };
        // The last byte first: it rejects most candidates without a call (a header line's
        // "\r\nX" for "\r\n\r\n").
        const window = data[candidate..][0..delimiter.len];
        if (window[delimiter.len - 1] == last and std.mem.eql(u8, window[1..][0..middle.len], middle)) {
            return .{ .found = candidate };
        }
        position = candidate + 1;
    }
    return .{ .resume_at = data.len };
}

/// Reads until the request is answered; result = byte count to take, or -code.
pub const ReadOp = struct {
    pub const kind = kind_read;

    op: hub_module.Op,
    stream: *Stream,
    mode: ReadMode,
    arg: usize,

    pub fn run(self: *ReadOp) hub_module.Completion {
        const stream = self.stream;
        defer stream.opFinished(&stream.read_live);
        // startRead just found nothing: the op began in a wait for readability.
        stream.afterDeferredWait(&self.op, .read, stream.fd) catch |err| return .fail(err);
        var turn_bytes: usize = 0;
        while (true) {
            if (stream.closed or stream.cancel_read) return .fail(error.Canceled);
            if (stream.readOutcome(self.mode, self.arg)) |result| return .{ .result = result };
            if (turn_bytes >= turn_budget_bytes) {
                turn_bytes = 0;
                stream.waitFor(&self.op, .read, stream.fd) catch |err| return .fail(err);
                continue;
            }
            turn_bytes += stream.fill() catch |err| switch (err) {
                error.WouldBlock => {
                    turn_bytes = 0;
                    stream.waitFor(&self.op, .read, stream.fd) catch |wait_err| return .fail(wait_err);
                    continue;
                },
                else => {
                    stream.read_error = err;
                    continue;
                },
            };
        }
    }
};

/// Sends the write queue until it is empty; result = 0, or -code (kept as the write error).
pub const DrainOp = struct {
    pub const kind = kind_drain;

    op: hub_module.Op,
    stream: *Stream,

    pub fn run(self: *DrainOp) hub_module.Completion {
        const stream = self.stream;
        defer stream.opFinished(&stream.drain_live);
        var turn_bytes: usize = 0;
        while (true) {
            if (stream.closed or stream.cancel_write) return .fail(error.Canceled);
            if (stream.write_error) |err| return .fail(err);
            if (stream.queued() == 0) return .{ .result = 0 };
            if (turn_bytes >= turn_budget_bytes) {
                turn_bytes = 0;
                stream.waitFor(&self.op, .write, stream.fd) catch |err| return .fail(err);
                continue;
            }
            const sent = stream.sendSome(stream.write_queue[stream.write_start..stream.write_end]) catch |err| switch (err) {
                error.WouldBlock => {
                    turn_bytes = 0;
                    stream.waitFor(&self.op, .write, stream.fd) catch |wait_err| return .fail(wait_err);
                    continue;
                },
                else => {
                    stream.write_error = err;
                    stream.dequeue(stream.queued());
                    return .fail(err);
                },
            };
            stream.dequeue(sent);
            turn_bytes += sent;
        }
    }
};

// ---------------------------------------------------------------------------------------
// Tests: real socket pairs, real hub ops, records read from the ring.

const testing = std.testing;
const support = @import("../loop/test_support.zig");
const ring = @import("../loop/ring.zig");

fn drain(hub: *hub_module.Hub, out: []ring.Record) u32 {
    return support.drain(&hub.loop.ring, out);
}

/// Polls until a record arrives (at most ~2 s).
fn awaitRecord(hub: *hub_module.Hub) !ring.Record {
    var out: [1]ring.Record = undefined;
    var rounds: u32 = 0;
    while (rounds < 200) : (rounds += 1) {
        _ = try hub.poll(10);
        if (drain(hub, &out) == 1) return out[0];
    }
    return error.TimedOut;
}

const Fixture = struct {
    hub: *hub_module.Hub,
    stream: *Stream,
    peer: event.Fd,

    fn init(read_max: usize) !Fixture {
        const hub = try hub_module.Hub.create(testing.allocator, .{});
        errdefer hub.destroy();
        const fds = try support.socketPair();
        errdefer support.close(fds[1]);
        const stream = Stream.create(testing.allocator, 0, fds[0], .socket, read_max) catch |err| {
            support.close(fds[0]);
            return err;
        };
        return .{ .hub = hub, .stream = stream, .peer = fds[1] };
    }

    fn deinit(fixture: *Fixture) void {
        if (!fixture.stream.closed) fixture.stream.close(fixture.hub);
        support.close(fixture.peer);
        fixture.hub.destroy();
    }
};

fn takeText(stream: *Stream, n: usize, out: []u8) ![]u8 {
    try stream.take(out, n);
    return out[0..n];
}

test "a read answered from data already there completes without an op" {
    var fixture = try Fixture.init(1024);
    defer fixture.deinit();
    const stream = fixture.stream;
    _ = try support.write(fixture.peer, "hello\nworld");
    try stream.setDelimiter("\n");
    var out: [32]u8 = undefined;
    const n = stream.readNow(.until, 0);
    try testing.expectEqual(@as(i32, 6), n);
    try testing.expectEqualStrings("hello\n", try takeText(stream, 6, &out));
    try testing.expectEqual(errors.negative(error.WouldBlock), stream.readNow(.until, 0));
    try testing.expectEqual(@as(i32, 5), stream.readNow(.exact, 5));
    try testing.expectEqual(@as(u32, 0), fixture.hub.opsLive());
}

test "readInto skips the direct read while the last ones found nothing, then probes again" {
    var fixture = try Fixture.init(1024);
    defer fixture.deinit();
    const stream = fixture.stream;
    const would_block = errors.negative(error.WouldBlock);
    var out: [16]u8 = undefined;
    // Two reads that find nothing (a peer that answers requests): the next call is skipped.
    try testing.expectEqual(would_block, stream.readInto(&out));
    try testing.expectEqual(would_block, stream.readInto(&out));
    _ = try support.write(fixture.peer, "x");
    support.sleepMs(5);
    try testing.expectEqual(would_block, stream.readInto(&out));
    // The probe after it reads, and a read that finds data makes every call read again.
    try testing.expectEqual(@as(i32, 1), stream.readInto(&out));
    _ = try support.write(fixture.peer, "yz");
    support.sleepMs(5);
    try testing.expectEqual(@as(i32, 2), stream.readInto(&out));
    try testing.expectEqualStrings("yz", out[0..2]);
}

/// readNow after the peer wrote: retries while the bytes are on their way (and past the
/// direct reads skipped after one that found nothing).
fn readNowSoon(stream: *Stream, mode: ReadMode, arg: usize) i32 {
    var result = stream.readNow(mode, arg);
    var rounds: u32 = 0;
    while (result == errors.negative(error.WouldBlock) and rounds < 100) : (rounds += 1) {
        support.sleepMs(1);
        stream.read_expect_empty = false;
        result = stream.readNow(mode, arg);
    }
    return result;
}

test "the delimiter search never scans a byte twice, also after a take" {
    var fixture = try Fixture.init(1024);
    defer fixture.deinit();
    const stream = fixture.stream;
    try stream.setDelimiter("\r\n");
    _ = try support.write(fixture.peer, "0123");
    try testing.expectEqual(errors.negative(error.WouldBlock), stream.readNow(.until, 0));
    // No byte can begin the delimiter: all are searched.
    try testing.expectEqual(@as(u32, 4), stream.window.scan - stream.window.start);
    _ = try support.write(fixture.peer, "45678\r");
    try testing.expectEqual(errors.negative(error.WouldBlock), readNowSoon(stream, .until, 0));
    try testing.expectEqual(@as(usize, 10), stream.buffered());
    // The last byte may begin a delimiter that the next bytes complete.
    try testing.expectEqual(@as(u32, 9), stream.window.scan - stream.window.start);
    try stream.take(null, 4);
    try testing.expectEqual(@as(u32, 5), stream.window.scan - stream.window.start);
    _ = try support.write(fixture.peer, "\nrest");
    try testing.expectEqual(@as(i32, 7), readNowSoon(stream, .until, 0));
}

test "a four-byte delimiter split over two fills is found, searched from where it may begin" {
    var fixture = try Fixture.init(1024);
    defer fixture.deinit();
    const stream = fixture.stream;
    try stream.setDelimiter("\r\n\r\n");
    _ = try support.write(fixture.peer, "GET / HTTP/1.1\r\nHost: x\r\n\r");
    try testing.expectEqual(errors.negative(error.WouldBlock), readNowSoon(stream, .until, 0));
    // "\r\n\r" at the end may begin the delimiter: the search resumes at its first byte.
    try testing.expectEqual(@as(u32, 23), stream.window.scan - stream.window.start);
    _ = try support.write(fixture.peer, "\nbody");
    try testing.expectEqual(@as(i32, 27), readNowSoon(stream, .until, 0));
    var out: [32]u8 = undefined;
    try testing.expectEqualStrings("GET / HTTP/1.1\r\nHost: x\r\n\r\n", try takeText(stream, 27, &out));
}

/// searchDelimiter's answer as a test compares it.
fn expectSearch(expected: Search, data: []const u8, from: usize, delimiter: []const u8) !void {
    try testing.expectEqual(expected, searchDelimiter(data, from, delimiter));
}

test "searchDelimiter finds a delimiter at the start, at the end, and after repeated first bytes" {
    try expectSearch(.{ .found = 0 }, "\r\n\r\nGET", 0, "\r\n\r\n");
    try expectSearch(.{ .found = 14 }, "GET / HTTP/1.1\r\n\r\n", 0, "\r\n\r\n");
    try expectSearch(.{ .found = 1 }, "\r\r\n\r\n", 0, "\r\n\r\n");
    try expectSearch(.{ .found = 2 }, "\r\r\r\n\r\n", 0, "\r\n\r\n");
    try expectSearch(.{ .found = 3 }, "\r\n\r\r\n\r\n", 0, "\r\n\r\n");
    try expectSearch(.{ .found = 4 }, "aaaaaaab", 0, "aaab");
    // Only from `from` on.
    try expectSearch(.{ .found = 6 }, "\r\n\r\nab\r\n\r\n", 1, "\r\n\r\n");
    try expectSearch(.{ .resume_at = 8 }, "\r\n\r\nab\r\n\r\n", 7, "\r\n\r\n");
}

test "searchDelimiter resumes at the first byte that may begin a straddling delimiter" {
    try expectSearch(.{ .resume_at = 8 }, "abcdefgh", 0, "\r\n\r\n");
    try expectSearch(.{ .resume_at = 7 }, "abcdefg\r", 0, "\r\n\r\n");
    try expectSearch(.{ .resume_at = 6 }, "abcdef\r\n", 0, "\r\n\r\n");
    try expectSearch(.{ .resume_at = 5 }, "abcde\r\n\r", 0, "\r\n\r\n");
    // A candidate in the tail that cannot begin the delimiter still bounds the resumption:
    // only the first byte is checked there.
    try expectSearch(.{ .resume_at = 5 }, "abcde\rxy", 0, "\r\n\r\n");
    try expectSearch(.{ .resume_at = 0 }, "\r\n\r", 0, "\r\n\r\n");
    try expectSearch(.{ .resume_at = 0 }, "", 0, "\r\n");
    try expectSearch(.{ .resume_at = 3 }, "abc", 3, "\r\n");
}

test "searchDelimiter with one- and two-byte delimiters" {
    try expectSearch(.{ .found = 0 }, "\nabc", 0, "\n");
    try expectSearch(.{ .found = 3 }, "abc\n", 0, "\n");
    try expectSearch(.{ .found = 4 }, "\nabc\n\n", 1, "\n");
    try expectSearch(.{ .resume_at = 4 }, "abcd", 0, "\n");
    try expectSearch(.{ .found = 0 }, "\r\nabc", 0, "\r\n");
    try expectSearch(.{ .found = 4 }, "a\r\rb\r\n", 0, "\r\n");
    try expectSearch(.{ .found = 1 }, "\r\r\n", 0, "\r\n");
    try expectSearch(.{ .resume_at = 3 }, "abc\r", 0, "\r\n");
    try expectSearch(.{ .resume_at = 5 }, "a\rb\rc", 0, "\r\n");
}

test "searchDelimiter over long haystacks with many near misses" {
    const size = 256 * 1024;
    const data = try testing.allocator.alloc(u8, size);
    defer testing.allocator.free(data);
    // Header-like lines: each "\r\n" is a candidate for "\r\n\r\n" that fails.
    for (data, 0..) |*byte, i| byte.* = switch (i % 37) {
        35 => '\r',
        36 => '\n',
        else => 'a' + @as(u8, @intCast(i % 26)),
    };
    @memcpy(data[size - 3 ..], "zzz");
    try expectSearch(.{ .resume_at = size }, data, 0, "\r\n\r\n");
    try expectSearch(.{ .resume_at = size }, data, 0, "\r\n\r");
    const at = size - 1000;
    @memcpy(data[at..][0..4], "\r\n\r\n");
    try expectSearch(.{ .found = at }, data, 0, "\r\n\r\n");
    try expectSearch(.{ .found = at }, data, 12345, "\r\n\r\n");
    try expectSearch(.{ .resume_at = size }, data, at + 1, "\r\n\r\n\r");
    // A long delimiter (a multipart boundary) near the end, with prefixes of it before.
    const boundary = "\r\n--boundary-7d9a3f0c2b1e4a5f8c6d0e9b2a7f1c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d";
    var offset: usize = 0;
    while (offset + boundary.len < at) : (offset += 4099) {
        @memcpy(data[offset..][0 .. boundary.len - 1], boundary[0 .. boundary.len - 1]);
        data[offset + boundary.len - 1] = 'X';
    }
    // It resumes at the first carriage return that may begin a straddling boundary.
    const tail = std.mem.indexOfScalarPos(u8, data, size - (boundary.len - 1), '\r').?;
    try expectSearch(.{ .resume_at = tail }, data, 0, boundary);
    @memcpy(data[size - boundary.len - 7 ..][0..boundary.len], boundary);
    try expectSearch(.{ .found = size - boundary.len - 7 }, data, 0, boundary);
}

test "searchDelimiter fed in pieces finds what one search of everything finds, scanning once" {
    var prng = std.Random.DefaultPrng.init(0xde11);
    const random = prng.random();
    const alphabet = "\r\na";
    var data: [300]u8 = undefined;
    var delimiter: [6]u8 = undefined;
    for (0..2000) |_| {
        const data_len = random.uintAtMost(usize, data.len);
        for (data[0..data_len]) |*byte| byte.* = alphabet[random.uintLessThan(usize, alphabet.len)];
        const delimiter_len = random.intRangeAtMost(usize, 1, delimiter.len);
        for (delimiter[0..delimiter_len]) |*byte| byte.* = alphabet[random.uintLessThan(usize, alphabet.len)];
        const needle = delimiter[0..delimiter_len];
        const expected = std.mem.indexOf(u8, data[0..data_len], needle);
        // Bytes arrive in random pieces; each search starts where the last one said.
        var end: usize = 0;
        var from: usize = 0;
        var found: ?usize = null;
        while (end < data_len and found == null) {
            end += random.intRangeAtMost(usize, 1, @min(8, data_len - end));
            switch (searchDelimiter(data[0..end], from, needle)) {
                .found => |index| found = index,
                .resume_at => |index| {
                    // Never back before where it started, and only a straddling tail is left.
                    try testing.expect(index >= from and index <= end);
                    try testing.expect(index == end or end - index < needle.len);
                    if (expected) |position| try testing.expect(index <= position);
                    from = index;
                },
            }
        }
        try testing.expectEqual(expected, found);
    }
}

test "a read op waits for the delimiter across several sends" {
    var fixture = try Fixture.init(1024);
    defer fixture.deinit();
    const stream = fixture.stream;
    try stream.setDelimiter("\r\n");
    try testing.expectEqual(errors.negative(error.WouldBlock), stream.readNow(.until, 0));
    try testing.expectEqual(errors.negative(error.InProgress), stream.startRead(fixture.hub, .until, 0, 9));
    _ = try support.write(fixture.peer, "abc\r");
    _ = try fixture.hub.poll(100);
    try testing.expectEqual(@as(u32, 1), fixture.hub.opsLive());
    _ = try support.write(fixture.peer, "\nrest");
    const record = try awaitRecord(fixture.hub);
    try testing.expectEqual(@as(u32, 9), record.token);
    try testing.expectEqual(kind_read, record.kind);
    try testing.expectEqual(@as(i32, 5), record.result);
    var out: [8]u8 = undefined;
    try testing.expectEqualStrings("abc\r\n", try takeText(stream, 5, &out));
    try testing.expectEqual(@as(usize, 4), stream.buffered());
}

test "read ops that wait allocate nothing once the first has run" {
    var counting: std.testing.FailingAllocator = .init(testing.allocator, .{});
    const gpa = counting.allocator();
    const hub = try hub_module.Hub.create(gpa, .{});
    defer hub.destroy();
    const fds = try support.socketPair();
    defer support.close(fds[1]);
    const stream = Stream.create(gpa, 0, fds[0], .socket, 1024) catch |err| {
        support.close(fds[0]);
        return err;
    };
    defer stream.close(hub);
    try stream.setDelimiter("\r\n\r\n");
    const head = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for (0..20) |round| {
        const allocations = counting.allocations;
        const deallocations = counting.deallocations;
        try testing.expectEqual(errors.negative(error.InProgress), stream.startRead(hub, .until, 0, @intCast(round)));
        _ = try support.write(fds[1], head);
        const record = try awaitRecord(hub);
        try testing.expectEqual(@as(i32, head.len), record.result);
        try stream.take(null, head.len);
        if (round == 0) continue;
        try testing.expectEqual(allocations, counting.allocations);
        try testing.expectEqual(deallocations, counting.deallocations);
    }
}

test "reads up to alternating short delimiters allocate nothing; a long one is copied" {
    var counting: std.testing.FailingAllocator = .init(testing.allocator, .{});
    var fixture = try Fixture.init(1024);
    defer fixture.deinit();
    const stream = fixture.stream;
    stream.gpa = counting.allocator();
    _ = try support.write(fixture.peer, "HEAD\r\n\r\n5\r\nhello\r\n");
    try stream.setDelimiter("\r\n\r\n");
    try testing.expectEqual(@as(i32, 8), readNowSoon(stream, .until, 0));
    // The read buffer is made; nothing after it allocates.
    const allocations = counting.allocations;
    for (0..10) |_| {
        try stream.setDelimiter("\r\n");
        try stream.setDelimiter("\r\n\r\n");
    }
    try testing.expectEqual(@as(i32, 8), stream.readNow(.until, 0));
    try stream.take(null, 8);
    try stream.setDelimiter("\r\n");
    try testing.expectEqual(@as(i32, 3), stream.readNow(.until, 0));
    try stream.take(null, 3);
    try testing.expectEqual(@as(i32, 7), stream.readNow(.until, 0));
    try stream.take(null, 7);
    try testing.expectEqual(allocations, counting.allocations);
    // Longer than the stream keeps inline: a copy, freed when replaced (and the search works
    // the same).
    const long = "\r\n--0123456789abcdef0123456789abcdef\r\n";
    const deallocations = counting.deallocations;
    try stream.setDelimiter(long);
    try testing.expectEqual(allocations + 1, counting.allocations);
    try stream.setDelimiter("\r\n");
    try testing.expectEqual(deallocations + 1, counting.deallocations);
    try stream.setDelimiter(long);
    try testing.expectEqual(errors.negative(error.WouldBlock), stream.readNow(.until, 0));
    _ = try support.write(fixture.peer, long);
    try testing.expectEqual(@as(i32, long.len), readNowSoon(stream, .until, 0));
    try testing.expectEqual(allocations + 2, counting.allocations);
    try testing.expectEqual(deallocations + 1, counting.deallocations);
}

test "a buffer as long as read_max makes room by moving its bytes, not by a new buffer" {
    var counting: std.testing.FailingAllocator = .init(testing.allocator, .{});
    var fixture = try Fixture.init(1024);
    defer fixture.deinit();
    const stream = fixture.stream;
    stream.gpa = counting.allocator();
    var bytes: [1000]u8 = undefined;
    for (&bytes, 0..) |*byte, i| byte.* = @truncate(i);
    _ = try support.write(fixture.peer, &bytes);
    try testing.expectEqual(@as(i32, 1000), readNowSoon(stream, .exact, 1000));
    try testing.expectEqual(@as(usize, 1024), stream.read_buffer.len);
    const generation = stream.window.generation;
    const allocations = counting.allocations;
    // 900 bytes from offset 100: the next read wants more room than the 24 bytes at the end.
    try stream.take(null, 100);
    _ = try support.write(fixture.peer, bytes[0..100]);
    try testing.expectEqual(@as(i32, 1000), readNowSoon(stream, .exact, 1000));
    try testing.expectEqual(allocations, counting.allocations);
    try testing.expectEqual(generation, stream.window.generation);
    try testing.expectEqual(@as(u32, 0), stream.window.start);
    var out: [1000]u8 = undefined;
    try stream.take(&out, 1000);
    try testing.expectEqualSlices(u8, bytes[100..], out[0..900]);
    try testing.expectEqualSlices(u8, bytes[0..100], out[900..]);
}

test "end of stream returns what is left, then zero forever" {
    var fixture = try Fixture.init(1024);
    defer fixture.deinit();
    const stream = fixture.stream;
    try testing.expectEqual(errors.negative(error.InProgress), stream.startRead(fixture.hub, .exact, 10, 1));
    _ = try support.write(fixture.peer, "abc");
    support.close(fixture.peer);
    fixture.peer = (try support.socketPair())[0];
    const record = try awaitRecord(fixture.hub);
    try testing.expectEqual(@as(i32, 3), record.result);
    try stream.take(null, 3);
    try testing.expectEqual(@as(i32, 0), stream.readNow(.exact, 10));
    try testing.expectEqual(@as(i32, 0), stream.readNow(.more, 0));
}

test "a full buffer without the delimiter is ENOBUFS" {
    var fixture = try Fixture.init(64);
    defer fixture.deinit();
    const stream = fixture.stream;
    try stream.setDelimiter("\n");
    const filler: [100]u8 = @splat('x');
    _ = try support.write(fixture.peer, &filler);
    var rounds: u32 = 0;
    var result = stream.readNow(.until, 0);
    while (result == errors.negative(error.WouldBlock) and rounds < 100) : (rounds += 1) {
        support.sleepMs(1);
        result = stream.readNow(.until, 0);
    }
    try testing.expectEqual(errors.negative(error.NoBufferSpace), result);
    try testing.expectEqual(errors.negative(error.NoBufferSpace), stream.readNow(.exact, 65));
}

test "writes that do not fit are queued and drained by an op, in order" {
    var fixture = try Fixture.init(1024);
    defer fixture.deinit();
    const stream = fixture.stream;
    const size = 4 * 1024 * 1024;
    const payload = try testing.allocator.alloc(u8, size);
    defer testing.allocator.free(payload);
    for (payload, 0..) |*byte, i| byte.* = @truncate(i *% 7);
    try testing.expectEqual(@as(i32, 2), stream.write(payload));
    try testing.expect(stream.queued() > 0);
    try testing.expectEqual(@as(i32, 2), stream.write("tail"));
    try testing.expectEqual(errors.negative(error.InProgress), stream.startDrain(fixture.hub, 3));
    // Queued behind the running drain, unless its first send already took the whole queue (the
    // kernel's buffers grow on their own; under wine they took all 4 MiB at times): then it goes
    // out at once, after "tail" either way.
    const expected: i32 = if (stream.queued() > 0) 0 else 1;
    try testing.expectEqual(expected, stream.write("!"));
    var received = try testing.allocator.alloc(u8, size + 5);
    defer testing.allocator.free(received);
    var got: usize = 0;
    var out: [1]ring.Record = undefined;
    var done = false;
    var rounds: u32 = 0;
    while ((got < received.len or !done) and rounds < 100_000) : (rounds += 1) {
        _ = try fixture.hub.poll(0);
        if (drain(fixture.hub, &out) == 1) {
            try testing.expectEqual(@as(i32, 0), out[0].result);
            try testing.expectEqual(kind_drain, out[0].kind);
            done = true;
        }
        got += support.read(fixture.peer, received[got..]) catch |err| switch (err) {
            error.WouldBlock => 0,
            else => return err,
        };
    }
    try testing.expect(done);
    try testing.expectEqualSlices(u8, payload, received[0..size]);
    try testing.expectEqualStrings("tail!", received[size..]);
    try testing.expectEqual(@as(usize, 0), stream.queued());
}

test "a write to a peer that is gone fails once, then reports its error" {
    var fixture = try Fixture.init(1024);
    defer fixture.deinit();
    const stream = fixture.stream;
    support.close(fixture.peer);
    fixture.peer = (try support.socketPair())[0];
    const first = stream.write("x");
    try testing.expect(first == 3 or first == 1);
    var result = stream.write("y");
    var rounds: u32 = 0;
    while (result >= 0 and rounds < 100) : (rounds += 1) {
        support.sleepMs(1);
        result = stream.write("y");
    }
    // A Unix socket pair says EPIPE; Windows' loopback TCP pair says the peer reset.
    try testing.expect(result == errors.negative(error.BrokenPipe) or result == errors.negative(error.ConnectionReset));
}

test "closing a stream completes its blocked read with ECANCELED and frees it after" {
    var fixture = try Fixture.init(1024);
    defer fixture.deinit();
    const stream = fixture.stream;
    try testing.expectEqual(errors.negative(error.InProgress), stream.startRead(fixture.hub, .exact, 4, 5));
    stream.close(fixture.hub);
    var out: [2]ring.Record = undefined;
    try testing.expectEqual(@as(u32, 1), drain(fixture.hub, &out));
    try testing.expectEqual(errors.negative(error.Canceled), out[0].result);
    try testing.expectEqual(@as(u32, 0), fixture.hub.opsLive());
}

test "canceling the read leaves a running drain alone" {
    var fixture = try Fixture.init(1024);
    defer fixture.deinit();
    const stream = fixture.stream;
    const big = try testing.allocator.alloc(u8, 8 * 1024 * 1024);
    defer testing.allocator.free(big);
    @memset(big, 'z');
    try testing.expectEqual(@as(i32, 2), stream.write(big));
    try testing.expectEqual(errors.negative(error.InProgress), stream.startDrain(fixture.hub, 1));
    try testing.expectEqual(errors.negative(error.InProgress), stream.startRead(fixture.hub, .exact, 1, 2));
    try testing.expectEqual(@as(u32, 2), fixture.hub.opsLive());
    stream.cancel(fixture.hub, .read);
    var out: [2]ring.Record = undefined;
    try testing.expectEqual(@as(u32, 1), drain(fixture.hub, &out));
    try testing.expectEqual(@as(u32, 2), out[0].token);
    try testing.expectEqual(errors.negative(error.Canceled), out[0].result);
    try testing.expectEqual(@as(u32, 1), fixture.hub.opsLive());
    try testing.expect(stream.drain_live);
}
