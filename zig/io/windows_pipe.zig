//! Windows handles the loop cannot poll (WSAPoll takes sockets only): a pipe or console handle
//! is bridged to the far end of a loopback socket pair by two threads, and named pipes are
//! served and connected here. pipe.zig and tty.zig make streams over the near ends; stream.zig
//! closes a named-pipe server with its listener. Nothing here knows streams.

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("../loop/errors.zig");
const event = @import("../loop/event.zig");
const winsock = @import("../loop/winsock.zig");
const kernel32 = @import("kernel32.zig");
const sys = @import("sys.zig");

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
        socket: event.Fd,
        gate: usize,
        /// Set as the writing side ends: wakes a reader waiting for console input.
        stop: usize,
        abandoned: std.atomic.Value(bool) = .init(false),
        stopping: std.atomic.Value(bool) = .init(false),
        reading: std.atomic.Value(bool) = .init(true),
        refs: std.atomic.Value(u32) = .init(2),

        fn admitted(self: *Bridge) bool {
            _ = kernel32.WaitForSingleObject(self.gate, kernel32.infinite);
            return !self.abandoned.load(.acquire);
        }

        fn readingThread(self: *Bridge) void {
            if (!self.admitted()) return;
            if (self.ends.read) |handle| self.copyToSocket(handle);
            // End of input is end of stream; writing goes on (the write end of a pipe, say).
            _ = winsock.shutdown(self.socket, sd_send);
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
                if (kernel32.ReadFile(handle, &buffer, buffer.len, &count, null) == 0 or count == 0) return;
                if (!sendAll(self.socket, buffer[0..count])) return;
            }
        }

        /// Waits until the console has input (true) or the bridge stops (false).
        fn inputWaiting(self: *Bridge, handle: usize) bool {
            const objects = [2]usize{ handle, self.stop };
            return kernel32.WaitForMultipleObjects(objects.len, &objects, 0, kernel32.infinite) == kernel32.wait_object_0;
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
                const rc = winsock.recv(self.socket, &buffer, buffer.len, 0);
                if (rc <= 0) return;
                if (!writeAll(self.ends.write, buffer[0..@intCast(rc)])) return;
            }
        }

        /// A handle has no half-close: once the stream stops writing (or closes), reading ends
        /// too. CancelIoEx reaches only a ReadFile already under way, so it is repeated until
        /// the reader has seen `stopping`.
        fn stopReading(self: *Bridge) void {
            self.stopping.store(true, .release);
            _ = kernel32.SetEvent(self.stop);
            const handle = self.ends.read orelse return;
            var rounds: u32 = 0;
            while (self.reading.load(.acquire) and rounds < cancel_rounds_max) : (rounds += 1) {
                _ = kernel32.CancelIoEx(handle, null);
                kernel32.Sleep(1);
            }
        }

        fn release(self: *Bridge) void {
            if (self.refs.fetchSub(1, .acq_rel) != 1) return;
            if (self.ends.read) |handle| {
                if (handle != self.ends.write) _ = kernel32.CloseHandle(handle);
            }
            _ = kernel32.CloseHandle(self.ends.write);
            sys.close(self.socket);
            self.destroy();
            _ = threads_live.fetchSub(1, .acq_rel);
        }

        fn destroy(self: *Bridge) void {
            _ = kernel32.CloseHandle(self.gate);
            _ = kernel32.CloseHandle(self.stop);
            self.gpa.destroy(self);
        }
    };

    /// Starts copying between ends and socket (the far end of `socketPair`). On success the
    /// bridge owns the handles and the socket; on failure they stay the caller's.
    pub fn start(gpa: std.mem.Allocator, ends: Ends, socket: event.Fd) errors.Error!void {
        if (builtin.os.tag != .windows) return error.Unsupported;
        std.debug.assert(socket != sys.invalid_fd);
        std.debug.assert(ends.write != 0 and ends.write != kernel32.invalid_handle);
        std.debug.assert(ends.read == null or ends.read.? != kernel32.invalid_handle);
        const gate = kernel32.CreateEventW(null, 1, 0, null);
        if (gate == 0) return kernel32.lastError();
        const stop = kernel32.CreateEventW(null, 1, 0, null);
        if (stop == 0) {
            _ = kernel32.CloseHandle(gate);
            return kernel32.lastError();
        }
        const self = gpa.create(Bridge) catch {
            _ = kernel32.CloseHandle(gate);
            _ = kernel32.CloseHandle(stop);
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
            std.debug.assert(kernel32.SetEvent(gate) != 0);
            writer.join();
            self.destroy();
            return error.OutOfMemory;
        };
        _ = threads_live.fetchAdd(1, .acq_rel);
        writer.detach();
        reader.detach();
        std.debug.assert(kernel32.SetEvent(gate) != 0);
    }

    /// A nonblocking near end and a blocking far end of a loopback TCP connection.
    pub fn socketPair() errors.Error![2]event.Fd {
        if (builtin.os.tag != .windows) return error.Unsupported;
        const listener = try sys.listenLoopback(1);
        defer sys.close(listener.fd);
        const near = try sys.openSocket(sys.af_inet, .stream);
        errdefer sys.close(near);
        _ = try sys.connect(near, &listener.address);
        var attempt: u32 = 0;
        const far = while (attempt < 1000) : (attempt += 1) {
            break sys.accept(listener.fd, null) catch |err| switch (err) {
                error.WouldBlock => {
                    std.Thread.yield() catch {};
                    continue;
                },
                else => return err,
            };
        } else return error.TimedOut;
        errdefer sys.close(far);
        var blocking: u32 = 0;
        if (winsock.ioctlsocket(far, winsock.FIONBIO, &blocking) != 0) return winsock.lastError();
        try sys.setNoDelay(near);
        return .{ near, far };
    }

    fn sendAll(socket: event.Fd, bytes: []const u8) bool {
        var sent: usize = 0;
        while (sent < bytes.len) {
            const rc = winsock.send(socket, bytes[sent..].ptr, @intCast(bytes.len - sent), 0);
            if (rc <= 0) return false;
            sent += @intCast(rc);
        }
        return true;
    }

    fn writeAll(handle: usize, bytes: []const u8) bool {
        var written_total: usize = 0;
        while (written_total < bytes.len) {
            var written: u32 = 0;
            if (kernel32.WriteFile(handle, bytes[written_total..].ptr, @intCast(bytes.len - written_total), &written, null) == 0) return false;
            if (written == 0) return false;
            written_total += written;
        }
        return true;
    }
};

/// Windows named pipes through loopback bridges (ENOSYS elsewhere).
pub const named = struct {
    pub const name_max = 256;
    const pipe_buffer_size = 64 * 1024;
    const thread_stack_size = 256 * 1024;
    pub const pipe_access_duplex: u32 = 0x3;
    const pipe_unlimited_instances: u32 = 255;
    const error_pipe_connected: u32 = 535;
    const error_pipe_busy: u32 = 231;
    /// A connect finding every instance taken waits at most this many times this long, on the
    /// calling thread, before it reports EBUSY.
    const busy_attempts_max: u32 = 5;
    const busy_wait_ms: u32 = 20;

    pub fn wideName(path: []const u8, out: *[name_max + 1]u16) errors.Error![*:0]const u16 {
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
    pub fn connect(gpa: std.mem.Allocator, path: []const u8) errors.Error!event.Fd {
        if (builtin.os.tag != .windows) return error.Unsupported;
        var name: [name_max + 1]u16 = undefined;
        const wide = try wideName(path, &name);
        const pipe = open: {
            var attempt: u32 = 0;
            while (attempt < busy_attempts_max) : (attempt += 1) {
                const handle = kernel32.CreateFileW(wide, kernel32.generic_read_write, 0, null, kernel32.open_existing, 0, null);
                if (handle != kernel32.invalid_handle) break :open handle;
                if (kernel32.GetLastError() != error_pipe_busy) return kernel32.lastError();
                // Every instance is taken for now: the server thread makes the next one as
                // soon as it hands one out, so wait briefly for it (as libuv does, bounded).
                _ = kernel32.WaitNamedPipeW(wide, busy_wait_ms);
            }
            return error.Busy;
        };
        errdefer _ = kernel32.CloseHandle(pipe);
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
        pub fn start(gpa: std.mem.Allocator, path: []const u8, port: u16) errors.Error!*Server {
            if (builtin.os.tag != .windows) return error.Unsupported;
            const server = try gpa.create(Server);
            errdefer gpa.destroy(server);
            server.* = .{ .gpa = gpa, .name = undefined, .port = port };
            _ = try wideName(path, &server.name);
            // The first instance is created here so that a name in use fails now.
            const first = server.instance() orelse return kernel32.lastError();
            _ = bridge.threads_live.fetchAdd(1, .acq_rel);
            const thread = std.Thread.spawn(.{ .stack_size = thread_stack_size }, accepting, .{ server, first }) catch {
                _ = kernel32.CloseHandle(first);
                _ = bridge.threads_live.fetchSub(1, .acq_rel);
                return error.OutOfMemory;
            };
            thread.detach();
            return server;
        }

        fn instance(server: *Server) ?usize {
            const pipe = kernel32.CreateNamedPipeW(@ptrCast(&server.name), pipe_access_duplex, 0, pipe_unlimited_instances, pipe_buffer_size, pipe_buffer_size, 0, null);
            return if (pipe == kernel32.invalid_handle) null else pipe;
        }

        fn accepting(server: *Server, first: usize) void {
            var pipe: ?usize = first;
            var rounds: u64 = 0;
            while (pipe) |current| : (rounds += 1) {
                std.debug.assert(rounds < std.math.maxInt(u64));
                const connected = kernel32.ConnectNamedPipe(current, null) != 0 or kernel32.GetLastError() == error_pipe_connected;
                if (server.stop.load(.acquire) or !connected) {
                    _ = kernel32.CloseHandle(current);
                    break;
                }
                server.bridgeClient(current) catch {
                    _ = kernel32.CloseHandle(current);
                };
                pipe = server.instance();
            }
            server.release();
        }

        fn bridgeClient(server: *Server, pipe: usize) errors.Error!void {
            const far = winsock.socket(sys.af_inet, winsock.SOCK_STREAM, 0);
            if (far == sys.invalid_fd) return winsock.lastError();
            errdefer sys.close(far);
            const target = sys.Address.ip4(.{ 127, 0, 0, 1 }, server.port);
            var blocking: u32 = 0;
            if (winsock.ioctlsocket(far, winsock.FIONBIO, &blocking) != 0) return winsock.lastError();
            if (winsock.connect(far, @ptrCast(&target.storage), @intCast(target.len)) != 0) return winsock.lastError();
            try bridge.start(server.gpa, .{ .read = pipe, .write = pipe }, far);
        }

        /// Stops creating instances: wakes the thread's ConnectNamedPipe with a client of its
        /// own, then lets go of the caller's reference.
        pub fn close(server: *Server) void {
            if (builtin.os.tag != .windows) return;
            server.stop.store(true, .release);
            const waker = kernel32.CreateFileW(@ptrCast(&server.name), kernel32.generic_read_write, 0, null, kernel32.open_existing, 0, null);
            if (waker != kernel32.invalid_handle) _ = kernel32.CloseHandle(waker);
            server.release();
        }

        fn release(server: *Server) void {
            if (server.refs.fetchSub(1, .acq_rel) != 1) return;
            server.gpa.destroy(server);
            _ = bridge.threads_live.fetchSub(1, .acq_rel);
        }
    };
};
