//! Pipe addresses, inherited descriptors and streams over the Windows handle bridge. On Linux
//! and macOS (and on Windows for file-system paths) a pipe is a Unix domain socket, connected
//! and served by socket.zig like TCP. The Windows loop polls sockets only (WSAPoll), so a named
//! pipe, an inherited pipe handle or a console (tty.zig) is bridged (windows_pipe.zig) to a
//! loopback TCP connection that the loop does poll.

const std = @import("std");
const builtin = @import("builtin");
const descriptor = @import("../loop/descriptor.zig");
const errors = @import("../loop/errors.zig");
const event = @import("../loop/event.zig");
const hub_module = @import("../hub/hub.zig");
const kernel32 = @import("kernel32.zig");
const socket = @import("socket.zig");
const stream_module = @import("stream.zig");
const sys = @import("sys.zig");
const windows_pipe = @import("windows_pipe.zig");

const Stream = stream_module.Stream;

/// The socket address of a pipe path (at most sys.unix_path_max bytes, no zero byte).
pub fn address(path: []const u8) errors.Error!sys.Address {
    if (isNamedPipe(path)) return error.InvalidArgument;
    return sys.Address.unix(path);
}

/// `\\.\pipe\name`: the Windows named-pipe namespace (a plain path on other systems).
pub fn isNamedPipe(path: []const u8) bool {
    if (builtin.os.tag != .windows) return false;
    return std.ascii.startsWithIgnoreCase(path, "\\\\.\\pipe\\") or std.ascii.startsWithIgnoreCase(path, "//./pipe/");
}

/// A stream over an inherited descriptor, which it owns from now on (on failure it stays the
/// caller's). POSIX: the descriptor itself, made nonblocking. Windows: `number` is a HANDLE
/// (sys.windows.handleOf: 0, 1, 2 are the standard handles); a socket is used as it is, any
/// other handle (a pipe end, a file) is bridged and closed when the bridge ends.
pub fn open(gpa: std.mem.Allocator, loop_handle: u32, number: i32, read_max: usize) errors.Error!*Stream {
    if (number < 0) return error.BadDescriptor;
    if (builtin.os.tag == .windows) return openHandle(gpa, loop_handle, try sys.windows.handleOf(number), read_max);
    const fd: event.Fd = number;
    try descriptor.setNonBlocking(fd);
    const kind: stream_module.Io = if (sys.isSocket(fd)) .socket else .file;
    if (kind == .file) sys.suppressSigpipe(fd);
    return Stream.create(gpa, loop_handle, fd, kind, read_max);
}

fn openHandle(gpa: std.mem.Allocator, loop_handle: u32, handle: usize, read_max: usize) errors.Error!*Stream {
    std.debug.assert(builtin.os.tag == .windows and handle != kernel32.invalid_handle);
    if (sys.windows.isSocketHandle(handle)) {
        try descriptor.setNonBlocking(handle);
        return Stream.create(gpa, loop_handle, handle, .socket, read_max);
    }
    const pair = try windows_pipe.bridge.socketPair();
    errdefer sys.close(pair[1]);
    const stream = try streamOverBridge(gpa, loop_handle, pair[0], read_max);
    // The stream exists before the bridge takes the handle, so that no failure closes it.
    errdefer stream.close(null);
    try windows_pipe.bridge.start(gpa, .{ .read = handle, .write = handle }, pair[1]);
    return stream;
}

/// A stream over the near end of a bridge's pair; on failure the caller still owns `near`.
pub fn streamOverBridge(gpa: std.mem.Allocator, loop_handle: u32, near: event.Fd, read_max: usize) errors.Error!*Stream {
    errdefer sys.close(near);
    return Stream.create(gpa, loop_handle, near, .socket, read_max);
}

/// Connects an unconnected stream to the Unix socket at path, or on Windows to the named pipe
/// `\\.\pipe\name` (opened at once; EBUSY while every instance is taken). Returns
/// -EINPROGRESS (the op reports with `token`) or -code.
pub fn connect(gpa: std.mem.Allocator, stream: *Stream, hub: *hub_module.Hub, path: []const u8, token: u32) i32 {
    if (isNamedPipe(path)) {
        if (stream.fd != sys.invalid_fd or stream.closed) return errors.negative(error.AlreadyConnected);
        const fd = windows_pipe.named.connect(gpa, path) catch |err| return errors.negative(err);
        const started = socket.startConnected(stream, hub, fd, token);
        if (started != errors.negative(error.InProgress)) sys.close(fd);
        return started;
    }
    const target = address(path) catch |err| return errors.negative(err);
    return socket.startConnect(stream, hub, &.{target}, "", 0, null, false, token);
}

/// A Unix socket listener at path (EADDRINUSE if the path exists); closing it removes the file.
/// On Windows a `\\.\pipe\name` path serves that named pipe through loopback bridges.
pub fn listen(gpa: std.mem.Allocator, loop_handle: u32, path: []const u8, backlog: u31, read_max: usize) errors.Error!*Stream {
    if (isNamedPipe(path)) {
        const loopback = sys.Address.ip4(.{ 127, 0, 0, 1 }, 0);
        const server = try socket.listen(gpa, loop_handle, &loopback, backlog, read_max, false, false);
        errdefer server.close(null);
        const port = (try sys.localAddress(server.fd)).port();
        server.named_server = try windows_pipe.named.Server.start(gpa, path, port);
        return server;
    }
    const target = try address(path);
    return socket.listen(gpa, loop_handle, &target, backlog, read_max, false, false);
}

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
    if (test_k32.CreatePipe(&ends[0], &ends[1], null, 0) == 0) return kernel32.lastError();
    return ends;
}

/// Test support shared with tty.zig's tests: streams made outside any loop, read and written
/// through their sockets directly.
pub const test_streams = struct {
    /// Waits (at most 5 s) until every bridge thread has ended.
    pub fn expectBridgesEnded() !void {
        var waited_ms: u32 = 0;
        while (windows_pipe.bridge.threads_live.load(.acquire) != 0 and waited_ms < 5000) : (waited_ms += 2) support.sleepMs(2);
        try std.testing.expectEqual(@as(u32, 0), windows_pipe.bridge.threads_live.load(.acquire));
    }

    /// Closes a stream made outside any loop.
    pub fn closeStream(stream: *Stream) void {
        stream.close(null);
    }

    /// Receives exactly out.len bytes from a nonblocking socket (within about 10 s).
    pub fn receiveAll(fd: event.Fd, out: []u8) !void {
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
    pub fn receiveNext(fd: event.Fd, out: []u8) !usize {
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

    pub fn sendAllBlocking(fd: event.Fd, bytes: []const u8) !void {
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

/// Which end of an anonymous pipe a test opens as a stream; a thread works the other one.
const StreamEnd = enum(u1) { read = 0, write = 1 };

/// The far end's side of a transfer: writes `bytes` into the pipe for a stream over the read
/// end, reads them out of it for a stream over the write end.
fn transferAtFarEnd(far: usize, stream_end: StreamEnd, bytes: []u8, ok: *bool) void {
    var done: usize = 0;
    while (done < bytes.len) {
        var count: u32 = 0;
        const chunk: u32 = @intCast(@min(bytes.len - done, 10_000));
        const rc = switch (stream_end) {
            .read => kernel32.WriteFile(far, bytes[done..].ptr, chunk, &count, null),
            .write => kernel32.ReadFile(far, bytes[done..].ptr, chunk, &count, null),
        };
        if (rc == 0 or count == 0) break;
        done += count;
    }
    ok.* = done == bytes.len;
}

/// A stream over one end of an anonymous pipe carries every byte of `pattern`, in order, to or
/// from a thread at the other end; closing the stream ends its bridge even while the bridge
/// waits on a silent pipe, and closes the end it owned, so the far end fails with EPIPE.
fn expectPipeEndStream(stream_end: StreamEnd) !void {
    const ends = try anonymousPipe();
    const near = ends[@backingInt(stream_end)];
    const far = ends[1 - @backingInt(stream_end)];
    defer _ = kernel32.CloseHandle(far);
    const stream = open(testing.allocator, 0, @intCast(near), 1024) catch |err| {
        _ = kernel32.CloseHandle(near);
        return err;
    };
    var stream_open = true;
    defer if (stream_open) test_streams.closeStream(stream);
    var byte: [1]u8 = "x".*;
    // A write end cannot be read: end of stream, while writing goes on.
    if (stream_end == .write) try testing.expectEqual(@as(usize, 0), try test_streams.receiveNext(stream.fd, &byte));

    const payload = try pattern(testing.allocator);
    defer testing.allocator.free(payload);
    const received = try testing.allocator.alloc(u8, payload.len);
    defer testing.allocator.free(received);
    var far_ok = false;
    const far_bytes = if (stream_end == .read) payload else received;
    const far_thread = try std.Thread.spawn(.{}, transferAtFarEnd, .{ far, stream_end, far_bytes, &far_ok });
    const result = switch (stream_end) {
        .read => test_streams.receiveAll(stream.fd, received),
        .write => test_streams.sendAllBlocking(stream.fd, payload),
    };
    far_thread.join();
    try result;
    try testing.expect(far_ok);
    try testing.expectEqualSlices(u8, payload, received);

    test_streams.closeStream(stream);
    stream_open = false;
    try test_streams.expectBridgesEnded();
    var count: u32 = 0;
    const rc = switch (stream_end) {
        .read => kernel32.WriteFile(far, &byte, 1, &count, null),
        .write => kernel32.ReadFile(far, &byte, 1, &count, null),
    };
    try testing.expectEqual(@as(i32, 0), rc);
    try testing.expectEqual(error.BrokenPipe, kernel32.lastError());
}

test "pipe paths become unix socket addresses" {
    if (builtin.os.tag == .windows) return error.SkipZigTest;
    const unix = try address("/tmp/evergreen.sock");
    try testing.expectEqual(sys.af_unix, unix.family());
    try testing.expectError(error.InvalidArgument, address(""));
    try testing.expect(!isNamedPipe("\\\\.\\pipe\\test-pipe"));
    try testing.expectError(error.Unsupported, windows_pipe.named.connect(testing.allocator, "\\\\.\\pipe\\x"));
    try testing.expectError(error.Unsupported, windows_pipe.bridge.socketPair());
}

test "a descriptor that is not open is EBADF and opens nothing" {
    const live = stream_module.streams.liveCount();
    try testing.expectError(error.BadDescriptor, open(testing.allocator, 0, -1, 1024));
    if (builtin.os.tag == .windows) {
        try testing.expectError(error.BadDescriptor, open(testing.allocator, 0, 0x7fff_fff0, 1024));
        const ends = try anonymousPipe();
        _ = kernel32.CloseHandle(ends[0]);
        _ = kernel32.CloseHandle(ends[1]);
        try testing.expectError(error.BadDescriptor, open(testing.allocator, 0, @intCast(ends[0]), 1024));
        try testing.expectEqual(@as(u32, 0), windows_pipe.bridge.threads_live.load(.acquire));
    } else {
        try testing.expectError(error.BadDescriptor, open(testing.allocator, 0, 1_000_000, 1024));
    }
    try testing.expectEqual(live, stream_module.streams.liveCount());
}

test "a pipe's read end opened as a stream delivers every byte in order; close ends the bridge (Windows)" {
    if (builtin.os.tag != .windows) return error.SkipZigTest;
    try expectPipeEndStream(.read);
}

test "a pipe's write end opened as a stream carries writes in order, reads end at once, close ends the pipe (Windows)" {
    if (builtin.os.tag != .windows) return error.SkipZigTest;
    try expectPipeEndStream(.write);
}

test "the end of a pipe's input is the end of the stream (Windows)" {
    if (builtin.os.tag != .windows) return error.SkipZigTest;
    const ends = try anonymousPipe();
    const stream = open(testing.allocator, 0, @intCast(ends[0]), 1024) catch |err| {
        _ = kernel32.CloseHandle(ends[0]);
        _ = kernel32.CloseHandle(ends[1]);
        return err;
    };
    var stream_open = true;
    defer if (stream_open) test_streams.closeStream(stream);
    var count: u32 = 0;
    try testing.expect(kernel32.WriteFile(ends[1], "tail", 4, &count, null) != 0);
    _ = kernel32.CloseHandle(ends[1]);
    var buffer: [8]u8 = undefined;
    try test_streams.receiveAll(stream.fd, buffer[0..4]);
    try testing.expectEqualStrings("tail", buffer[0..4]);
    try testing.expectEqual(@as(usize, 0), try test_streams.receiveNext(stream.fd, &buffer));
    test_streams.closeStream(stream);
    stream_open = false;
    try test_streams.expectBridgesEnded();
}

test "a named pipe server bridges a client's bytes both ways (Windows)" {
    if (builtin.os.tag != .windows) return error.SkipZigTest;
    const path = "\\\\.\\pipe\\evergreen-test-bridge";
    try testing.expect(isNamedPipe(path));
    const listener = try sys.listenLoopback(4);
    defer sys.close(listener.fd);
    const server = try windows_pipe.named.Server.start(testing.allocator, path, listener.address.port());
    errdefer server.close();
    const client = try windows_pipe.named.connect(testing.allocator, path);
    errdefer sys.close(client);
    var accepted: event.Fd = sys.invalid_fd;
    var attempt: u32 = 0;
    while (attempt < 500) : (attempt += 1) {
        accepted = sys.accept(listener.fd, null) catch {
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
    if (builtin.os.tag != .windows) return error.SkipZigTest;
    const path = "\\\\.\\pipe\\evergreen-test-busy";
    var name: [windows_pipe.named.name_max + 1]u16 = undefined;
    const wide = try windows_pipe.named.wideName(path, &name);
    const Instance = struct {
        fn make(pipe_name: [*:0]const u16) ?usize {
            const pipe = kernel32.CreateNamedPipeW(pipe_name, windows_pipe.named.pipe_access_duplex, 0, 2, 4096, 4096, 0, null);
            return if (pipe == kernel32.invalid_handle) null else pipe;
        }
        fn later(pipe_name: [*:0]const u16, out: *?usize) void {
            support.sleepMs(30);
            out.* = make(pipe_name);
        }
    };
    const first = Instance.make(wide) orelse return kernel32.lastError();
    const taken = try windows_pipe.named.connect(testing.allocator, path);
    // Every instance is taken; a second one comes 30 ms later, which connect waits for.
    var second: ?usize = null;
    const maker = try std.Thread.spawn(.{}, Instance.later, .{ wide, &second });
    const waited = windows_pipe.named.connect(testing.allocator, path);
    maker.join();
    // The pipe allows two instances and both are taken: EBUSY, after a bounded wait.
    const refused = windows_pipe.named.connect(testing.allocator, path);
    sys.close(taken);
    if (waited) |client| sys.close(client) else |_| {}
    if (refused) |client| sys.close(client) else |_| {}
    _ = kernel32.CloseHandle(first);
    if (second) |pipe| _ = kernel32.CloseHandle(pipe);
    try test_streams.expectBridgesEnded();
    try testing.expect(second != null);
    _ = try waited;
    try testing.expectError(error.Busy, refused);
}
