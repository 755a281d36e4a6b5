//! Pipe addresses and Windows named pipes. On Linux and macOS (and on Windows for file-system
//! paths) a pipe is a Unix domain socket, connected and served by socket.zig like TCP. A
//! Windows named pipe (`\\.\pipe\name`) cannot be polled by the loop (WSAPoll takes sockets
//! only), so each pipe connection is bridged to a loopback TCP connection that the loop does
//! poll: two threads copy bytes between the pipe handle and the bridge's far socket.

const std = @import("std");
const builtin = @import("builtin");
const assert = std.debug.assert;
const errors = @import("../loop/errors.zig");
const sys = @import("sys.zig");
const stream_module = @import("stream.zig");

const Error = errors.Error;
const Stream = stream_module.Stream;
const is_windows = builtin.os.tag == .windows;

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

/// Windows named pipes through loopback bridges. Every function exists on every OS so that
/// callers need no conditional code; elsewhere they are ENOSYS.
pub const named = struct {
    const name_max = 256;
    const pipe_buffer_size = 64 * 1024;
    const bridge_stack_size = 256 * 1024;

    const HANDLE = *anyopaque;
    const invalid_handle: usize = std.math.maxInt(usize);
    const k32 = struct {
        extern "kernel32" fn CreateNamedPipeW(name: [*:0]const u16, open_mode: u32, pipe_mode: u32, instances: u32, out_size: u32, in_size: u32, timeout_ms: u32, security: ?*anyopaque) callconv(.winapi) usize;
        extern "kernel32" fn ConnectNamedPipe(pipe: usize, overlapped: ?*anyopaque) callconv(.winapi) i32;
        extern "kernel32" fn CreateFileW(name: [*:0]const u16, access: u32, share: u32, security: ?*anyopaque, disposition: u32, flags: u32, template: ?*anyopaque) callconv(.winapi) usize;
        extern "kernel32" fn ReadFile(file: usize, buffer: [*]u8, length: u32, read: *u32, overlapped: ?*anyopaque) callconv(.winapi) i32;
        extern "kernel32" fn WriteFile(file: usize, buffer: [*]const u8, length: u32, written: *u32, overlapped: ?*anyopaque) callconv(.winapi) i32;
        extern "kernel32" fn CloseHandle(handle: usize) callconv(.winapi) i32;
        extern "kernel32" fn GetLastError() callconv(.winapi) u32;
        extern "kernel32" fn CancelIoEx(file: usize, overlapped: ?*anyopaque) callconv(.winapi) i32;
    };

    /// Bridges and servers whose threads have not ended yet (tests wait for zero).
    pub var threads_live = std.atomic.Value(u32).init(0);
    const pipe_access_duplex: u32 = 0x3;
    const pipe_unlimited_instances: u32 = 255;
    const generic_read_write: u32 = 0x8000_0000 | 0x4000_0000;
    const open_existing: u32 = 3;
    const error_pipe_connected: u32 = 535;

    /// The Win32 error of the last kernel32 call, as a portable error.
    fn lastError() Error {
        return switch (k32.GetLastError()) {
            2, 3 => error.NotFound, // ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND
            5 => error.AccessDenied,
            8, 14 => error.OutOfMemory,
            109, 232 => error.BrokenPipe, // ERROR_BROKEN_PIPE, ERROR_NO_DATA
            231 => error.Busy, // ERROR_PIPE_BUSY
            else => error.Unexpected,
        };
    }

    fn wideName(path: []const u8, out: *[name_max + 1]u16) Error![*:0]const u16 {
        if (path.len == 0 or path.len > name_max) return error.InvalidArgument;
        for (path, 0..) |byte, i| {
            if (byte == 0 or byte > 0x7f) return error.InvalidArgument;
            out[i] = byte;
        }
        out[path.len] = 0;
        return @ptrCast(out);
    }

    /// Copies both ways between a pipe handle and the far end of a loopback socket pair
    /// until either side ends; the second thread to finish closes both.
    const Bridge = struct {
        gpa: std.mem.Allocator,
        pipe: usize,
        socket: sys.Fd,
        refs: std.atomic.Value(u32) = .init(2),

        fn start(gpa: std.mem.Allocator, pipe: usize, socket: sys.Fd) Error!void {
            const bridge = try gpa.create(Bridge);
            bridge.* = .{ .gpa = gpa, .pipe = pipe, .socket = socket };
            _ = threads_live.fetchAdd(1, .acq_rel);
            const inbound = std.Thread.spawn(.{ .stack_size = bridge_stack_size }, pipeToSocket, .{bridge}) catch {
                gpa.destroy(bridge);
                _ = threads_live.fetchSub(1, .acq_rel);
                return error.OutOfMemory;
            };
            inbound.detach();
            const outbound = std.Thread.spawn(.{ .stack_size = bridge_stack_size }, socketToPipe, .{bridge}) catch {
                // The inbound thread ends when the pipe does; it frees the bridge then.
                _ = bridge.refs.fetchSub(1, .acq_rel);
                _ = sys.windows.shutdown(socket, 1);
                return;
            };
            outbound.detach();
        }

        fn pipeToSocket(bridge: *Bridge) void {
            var buffer: [pipe_buffer_size]u8 = undefined;
            var rounds: u64 = 0;
            while (rounds < std.math.maxInt(u64)) : (rounds += 1) {
                var count: u32 = 0;
                if (k32.ReadFile(bridge.pipe, &buffer, buffer.len, &count, null) == 0 or count == 0) break;
                if (!sendAll(bridge.socket, buffer[0..count])) break;
            }
            // Ends the other direction too: its recv returns once the socket is shut down.
            _ = sys.windows.shutdown(bridge.socket, 2);
            bridge.release();
        }

        fn socketToPipe(bridge: *Bridge) void {
            var buffer: [pipe_buffer_size]u8 = undefined;
            var rounds: u64 = 0;
            while (rounds < std.math.maxInt(u64)) : (rounds += 1) {
                const rc = sys.windows.recv(bridge.socket, &buffer, @intCast(buffer.len), 0);
                if (rc <= 0) break;
                var written: u32 = 0;
                if (k32.WriteFile(bridge.pipe, &buffer, @intCast(rc), &written, null) == 0) break;
            }
            // A pipe has no half-close: end the other direction's blocked ReadFile.
            _ = k32.CancelIoEx(bridge.pipe, null);
            bridge.release();
        }

        fn release(bridge: *Bridge) void {
            if (bridge.refs.fetchSub(1, .acq_rel) != 1) return;
            _ = k32.CloseHandle(bridge.pipe);
            sys.close(bridge.socket);
            bridge.gpa.destroy(bridge);
            _ = threads_live.fetchSub(1, .acq_rel);
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
    };

    /// A blocking far end and a nonblocking near end of a loopback TCP connection.
    fn socketPair() Error![2]sys.Fd {
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

    /// Opens the named pipe at path as a client and returns the near socket of its bridge
    /// (EBUSY while every instance of the pipe is taken, ENOENT when there is none).
    pub fn connect(gpa: std.mem.Allocator, path: []const u8) Error!sys.Fd {
        if (!is_windows) return error.Unsupported;
        var name: [name_max + 1]u16 = undefined;
        const wide = try wideName(path, &name);
        const pipe = k32.CreateFileW(wide, generic_read_write, 0, null, open_existing, 0, null);
        if (pipe == invalid_handle) return lastError();
        errdefer _ = k32.CloseHandle(pipe);
        const pair = try socketPair();
        errdefer sys.close(pair[1]);
        errdefer sys.close(pair[0]);
        try Bridge.start(gpa, pipe, pair[1]);
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
            const first = server.instance() orelse return lastError();
            _ = threads_live.fetchAdd(1, .acq_rel);
            const thread = std.Thread.spawn(.{ .stack_size = bridge_stack_size }, accepting, .{ server, first }) catch {
                _ = k32.CloseHandle(first);
                _ = threads_live.fetchSub(1, .acq_rel);
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
                server.bridge(current) catch {
                    _ = k32.CloseHandle(current);
                };
                pipe = server.instance();
            }
            server.release();
        }

        fn bridge(server: *Server, pipe: usize) Error!void {
            const far = sys.windows.socket(sys.af_inet, sys.windows.sock_stream, 0);
            if (far == sys.invalid_fd) return sys.windows.wsaError();
            errdefer sys.close(far);
            const target = sys.Address.ip4(.{ 127, 0, 0, 1 }, server.port);
            var blocking: u32 = 0;
            if (sys.windows.ioctlsocket(far, sys.windows.fionbio, &blocking) != 0) return sys.windows.wsaError();
            if (sys.windows.connect(far, @ptrCast(&target.storage), @intCast(target.len)) != 0) return sys.windows.wsaError();
            try Bridge.start(server.gpa, pipe, far);
        }

        /// Stops creating instances: wakes the thread's ConnectNamedPipe with a client of its
        /// own, then lets go of the caller's reference.
        pub fn close(server: *Server) void {
            if (!is_windows) return;
            server.stop.store(true, .release);
            const waker = k32.CreateFileW(@ptrCast(&server.name), generic_read_write, 0, null, open_existing, 0, null);
            if (waker != invalid_handle) _ = k32.CloseHandle(waker);
            server.release();
        }

        fn release(server: *Server) void {
            if (server.refs.fetchSub(1, .acq_rel) != 1) return;
            server.gpa.destroy(server);
            _ = threads_live.fetchSub(1, .acq_rel);
        }
    };
};

const testing = std.testing;

test "pipe paths become unix socket addresses" {
    if (is_windows) return error.SkipZigTest;
    const unix = try address("/tmp/evergreen.sock");
    try testing.expectEqual(sys.af_unix, unix.family());
    try testing.expectError(error.InvalidArgument, address(""));
    try testing.expect(!isNamedPipe("\\\\.\\pipe\\test-pipe"));
    try testing.expectError(error.Unsupported, named.connect(testing.allocator, "\\\\.\\pipe\\x"));
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
    // Runs last: every bridge and server thread has let go before the leak check.
    defer {
        var waited: u32 = 0;
        while (named.threads_live.load(.acquire) != 0 and waited < 1000) : (waited += 1) {
            @import("../loop/test_support.zig").sleepMs(5);
        }
    }
    defer server.close();
    const client = try named.connect(testing.allocator, path);
    defer sys.close(client);
    var accepted: sys.Fd = sys.invalid_fd;
    var attempt: u32 = 0;
    while (attempt < 500) : (attempt += 1) {
        accepted = sys.accept(listener) catch {
            @import("../loop/test_support.zig").sleepMs(2);
            continue;
        };
        break;
    }
    try testing.expect(accepted != sys.invalid_fd);
    defer sys.close(accepted);
    _ = try sys.send(client, "ping");
    var buffer: [8]u8 = undefined;
    attempt = 0;
    const n = while (attempt < 500) : (attempt += 1) {
        break sys.recv(accepted, &buffer) catch {
            @import("../loop/test_support.zig").sleepMs(2);
            continue;
        };
    } else return error.TimedOut;
    try testing.expectEqualStrings("ping", buffer[0..n]);
}
