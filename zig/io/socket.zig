//! Connecting and listening stream sockets of any family, as hub ops: Connect resolves a host
//! name off the loop thread when needed and tries every address in order until one answers;
//! AcceptLoop accepts connections for as long as the server serves and posts each one as an
//! intermediate record. tcp.zig and pipe.zig start them with their own addresses.

const std = @import("std");
const errors = @import("../loop/errors.zig");
const event = @import("../loop/event.zig");
const hub_module = @import("../hub/hub.zig");
const resolve = @import("resolve.zig");
const stream_module = @import("stream.zig");
const sys = @import("sys.zig");

const Stream = stream_module.Stream;

/// Connections one accept pass takes before the op waits a turn (level-triggered: the
/// listener is still readable next poll), so a flood of clients cannot hold the loop.
const accept_batch_max = 64;

/// Result of an intermediate accept record: a connection's handle is in aux.
pub const accepted_result: i32 = 1;

pub const Connect = struct {
    pub const kind = stream_module.kind_connect;

    op: hub_module.Op,
    stream: *Stream,
    /// A lookup to wait for first, or null when `addresses` are known.
    request: ?*resolve.Request = null,
    addresses: [resolve.addresses_max]sys.Address = undefined,
    count: u32 = 0,
    source: ?sys.Address = null,
    tcp: bool,

    /// Result 0 (aux: the index of the address that answered) or the last address's -code.
    pub fn run(self: *Connect) hub_module.Completion {
        const stream = self.stream;
        defer stream.opFinished(&stream.connect_live);
        if (self.request) |request| {
            self.request = null;
            self.awaitLookup(request) catch |err| return .fail(err);
        }
        std.debug.assert(self.count > 0 and self.count <= resolve.addresses_max);
        var last: errors.Error = error.AddressFamilyNotSupported;
        for (self.addresses[0..self.count], 0..) |*address, index| {
            if (self.source) |*source| {
                if (source.family() != address.family()) continue;
            }
            self.attempt(address) catch |err| {
                if (err == error.Canceled) return .fail(err);
                last = err;
                continue;
            };
            return .{ .result = 0, .aux = @intCast(index) };
        }
        return .fail(last);
    }

    fn awaitLookup(self: *Connect, request: *resolve.Request) errors.Error!void {
        const stream = self.stream;
        const fd = request.waitFd();
        stream.aux_fd = fd;
        defer {
            stream.aux_fd = sys.invalid_fd;
            // Before the close: the number may be handed out again at once.
            self.op.hub.loop.cancelWaiters(fd);
            request.release();
        }
        try stream.waitOn(&self.op, .write, fd, true);
        const found = try request.result();
        @memcpy(self.addresses[0..found.len], found);
        self.count = @intCast(found.len);
    }

    fn attempt(self: *Connect, address: *const sys.Address) errors.Error!void {
        const stream = self.stream;
        const fd = try sys.openSocket(address.family(), .stream);
        stream.fd = fd;
        errdefer {
            self.op.hub.loop.cancelWaiters(fd);
            sys.close(fd);
            stream.fd = sys.invalid_fd;
        }
        // Latency over batching, as for every stream here (TCP_NODELAY on by default).
        if (self.tcp) sys.setNoDelay(fd) catch {};
        if (self.source) |*source| try sys.bind(fd, source);
        if (!try sys.connect(fd, address)) {
            try stream.waitFor(&self.op, .write, fd);
            try sys.pendingError(fd);
        }
        stream.keepPeer(address);
    }
};

/// Starts connecting an unconnected stream to `addresses`, or to what `host` resolves to when
/// no addresses are given: -EINPROGRESS, or -code.
pub fn startConnect(
    stream: *Stream,
    hub: *hub_module.Hub,
    addresses: []const sys.Address,
    host: []const u8,
    port: u16,
    source: ?sys.Address,
    tcp: bool,
    token: u32,
) i32 {
    std.debug.assert(addresses.len <= resolve.addresses_max);
    if (stream.closed) return errors.negative(error.BadDescriptor);
    if (stream.role != .stream) return errors.negative(error.InvalidArgument);
    if (stream.connect_live) return errors.negative(error.AlreadyInProgress);
    if (stream.fd != sys.invalid_fd) return errors.negative(error.AlreadyConnected);
    var value: Connect = .{ .op = undefined, .stream = stream, .source = source, .tcp = tcp };
    if (addresses.len > 0) {
        @memcpy(value.addresses[0..addresses.len], addresses);
        value.count = @intCast(addresses.len);
    } else {
        value.request = resolve.start(stream.gpa, host, port) catch |err| return errors.negative(err);
    }
    stream.opStarting(&stream.connect_live);
    hub.start(Connect, value, token) catch |err| {
        if (value.request) |request| request.release();
        stream.opFinished(&stream.connect_live);
        return errors.negative(err);
    };
    return errors.negative(error.InProgress);
}

/// Completes at once with result 0: a connection made without waiting (a Windows named pipe,
/// opened synchronously) still reports through the ring like any connect.
pub const Connected = struct {
    pub const kind = stream_module.kind_connect;

    op: hub_module.Op,
    stream: *Stream,

    pub fn run(self: *Connected) hub_module.Completion {
        self.stream.opFinished(&self.stream.connect_live);
        return .{ .result = 0 };
    }
};

/// Gives an unconnected stream its connected descriptor fd and posts the connect completion.
pub fn startConnected(stream: *Stream, hub: *hub_module.Hub, fd: event.Fd, token: u32) i32 {
    if (stream.closed) return errors.negative(error.BadDescriptor);
    if (stream.connect_live) return errors.negative(error.AlreadyInProgress);
    if (stream.fd != sys.invalid_fd) return errors.negative(error.AlreadyConnected);
    stream.fd = fd;
    stream.opStarting(&stream.connect_live);
    hub.start(Connected, .{ .op = undefined, .stream = stream }, token) catch |err| {
        stream.opFinished(&stream.connect_live);
        stream.fd = sys.invalid_fd;
        return errors.negative(err);
    };
    return errors.negative(error.InProgress);
}

/// A listening socket bound to address (which must not be in use) as a listener stream.
pub fn listen(
    gpa: std.mem.Allocator,
    loop_handle: u32,
    address: *const sys.Address,
    backlog: u31,
    read_max: usize,
    tcp: bool,
    reuse_port: bool,
) errors.Error!*Stream {
    const fd = try sys.openSocket(address.family(), .stream);
    errdefer sys.close(fd);
    if (tcp) try sys.setReuseAddress(fd);
    if (reuse_port) try sys.setReusePort(fd);
    try sys.bind(fd, address);
    const unix = address.family() == sys.af_unix;
    errdefer if (unix) sys.unlinkPath(unixPath(address));
    // Listening at once makes a port or path in use an error of bind(), where callers look.
    try sys.listen(fd, backlog);
    const server = try Stream.create(gpa, loop_handle, fd, .socket, read_max);
    server.role = .listener;
    server.accept_read_max = read_max;
    server.accept_tcp = tcp;
    if (unix) {
        // Close removes the socket file only while it is still this one (see Stream.close).
        const path = unixPath(address);
        if (sys.socketFileId(path)) |id| {
            @memcpy(server.unlink_path[0..path.len], path);
            server.unlink_len = path.len;
            server.unlink_id = id;
        }
    }
    return server;
}

fn unixPath(address: *const sys.Address) []const u8 {
    const raw = address.storage[2..@max(2, address.len)];
    return raw[0 .. std.mem.indexOfScalar(u8, raw, 0) orelse raw.len];
}

/// Accepts connections and posts each as { result 1, aux handle } until closed or canceled;
/// the final record is -ECANCELED then, or the error that stopped accepting.
pub const AcceptLoop = struct {
    pub const kind = stream_module.kind_accept;

    op: hub_module.Op,
    server: *Stream,

    pub fn run(self: *AcceptLoop) hub_module.Completion {
        const server = self.server;
        defer server.opFinished(&server.accept_live);
        var batch: u32 = 0;
        while (true) {
            if (server.closed or server.cancel_read) return .fail(error.Canceled);
            if (batch == accept_batch_max) {
                batch = 0;
                server.waitFor(&self.op, .read, server.fd) catch |err| return .fail(err);
                continue;
            }
            var peer: sys.Address = .{};
            const fd = sys.accept(server.fd, &peer) catch |err| switch (err) {
                error.WouldBlock => {
                    batch = 0;
                    server.waitFor(&self.op, .read, server.fd) catch |wait_err| return .fail(wait_err);
                    continue;
                },
                // The client gave up before we took it: nothing to hand over.
                error.ConnectionAborted, error.ConnectionReset, error.Interrupted => {
                    batch += 1;
                    continue;
                },
                else => return .fail(err),
            };
            batch += 1;
            const connection = adopt(server, fd, &peer) catch |err| {
                sys.close(fd);
                return .fail(err);
            };
            self.op.post(accepted_result, connection.handle) catch |err| {
                connection.close(null);
                return .fail(err);
            };
        }
    }

    fn adopt(server: *Stream, fd: event.Fd, peer: *const sys.Address) errors.Error!*Stream {
        if (server.accept_tcp) sys.setNoDelay(fd) catch {};
        const connection = try Stream.create(server.gpa, server.loop_handle, fd, .socket, server.accept_read_max);
        connection.keepPeer(peer);
        return connection;
    }
};

/// Starts the accept loop of a listener: -EINPROGRESS or -code.
pub fn startAccept(server: *Stream, hub: *hub_module.Hub, token: u32) i32 {
    if (server.closed) return errors.negative(error.BadDescriptor);
    if (server.role != .listener) return errors.negative(error.InvalidArgument);
    if (server.accept_live) return errors.negative(error.AlreadyInProgress);
    server.opStarting(&server.accept_live);
    hub.start(AcceptLoop, .{ .op = undefined, .server = server }, token) catch |err| {
        server.opFinished(&server.accept_live);
        return errors.negative(err);
    };
    return errors.negative(error.InProgress);
}

// ---------------------------------------------------------------------------------------
// Tests: a real listener and clients on 127.0.0.1, driven through the hub.

const testing = std.testing;
const ring = @import("../loop/ring.zig");
const support = @import("../loop/test_support.zig");

/// Polls until the hub posts a record (at most ~3 s), and takes it as JS does.
fn nextRecord(hub: *hub_module.Hub) !ring.Record {
    var out: [1]ring.Record = undefined;
    var rounds: u32 = 0;
    while (rounds < 300) : (rounds += 1) {
        if (support.drain(&hub.loop.ring, &out) == 1) return out[0];
        _ = try hub.poll(10);
    }
    return error.TimedOut;
}

/// A listener on 127.0.0.1 at a port the OS picks, and the address it listens on.
fn loopbackListener() !struct { stream: *Stream, address: sys.Address } {
    var address = sys.Address.ip4(.{ 127, 0, 0, 1 }, 0);
    const stream = try listen(testing.allocator, 0, &address, 16, 1024, true, false);
    errdefer stream.close(null);
    return .{ .stream = stream, .address = try sys.localAddress(stream.fd) };
}

/// A stream with no socket yet, for startConnect.
fn unconnected() !*Stream {
    return Stream.create(testing.allocator, 0, sys.invalid_fd, .socket, 1024);
}

test "a client connects to a listener, the accept loop posts the connection, bytes flow" {
    const hub = try hub_module.Hub.create(testing.allocator, .{});
    defer hub.destroy();
    const listener = try loopbackListener();
    const server = listener.stream;
    defer if (!server.closed) server.close(hub);
    try testing.expectEqual(errors.negative(error.InProgress), startAccept(server, hub, 1));

    const client = try unconnected();
    defer if (!client.closed) client.close(hub);
    try testing.expectEqual(errors.negative(error.InProgress), startConnect(client, hub, &.{listener.address}, "", 0, null, true, 2));

    var connected = false;
    var accepted: ?*Stream = null;
    while (!connected or accepted == null) {
        const record = try nextRecord(hub);
        switch (record.token) {
            1 => {
                try testing.expectEqual(accepted_result, record.result);
                accepted = try stream_module.streams.get(record.aux);
            },
            2 => {
                try testing.expectEqual(@as(i32, 0), record.result);
                connected = true;
            },
            else => return error.UnexpectedRecord,
        }
    }
    const connection = accepted.?;
    defer connection.close(hub);
    try testing.expectEqual(@as(i32, 1), client.write("ping"));
    try testing.expectEqual(errors.negative(error.InProgress), connection.startRead(hub, .exact, 4, 3));
    const read = try nextRecord(hub);
    try testing.expectEqual(@as(i32, 4), read.result);

    server.close(hub);
    const last = try nextRecord(hub);
    try testing.expectEqual(@as(u32, 1), last.token);
    try testing.expectEqual(errors.negative(error.Canceled), last.result);
}

test "connect tries every address in order and reports the last failure" {
    const hub = try hub_module.Hub.create(testing.allocator, .{});
    defer hub.destroy();
    const client = try unconnected();
    defer client.close(hub);
    const refused = [_]sys.Address{ sys.Address.ip4(.{ 127, 0, 0, 1 }, 9), sys.Address.ip4(.{ 127, 0, 0, 1 }, 7) };
    try testing.expectEqual(errors.negative(error.InProgress), startConnect(client, hub, &refused, "", 0, null, true, 4));
    const record = try nextRecord(hub);
    try testing.expectEqual(errors.negative(error.ConnectionRefused), record.result);
    try testing.expectEqual(sys.invalid_fd, client.fd);
}

test "a name is resolved off the loop thread, then connected to" {
    const hub = try hub_module.Hub.create(testing.allocator, .{});
    defer hub.destroy();
    const listener = try loopbackListener();
    defer listener.stream.close(hub);
    const port = listener.address.port();
    const client = try unconnected();
    defer client.close(hub);
    try testing.expectEqual(errors.negative(error.InProgress), startConnect(client, hub, &.{}, "localhost", port, null, true, 5));
    const record = try nextRecord(hub);
    // localhost may list ::1 first, where nothing listens: the IPv4 address answers then.
    try testing.expectEqual(@as(i32, 0), record.result);

    const other = try unconnected();
    defer other.close(hub);
    try testing.expectEqual(errors.negative(error.InProgress), startConnect(other, hub, &.{}, "no-such-host.invalid", port, null, true, 6));
    try testing.expectEqual(errors.negative(error.NotFound), (try nextRecord(hub)).result);
}

test "closing a client while it resolves cancels the lookup without leaking" {
    const hub = try hub_module.Hub.create(testing.allocator, .{});
    defer hub.destroy();
    const client = try unconnected();
    try testing.expectEqual(errors.negative(error.InProgress), startConnect(client, hub, &.{}, "localhost", 1, null, true, 7));
    client.close(hub);
    try testing.expectEqual(errors.negative(error.Canceled), (try nextRecord(hub)).result);
    var waited: u32 = 0;
    while (resolve.inFlight() != 0 and waited < 2000) : (waited += 1) support.sleepMs(5);
}

test "a port in use is refused by listen" {
    const hub = try hub_module.Hub.create(testing.allocator, .{});
    defer hub.destroy();
    var listener = try loopbackListener();
    defer listener.stream.close(hub);
    try testing.expectError(error.AddressInUse, listen(testing.allocator, 0, &listener.address, 16, 1024, true, false));
}
