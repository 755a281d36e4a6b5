//! Pipe addresses, inherited descriptors and the Windows handle bridge. On Linux and macOS (and
//! on Windows for file-system paths) a pipe is a Unix domain socket, connected and served by
//! socket.zig like TCP. The Windows loop polls sockets only (WSAPoll), so a named pipe, an
//! inherited pipe handle or a console (tty.zig) is bridged to a loopback TCP connection that
//! the loop does poll: two threads copy bytes between the handle and the bridge's far socket.

const std = @import("std");
const builtin = @import("builtin");
const assert = std.debug.assert;
const errors = @import("../loop/errors.zig");
const sys = @import("sys.zig");
const stream_module = @import("stream.zig");

const Error = errors.Error;
const Stream = stream_module.Stream;
const is_windows = builtin.os.tag == .windows;
const k32 = sys.windows.kernel32;
const invalid_handle = sys.windows.invalid_handle;

/// The socket address of a pipe path (at most sys.unix_path_max bytes, no zero byte).
pub fn address(path: []const u8) Error!sys.Address {
    if (isNamedPipe(path)) return error.InvalidArgument;
    return sys.Address.unix(path);
}

/// `\\.\pipe\name`: the Windows named-pipe namespace (a plain path on other systems).
pub fn isNamedPipe(path: []const u8) bool {
    if (!is_windows) return false;
    return std.ascii.startsWithIgnoreCase(path, "\\\\.\\pipe\\") or std.ascii.startsWithIgnoreCase(path, "//./pipe/");
}

/// A stream over an inherited descriptor, which it owns from now on (on failure it stays the
/// caller's). POSIX: the descriptor itself, made nonblocking. Windows: `number` is a HANDLE
/// (sys.windows.handleOf: 0, 1, 2 are the standard handles); a socket is used as it is, any
/// other handle (a pipe end, a file) is bridged and closed when the bridge ends.
pub fn open(gpa: std.mem.Allocator, loop_handle: u32, number: i32, read_max: usize) Error!*Stream {
    if (number < 0) return error.BadDescriptor;
    if (is_windows) return openHandle(gpa, loop_handle, try sys.windows.handleOf(number), read_max);
    const fd: sys.Fd = number;
    try sys.setNonBlocking(fd);
    const kind: stream_module.Io = if (sys.isSocket(fd)) .socket else .file;
    if (kind == .file) sys.suppressSigpipe(fd);
    return Stream.create(gpa, loop_handle, fd, kind, read_max);
}

fn openHandle(gpa: std.mem.Allocator, loop_handle: u32, handle: usize, read_max: usize) Error!*Stream {
    assert(is_windows and handle != invalid_handle);
    if (sys.windows.isSocketHandle(handle)) {
        try sys.setNonBlocking(handle);
        return Stream.create(gpa, loop_handle, handle, .socket, read_max);
    }
    const pair = try bridge.socketPair();
    errdefer sys.close(pair[1]);
    const stream = try bridge.streamOver(gpa, loop_handle, pair[0], read_max);
    // The stream exists before the bridge takes the handle, so that no failure closes it.
    errdefer stream.close(null);
    try bridge.start(gpa, .{ .read = handle, .write = handle }, pair[1]);
    return stream;
}

/// Windows handles the loop cannot poll, each bridged to the far end of a loopback socket pair
/// whose near end becomes a stream. Every function exists on every OS so that callers need no
/// conditional code; elsewhere they are ENOSYS.
pub const bridge = struct {
    const buffer_size = 64 * 1024;
    const thread_stack_size = 256 * 1024;
    /// How long (in 1 ms rounds) the writing side keeps canceling a read before it lets the
    /// reading side end on its own (at its next input).
    const cancel_rounds_max = 5000;
    const sd_send: i32 = 1;

    /// Bridges and named-pipe servers whose threads have not ended yet (tests wait for zero).
    pub var threads_live = std.atomic.Value(u32).init(0);

    /// The handles a bridge copies between; it owns them and closes them as it ends.
    pub const Ends = struct {
        /// Read into the socket until it ends; null: the stream reads end of stream at once.
        read: ?usize,
        /// Written with what the socket receives (may be `read`).
        write: usize,
        /// `read` is console input: wait until it has input before each ReadFile, so that a
        /// read starts in the mode in force then (raw or line) and stopping needs no cancel.
        console_input: bool = false,
    };

    /// The reading thread copies `read` into the socket, the writing thread the socket into
    /// `write`; both wait at `gate` until both exist. The second to end closes everything.
    const Bridge = struct {
        gpa: std.mem.Allocator,
        ends: Ends,
        socket: sys.Fd,
        gate: usize,
        /// Set as the writing side ends: wakes a reader waiting for console input.
        stop: usize,
        abandoned: std.atomic.Value(bool) = .init(false),
        stopping: std.atomic.Value(bool) = .init(false),
        reading: std.atomic.Value(bool) = .init(true),
        refs: std.atomic.Value(u32) = .init(2),

        fn admitted(self: *Bridge) bool {
            _ = k32.WaitForSingleObject(self.gate, sys.windows.infinite);
            return !self.abandoned.load(.acquire);
        }

        fn readingThread(self: *Bridge) void {
            if (!self.admitted()) return;
            if (self.ends.read) |handle| self.copyToSocket(handle);
            // End of input is end of stream; writing goes on (the write end of a pipe, say).
            _ = sys.windows.shutdown(self.socket, sd_send);
            self.reading.store(false, .release);
            self.release();
        }

        fn copyToSocket(self: *Bridge, handle: usize) void {
            var buffer: [buffer_size]u8 = undefined;
            var rounds: u64 = 0;
            while (rounds < std.math.maxInt(u64)) : (rounds += 1) {
                if (self.stopping.load(.acquire)) return;
                if (self.ends.console_input and !self.inputWaiting(handle)) return;
                var count: u32 = 0;
                // Zero bytes: the end of a pipe, or Ctrl+Z on a console.
                if (k32.ReadFile(handle, &buffer, buffer.len, &count, null) == 0 or count == 0) return;
                if (!sendAll(self.socket, buffer[0..count])) return;
            }
        }

        /// Waits until the console has input (true) or the bridge stops (false).
        fn inputWaiting(self: *Bridge, handle: usize) bool {
            const objects = [2]usize{ handle, self.stop };
            return k32.WaitForMultipleObjects(objects.len, &objects, 0, sys.windows.infinite) == sys.windows.wait_object_0;
        }

        fn writingThread(self: *Bridge) void {
            if (!self.admitted()) return;
            self.copyFromSocket();
            self.stopReading();
            self.release();
        }

        fn copyFromSocket(self: *Bridge) void {
            var buffer: [buffer_size]u8 = undefined;
            var rounds: u64 = 0;
            while (rounds < std.math.maxInt(u64)) : (rounds += 1) {
                const rc = sys.windows.recv(self.socket, &buffer, buffer.len, 0);
                if (rc <= 0) return;
                if (!writeAll(self.ends.write, buffer[0..@intCast(rc)])) return;
            }
        }

        /// A handle has no half-close: once the stream stops writing (or closes), reading ends
        /// too. CancelIoEx reaches only a ReadFile already under way, so it is repeated until
        /// the reader has seen `stopping`.
        fn stopReading(self: *Bridge) void {
            self.stopping.store(true, .release);
            _ = k32.SetEvent(self.stop);
            const handle = self.ends.read orelse return;
            var rounds: u32 = 0;
            while (self.reading.load(.acquire) and rounds < cancel_rounds_max) : (rounds += 1) {
                _ = k32.CancelIoEx(handle, null);
                k32.Sleep(1);
            }
        }

        fn release(self: *Bridge) void {
            if (self.refs.fetchSub(1, .acq_rel) != 1) return;
            if (self.ends.read) |handle| {
                if (handle != self.ends.write) _ = k32.CloseHandle(handle);
            }
            _ = k32.CloseHandle(self.ends.write);
            sys.close(self.socket);
            self.destroy();
            _ = threads_live.fetchSub(1, .acq_rel);
        }

        fn destroy(self: *Bridge) void {
            _ = k32.CloseHandle(self.gate);
            _ = k32.CloseHandle(self.stop);
            self.gpa.destroy(self);
        }
    };

    /// Starts copying between ends and socket (the far end of `socketPair`). On success the
    /// bridge owns the handles and the socket; on failure they stay the caller's.
    pub fn start(gpa: std.mem.Allocator, ends: Ends, socket: sys.Fd) Error!void {
        if (!is_windows) return error.Unsupported;
        assert(socket != sys.invalid_fd);
        assert(ends.write != 0 and ends.write != invalid_handle);
        assert(ends.read == null or ends.read.? != invalid_handle);
        const gate = k32.CreateEventW(null, 1, 0, null);
        if (gate == 0) return sys.windows.systemError();
        const stop = k32.CreateEventW(null, 1, 0, null);
        if (stop == 0) {
            _ = k32.CloseHandle(gate);
            return sys.windows.systemError();
        }
        const self = gpa.create(Bridge) catch {
            _ = k32.CloseHandle(gate);
            _ = k32.CloseHandle(stop);
            return error.OutOfMemory;
        };
        self.* = .{ .gpa = gpa, .ends = ends, .socket = socket, .gate = gate, .stop = stop };
        const config: std.Thread.SpawnConfig = .{ .stack_size = thread_stack_size };
        const writer = std.Thread.spawn(config, Bridge.writingThread, .{self}) catch {
            self.destroy();
            return error.OutOfMemory;
        };
        const reader = std.Thread.spawn(config, Bridge.readingThread, .{self}) catch {
            // The writer has touched nothing yet: let it go and undo everything.
            self.abandoned.store(true, .release);
            assert(k32.SetEvent(gate) != 0);
            writer.join();
            self.destroy();
            return error.OutOfMemory;
        };
        _ = threads_live.fetchAdd(1, .acq_rel);
        writer.detach();
        reader.detach();
        assert(k32.SetEvent(gate) != 0);
    }

    /// A stream over the near end of a pair; on failure the caller still owns `near`.
    pub fn streamOver(gpa: std.mem.Allocator, loop_handle: u32, near: sys.Fd, read_max: usize) Error!*Stream {
        errdefer sys.close(near);
        return Stream.create(gpa, loop_handle, near, .socket, read_max);
    }

    /// A nonblocking near end and a blocking far end of a loopback TCP connection.
    pub fn socketPair() Error![2]sys.Fd {
        if (!is_windows) return error.Unsupported;
        const listener = try sys.openSocket(sys.af_inet, .stream);
        defer sys.close(listener);
        var bound = sys.Address.ip4(.{ 127, 0, 0, 1 }, 0);
        try sys.bind(listener, &bound);
        try sys.listen(listener, 1);
        bound = try sys.localAddress(listener);
        const near = try sys.openSocket(sys.af_inet, .stream);
        errdefer sys.close(near);
        _ = try sys.connect(near, &bound);
        var attempt: u32 = 0;
        const far = while (attempt < 1000) : (attempt += 1) {
            break sys.accept(listener) catch |err| switch (err) {
                error.WouldBlock => {
                    std.Thread.yield() catch {};
                    continue;
                },
                else => return err,
            };
        } else return error.TimedOut;
        errdefer sys.close(far);
        var blocking: u32 = 0;
        if (sys.windows.ioctlsocket(far, sys.windows.fionbio, &blocking) != 0) return sys.windows.wsaError();
        try sys.setNoDelay(near);
        return .{ near, far };
    }

    fn sendAll(socket: sys.Fd, bytes: []const u8) bool {
        var sent: usize = 0;
        while (sent < bytes.len) {
            const rc = sys.windows.send(socket, bytes[sent..].ptr, @intCast(bytes.len - sent), 0);
            if (rc <= 0) return false;
            sent += @intCast(rc);
        }
        return true;
    }

    fn writeAll(handle: usize, bytes: []const u8) bool {
        var written_total: usize = 0;
        while (written_total < bytes.len) {
            var written: u32 = 0;
            if (k32.WriteFile(handle, bytes[written_total..].ptr, @intCast(bytes.len - written_total), &written, null) == 0) return false;
            if (written == 0) return false;
            written_total += written;
        }
        return true;
    }
};

/// Windows named pipes through loopback bridges (ENOSYS elsewhere).
pub const named = struct {
    const name_max = 256;
    const pipe_buffer_size = 64 * 1024;
    const thread_stack_size = 256 * 1024;
    const pipe_access_duplex: u32 = 0x3;
    const pipe_unlimited_instances: u32 = 255;
    const error_pipe_connected: u32 = 535;
    const error_pipe_busy: u32 = 231;
    /// A connect finding every instance taken waits at most this many times this long, on the
    /// calling thread, before it reports EBUSY.
    const busy_attempts_max: u32 = 5;
    const busy_wait_ms: u32 = 20;

    fn wideName(path: []const u8, out: *[name_max + 1]u16) Error![*:0]const u16 {
        if (path.len == 0 or path.len > name_max) return error.InvalidArgument;
        for (path, 0..) |byte, i| {
            if (byte == 0 or byte > 0x7f) return error.InvalidArgument;
            out[i] = byte;
        }
        out[path.len] = 0;
        return @ptrCast(out);
    }

    /// Opens the named pipe at path as a client and returns the near socket of its bridge
    /// (EBUSY while every instance of the pipe is taken, ENOENT when there is none).
    pub fn connect(gpa: std.mem.Allocator, path: []const u8) Error!sys.Fd {
        if (!is_windows) return error.Unsupported;
        var name: [name_max + 1]u16 = undefined;
        const wide = try wideName(path, &name);
        const pipe = open: {
            var attempt: u32 = 0;
            while (attempt < busy_attempts_max) : (attempt += 1) {
                const handle = k32.CreateFileW(wide, sys.windows.generic_read_write, 0, null, sys.windows.open_existing, 0, null);
                if (handle != invalid_handle) break :open handle;
                if (k32.GetLastError() != error_pipe_busy) return sys.windows.systemError();
                // Every instance is taken for now: the server thread makes the next one as
                // soon as it hands one out, so wait briefly for it (as libuv does, bounded).
                _ = k32.WaitNamedPipeW(wide, busy_wait_ms);
            }
            return error.Busy;
        };
        errdefer _ = k32.CloseHandle(pipe);
        const pair = try bridge.socketPair();
        errdefer sys.close(pair[1]);
        errdefer sys.close(pair[0]);
        try bridge.start(gpa, .{ .read = pipe, .write = pipe }, pair[1]);
        return pair[0];
    }

    /// A server on a named pipe: a thread creates pipe instances and, as each client comes,
    /// bridges it to a loopback connection into `port`, which the server's listener accepts.
    pub const Server = struct {
        gpa: std.mem.Allocator,
        name: [name_max + 1]u16,
        port: u16,
        stop: std.atomic.Value(bool) = .init(false),
        refs: std.atomic.Value(u32) = .init(2),

        /// Starts serving path into a listener bound on 127.0.0.1 (its port): the caller owns
        /// one reference, released by `close`.
        pub fn start(gpa: std.mem.Allocator, path: []const u8, port: u16) Error!*Server {
            if (!is_windows) return error.Unsupported;
            const server = try gpa.create(Server);
            errdefer gpa.destroy(server);
            server.* = .{ .gpa = gpa, .name = undefined, .port = port };
            _ = try wideName(path, &server.name);
            // The first instance is created here so that a name in use fails now.
            const first = server.instance() orelse return sys.windows.systemError();
            _ = bridge.threads_live.fetchAdd(1, .acq_rel);
            const thread = std.Thread.spawn(.{ .stack_size = thread_stack_size }, accepting, .{ server, first }) catch {
                _ = k32.CloseHandle(first);
                _ = bridge.threads_live.fetchSub(1, .acq_rel);
                return error.OutOfMemory;
            };
            thread.detach();
            return server;
        }

        fn instance(server: *Server) ?usize {
            const pipe = k32.CreateNamedPipeW(@ptrCast(&server.name), pipe_access_duplex, 0, pipe_unlimited_instances, pipe_buffer_size, pipe_buffer_size, 0, null);
            return if (pipe == invalid_handle) null else pipe;
        }

        fn accepting(server: *Server, first: usize) void {
            var pipe: ?usize = first;
            var rounds: u64 = 0;
            while (pipe) |current| : (rounds += 1) {
                assert(rounds < std.math.maxInt(u64));
                const connected = k32.ConnectNamedPipe(current, null) != 0 or k32.GetLastError() == error_pipe_connected;
                if (server.stop.load(.acquire) or !connected) {
                    _ = k32.CloseHandle(current);
                    break;
                }
                server.bridgeClient(current) catch {
                    _ = k32.CloseHandle(current);
                };
                pipe = server.instance();
            }
            server.release();
        }

        fn bridgeClient(server: *Server, pipe: usize) Error!void {
            const far = sys.windows.socket(sys.af_inet, sys.windows.sock_stream, 0);
            if (far == sys.invalid_fd) return sys.windows.wsaError();
            errdefer sys.close(far);
            const target = sys.Address.ip4(.{ 127, 0, 0, 1 }, server.port);
            var blocking: u32 = 0;
            if (sys.windows.ioctlsocket(far, sys.windows.fionbio, &blocking) != 0) return sys.windows.wsaError();
            if (sys.windows.connect(far, @ptrCast(&target.storage), @intCast(target.len)) != 0) return sys.windows.wsaError();
            try bridge.start(server.gpa, .{ .read = pipe, .write = pipe }, far);
        }

        /// Stops creating instances: wakes the thread's ConnectNamedPipe with a client of its
        /// own, then lets go of the caller's reference.
        pub fn close(server: *Server) void {
            if (!is_windows) return;
            server.stop.store(true, .release);
            const waker = k32.CreateFileW(@ptrCast(&server.name), sys.windows.generic_read_write, 0, null, sys.windows.open_existing, 0, null);
            if (waker != invalid_handle) _ = k32.CloseHandle(waker);
            server.release();
        }

        fn release(server: *Server) void {
            if (server.refs.fetchSub(1, .acq_rel) != 1) return;
            server.gpa.destroy(server);
            _ = bridge.threads_live.fetchSub(1, .acq_rel);
        }
    };
};

// ---------------------------------------------------------------------------------------
// Tests: real Unix sockets, and on Windows real anonymous and named pipes (under wine here).

const testing = std.testing;
const support = @import("../loop/test_support.zig");

const test_k32 = struct {
    extern "kernel32" fn CreatePipe(read: *usize, write: *usize, security: ?*anyopaque, size: u32) callconv(.winapi) i32;
};

/// An anonymous pipe: [0] its read end, [1] its write end.
fn anonymousPipe() ![2]usize {
    var ends: [2]usize = undefined;
    if (test_k32.CreatePipe(&ends[0], &ends[1], null, 0) == 0) return sys.windows.systemError();
    return ends;
}

/// Test support shared with tty.zig's tests: streams made outside any loop, read and written
/// through their sockets directly.
pub const test_streams = struct {
    /// Waits (at most 5 s) until every bridge thread has ended.
    pub fn expectBridgesEnded() !void {
        var waited_ms: u32 = 0;
        while (bridge.threads_live.load(.acquire) != 0 and waited_ms < 5000) : (waited_ms += 2) support.sleepMs(2);
        try std.testing.expectEqual(@as(u32, 0), bridge.threads_live.load(.acquire));
    }

    /// Closes a stream made outside any loop.
    pub fn closeStream(stream: *Stream) void {
        stream.close(null);
    }

    /// Receives exactly out.len bytes from a nonblocking socket (within about 10 s).
    pub fn receiveAll(fd: sys.Fd, out: []u8) !void {
        var got: usize = 0;
        var rounds: u32 = 0;
        while (got < out.len and rounds < 10_000) : (rounds += 1) {
            const n = sys.recv(fd, out[got..]) catch |err| switch (err) {
                error.WouldBlock => {
                    support.sleepMs(1);
                    continue;
                },
                else => return err,
            };
            if (n == 0) return error.EndOfStream;
            got += n;
        }
        if (got < out.len) return error.TimedOut;
    }

    /// The next recv's result once something arrives: 0 is end of stream.
    pub fn receiveNext(fd: sys.Fd, out: []u8) !usize {
        var rounds: u32 = 0;
        while (rounds < 10_000) : (rounds += 1) {
            return sys.recv(fd, out) catch |err| switch (err) {
                error.WouldBlock => {
                    support.sleepMs(1);
                    continue;
                },
                else => return err,
            };
        }
        return error.TimedOut;
    }

    pub fn sendAllBlocking(fd: sys.Fd, bytes: []const u8) !void {
        var sent: usize = 0;
        var rounds: u32 = 0;
        while (sent < bytes.len and rounds < 10_000) : (rounds += 1) {
            sent += sys.send(fd, bytes[sent..]) catch |err| switch (err) {
                error.WouldBlock => {
                    support.sleepMs(1);
                    continue;
                },
                else => return err,
            };
        }
        if (sent < bytes.len) return error.TimedOut;
    }
};

/// More than a few bridge buffers, each byte telling its position.
fn pattern(gpa: std.mem.Allocator) ![]u8 {
    const bytes = try gpa.alloc(u8, 300_000);
    for (bytes, 0..) |*byte, i| byte.* = @truncate(i *% 7 +% i / 251);
    return bytes;
}

fn writeToPipe(handle: usize, bytes: []const u8, ok: *bool) void {
    var done: usize = 0;
    while (done < bytes.len) {
        var written: u32 = 0;
        const chunk: u32 = @intCast(@min(bytes.len - done, 10_000));
        if (k32.WriteFile(handle, bytes[done..].ptr, chunk, &written, null) == 0 or written == 0) break;
        done += written;
    }
    ok.* = done == bytes.len;
}

fn readFromPipe(handle: usize, out: []u8, ok: *bool) void {
    var done: usize = 0;
    while (done < out.len) {
        var count: u32 = 0;
        const chunk: u32 = @intCast(@min(out.len - done, 10_000));
        if (k32.ReadFile(handle, out[done..].ptr, chunk, &count, null) == 0 or count == 0) break;
        done += count;
    }
    ok.* = done == out.len;
}

test "pipe paths become unix socket addresses" {
    if (is_windows) return error.SkipZigTest;
    const unix = try address("/tmp/evergreen.sock");
    try testing.expectEqual(sys.af_unix, unix.family());
    try testing.expectError(error.InvalidArgument, address(""));
    try testing.expect(!isNamedPipe("\\\\.\\pipe\\test-pipe"));
    try testing.expectError(error.Unsupported, named.connect(testing.allocator, "\\\\.\\pipe\\x"));
    try testing.expectError(error.Unsupported, bridge.socketPair());
}

test "a descriptor that is not open is EBADF and opens nothing" {
    const live = stream_module.streams.liveCount();
    try testing.expectError(error.BadDescriptor, open(testing.allocator, 0, -1, 1024));
    if (is_windows) {
        try testing.expectError(error.BadDescriptor, open(testing.allocator, 0, 0x7fff_fff0, 1024));
        const ends = try anonymousPipe();
        _ = k32.CloseHandle(ends[0]);
        _ = k32.CloseHandle(ends[1]);
        try testing.expectError(error.BadDescriptor, open(testing.allocator, 0, @intCast(ends[0]), 1024));
        try testing.expectEqual(@as(u32, 0), bridge.threads_live.load(.acquire));
    } else {
        try testing.expectError(error.BadDescriptor, open(testing.allocator, 0, 1_000_000, 1024));
    }
    try testing.expectEqual(live, stream_module.streams.liveCount());
}

test "a pipe's read end opened as a stream delivers every byte in order; close ends the bridge (Windows)" {
    if (!is_windows) return error.SkipZigTest;
    const ends = try anonymousPipe();
    defer _ = k32.CloseHandle(ends[1]);
    const stream = open(testing.allocator, 0, @intCast(ends[0]), 1024) catch |err| {
        _ = k32.CloseHandle(ends[0]);
        return err;
    };
    var stream_open = true;
    defer if (stream_open) test_streams.closeStream(stream);
    const payload = try pattern(testing.allocator);
    defer testing.allocator.free(payload);
    const received = try testing.allocator.alloc(u8, payload.len);
    defer testing.allocator.free(received);
    var written = false;
    const writer = try std.Thread.spawn(.{}, writeToPipe, .{ ends[1], payload, &written });
    const result = test_streams.receiveAll(stream.fd, received);
    writer.join();
    try result;
    try testing.expect(written);
    try testing.expectEqualSlices(u8, payload, received);

    // The bridge is blocked reading a silent pipe: closing the stream must still end it.
    test_streams.closeStream(stream);
    stream_open = false;
    try test_streams.expectBridgesEnded();
    // The stream owned the read end: with it closed, the pipe takes no more bytes.
    var count: u32 = 0;
    try testing.expectEqual(@as(i32, 0), k32.WriteFile(ends[1], "x", 1, &count, null));
    try testing.expectEqual(error.BrokenPipe, sys.windows.systemError());
}

test "a pipe's write end opened as a stream carries writes in order, reads end at once, close ends the pipe (Windows)" {
    if (!is_windows) return error.SkipZigTest;
    const ends = try anonymousPipe();
    defer _ = k32.CloseHandle(ends[0]);
    const stream = open(testing.allocator, 0, @intCast(ends[1]), 1024) catch |err| {
        _ = k32.CloseHandle(ends[1]);
        return err;
    };
    var stream_open = true;
    defer if (stream_open) test_streams.closeStream(stream);
    // A write end cannot be read: end of stream, while writing goes on.
    var byte: [1]u8 = undefined;
    try testing.expectEqual(@as(usize, 0), try test_streams.receiveNext(stream.fd, &byte));

    const payload = try pattern(testing.allocator);
    defer testing.allocator.free(payload);
    const received = try testing.allocator.alloc(u8, payload.len);
    defer testing.allocator.free(received);
    var read_ok = false;
    const reader = try std.Thread.spawn(.{}, readFromPipe, .{ ends[0], received, &read_ok });
    const result = test_streams.sendAllBlocking(stream.fd, payload);
    reader.join();
    try result;
    try testing.expect(read_ok);
    try testing.expectEqualSlices(u8, payload, received);

    test_streams.closeStream(stream);
    stream_open = false;
    try test_streams.expectBridgesEnded();
    // The stream owned the write end: the reader now sees the pipe end.
    var count: u32 = 0;
    try testing.expectEqual(@as(i32, 0), k32.ReadFile(ends[0], &byte, 1, &count, null));
    try testing.expectEqual(error.BrokenPipe, sys.windows.systemError());
}

test "the end of a pipe's input is the end of the stream (Windows)" {
    if (!is_windows) return error.SkipZigTest;
    const ends = try anonymousPipe();
    const stream = open(testing.allocator, 0, @intCast(ends[0]), 1024) catch |err| {
        _ = k32.CloseHandle(ends[0]);
        _ = k32.CloseHandle(ends[1]);
        return err;
    };
    var stream_open = true;
    defer if (stream_open) test_streams.closeStream(stream);
    var count: u32 = 0;
    try testing.expect(k32.WriteFile(ends[1], "tail", 4, &count, null) != 0);
    _ = k32.CloseHandle(ends[1]);
    var buffer: [8]u8 = undefined;
    try test_streams.receiveAll(stream.fd, buffer[0..4]);
    try testing.expectEqualStrings("tail", buffer[0..4]);
    try testing.expectEqual(@as(usize, 0), try test_streams.receiveNext(stream.fd, &buffer));
    test_streams.closeStream(stream);
    stream_open = false;
    try test_streams.expectBridgesEnded();
}

test "a named pipe server bridges a client's bytes both ways (Windows)" {
    if (!is_windows) return error.SkipZigTest;
    const path = "\\\\.\\pipe\\evergreen-test-bridge";
    try testing.expect(isNamedPipe(path));
    const listener = try sys.openSocket(sys.af_inet, .stream);
    defer sys.close(listener);
    var bound = sys.Address.ip4(.{ 127, 0, 0, 1 }, 0);
    try sys.bind(listener, &bound);
    try sys.listen(listener, 4);
    bound = try sys.localAddress(listener);
    const server = try named.Server.start(testing.allocator, path, bound.port());
    errdefer server.close();
    const client = try named.connect(testing.allocator, path);
    errdefer sys.close(client);
    var accepted: sys.Fd = sys.invalid_fd;
    var attempt: u32 = 0;
    while (attempt < 500) : (attempt += 1) {
        accepted = sys.accept(listener) catch {
            support.sleepMs(2);
            continue;
        };
        break;
    }
    try testing.expect(accepted != sys.invalid_fd);
    errdefer sys.close(accepted);
    _ = try sys.send(client, "ping");
    var buffer: [8]u8 = undefined;
    try test_streams.receiveAll(accepted, buffer[0..4]);
    try testing.expectEqualStrings("ping", buffer[0..4]);
    _ = try sys.send(accepted, "pong");
    try test_streams.receiveAll(client, buffer[0..4]);
    try testing.expectEqualStrings("pong", buffer[0..4]);

    // The client goes: the server's side reads end of stream.
    sys.close(client);
    try testing.expectEqual(@as(usize, 0), try test_streams.receiveNext(accepted, &buffer));
    sys.close(accepted);
    server.close();
    try test_streams.expectBridgesEnded();
}

test "a connect finding every instance of a named pipe taken waits for the next (Windows)" {
    if (!is_windows) return error.SkipZigTest;
    const path = "\\\\.\\pipe\\evergreen-test-busy";
    var name: [named.name_max + 1]u16 = undefined;
    const wide = try named.wideName(path, &name);
    const Instance = struct {
        fn make(pipe_name: [*:0]const u16) ?usize {
            const pipe = k32.CreateNamedPipeW(pipe_name, named.pipe_access_duplex, 0, 2, 4096, 4096, 0, null);
            return if (pipe == invalid_handle) null else pipe;
        }
        fn later(pipe_name: [*:0]const u16, out: *?usize) void {
            support.sleepMs(30);
            out.* = make(pipe_name);
        }
    };
    const first = Instance.make(wide) orelse return sys.windows.systemError();
    const taken = try named.connect(testing.allocator, path);
    // Every instance is taken; a second one comes 30 ms later, which connect waits for.
    var second: ?usize = null;
    const maker = try std.Thread.spawn(.{}, Instance.later, .{ wide, &second });
    const waited = named.connect(testing.allocator, path);
    maker.join();
    // The pipe allows two instances and both are taken: EBUSY, after a bounded wait.
    const refused = named.connect(testing.allocator, path);
    sys.close(taken);
    if (waited) |client| sys.close(client) else |_| {}
    if (refused) |client| sys.close(client) else |_| {}
    _ = k32.CloseHandle(first);
    if (second) |pipe| _ = k32.CloseHandle(pipe);
    try test_streams.expectBridgesEnded();
    try testing.expect(second != null);
    _ = try waited;
    try testing.expectError(error.Busy, refused);
}
