//! Instruction-count benchmark of the stream read path, meant to run under valgrind (whose
//! counts a shared, noisy machine does not disturb), over real sockets:
//!
//!   ops N      N read ops that wait, as an HTTP keep-alive server's readUntil("\r\n\r\n"):
//!              readNow says EAGAIN, startRead starts the op, the peer writes one request head,
//!              a poll completes the op, the head is taken.
//!   search N   N delimiter searches of a buffered HTTP request head (the bytes are there;
//!              each search starts from the head's first byte, as a fresh request's does).
//!   long N     the same over a browser-sized head (about 500 bytes).
//!   udp N      N datagrams as a UDP server answers: one staged (copied into the send queue),
//!              sent by sendQueued, and read by the peer.
//!
//! It prints the allocator calls made during the N rounds (after a warm-up), so a steady path
//! that allocates shows at once. Instructions per round: run twice with different N and divide
//! the difference of the totals by the difference of N (the setup cancels out):
//!
//!   echo 'pub const main = @import("evergreen").io.stream_bench.main;' > /tmp/bench_main.zig
//!   echo 'pub const test_exports = false;' > /tmp/bench_options.zig
//!   zig build-exe -OReleaseFast -lc --dep evergreen -Mroot=/tmp/bench_main.zig \
//!     -OReleaseFast --dep build_options -Mevergreen=zig/root.zig \
//!     -Mbuild_options=/tmp/bench_options.zig -femit-bin=/tmp/stream_bench
//!   valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
//!     /tmp/stream_bench ops 1000      # then ops 11000; (Ir2 - Ir1) / 10000
//!
//! (It lives in io/ as the layers require, so it is built through the library's root module.)

const std = @import("std");
const errors = @import("../loop/errors.zig");
const hub_module = @import("../hub/hub.zig");
const ring = @import("../loop/ring.zig");
const stream_module = @import("stream.zig");
const support = @import("../loop/test_support.zig");
const udp = @import("udp.zig");
const ip = @import("address.zig");

const Stream = stream_module.Stream;

/// What wrk sends.
const short_head = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
/// What a browser sends.
const long_head = "GET /articles/2026/12/fibers-in-deno?ref=home HTTP/1.1\r\n" ++
    "Host: www.example.com\r\n" ++
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\r\n" ++
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" ++
    "Accept-Language: en-US,en;q=0.5\r\n" ++
    "Accept-Encoding: gzip, deflate, br, zstd\r\n" ++
    "Connection: keep-alive\r\n" ++
    "Cookie: session=3f9a1c2e7b4d4e0f9a8b7c6d5e4f3a2b; theme=dark; lang=en\r\n" ++
    "Upgrade-Insecure-Requests: 1\r\n" ++
    "Sec-Fetch-Dest: document\r\n" ++
    "Sec-Fetch-Mode: navigate\r\n" ++
    "Sec-Fetch-Site: same-origin\r\n" ++
    "Priority: u=0, i\r\n\r\n";
const warmup_rounds = 100;

/// Counts the calls that reach the wrapped allocator.
const Counting = struct {
    inner: std.mem.Allocator,
    calls: u64 = 0,

    fn allocator(self: *Counting) std.mem.Allocator {
        return .{ .ptr = self, .vtable = &.{ .alloc = alloc, .resize = resize, .remap = remap, .free = free } };
    }

    fn alloc(ctx: *anyopaque, len: usize, alignment: std.mem.Alignment, ret_addr: usize) ?[*]u8 {
        const self: *Counting = @ptrCast(@alignCast(ctx));
        self.calls += 1;
        return self.inner.rawAlloc(len, alignment, ret_addr);
    }

    fn resize(ctx: *anyopaque, memory: []u8, alignment: std.mem.Alignment, new_len: usize, ret_addr: usize) bool {
        const self: *Counting = @ptrCast(@alignCast(ctx));
        self.calls += 1;
        return self.inner.rawResize(memory, alignment, new_len, ret_addr);
    }

    fn remap(ctx: *anyopaque, memory: []u8, alignment: std.mem.Alignment, new_len: usize, ret_addr: usize) ?[*]u8 {
        const self: *Counting = @ptrCast(@alignCast(ctx));
        self.calls += 1;
        return self.inner.rawRemap(memory, alignment, new_len, ret_addr);
    }

    fn free(ctx: *anyopaque, memory: []u8, alignment: std.mem.Alignment, ret_addr: usize) void {
        const self: *Counting = @ptrCast(@alignCast(ctx));
        self.calls += 1;
        self.inner.rawFree(memory, alignment, ret_addr);
    }
};

const Bench = struct {
    counting: Counting,
    hub: *hub_module.Hub,
    stream: *Stream,
    peer: i32,

    fn init(bench: *Bench) !void {
        bench.counting = .{ .inner = std.heap.c_allocator };
        const gpa = bench.counting.allocator();
        bench.hub = try hub_module.Hub.create(gpa, .{});
        const fds = try support.socketPair();
        bench.peer = fds[1];
        bench.stream = try Stream.create(gpa, 0, fds[0], .socket, 64 * 1024);
        try bench.stream.setDelimiter("\r\n\r\n");
    }

    fn deinit(bench: *Bench) void {
        bench.stream.close(bench.hub);
        support.close(bench.peer);
        bench.hub.destroy();
    }

    /// One request as a server reads it when it has to wait for it.
    fn readOp(bench: *Bench, token: u32) !void {
        const stream = bench.stream;
        if (stream.readNow(.until, 0) != errors.negative(error.WouldBlock)) return error.Unexpected;
        if (stream.startRead(bench.hub, .until, 0, token) != errors.negative(error.InProgress)) return error.Unexpected;
        if (try support.write(bench.peer, short_head) != short_head.len) return error.Unexpected;
        var out: [1]ring.Record = undefined;
        var rounds: u32 = 0;
        while (support.drain(&bench.hub.loop.ring, &out) == 0) : (rounds += 1) {
            if (rounds == 1000) return error.TimedOut;
            _ = try bench.hub.poll(1000);
        }
        if (out[0].token != token or out[0].result != short_head.len) return error.Unexpected;
        try stream.take(null, short_head.len);
    }

    /// One search of a buffered head from its first byte.
    fn search(bench: *Bench, length: usize) !void {
        const stream = bench.stream;
        stream.window.scan = stream.window.start;
        if (stream.readNow(.until, 0) != @as(i32, @intCast(length))) return error.Unexpected;
    }

    fn buffer(bench: *Bench, head: []const u8) !void {
        if (try support.write(bench.peer, head) != head.len) return error.Unexpected;
        var rounds: u32 = 0;
        while (bench.stream.readNow(.until, 0) != @as(i32, @intCast(head.len))) : (rounds += 1) {
            if (rounds == 1000) return error.TimedOut;
            support.sleepMs(1);
        }
    }
};

/// One datagram staged, sent and received, per round (a DNS responder's answer).
fn udpRounds(counting: *Counting, rounds: u32) !u64 {
    const loopback = try ip.parse("127.0.0.1", 0);
    const sender_handle = try udp.open(counting.allocator(), 0, ip.Address.ip4, .{});
    defer udp.close(sender_handle, null) catch {};
    const receiver_handle = try udp.open(std.heap.c_allocator, 0, ip.Address.ip4, .{});
    defer udp.close(receiver_handle, null) catch {};
    const sender = try udp.get(sender_handle);
    const receiver = try udp.get(receiver_handle);
    try sender.bind(&loopback, 0);
    try receiver.bind(&loopback, 0);
    const target = try receiver.sockname();
    const answer: [48]u8 = @splat(0x5a);
    var calls: u64 = 0;
    for (0..warmup_rounds + rounds) |round| {
        if (round == warmup_rounds) calls = counting.calls;
        _ = try sender.stage(&answer, &target);
        if (sender.sendQueued().status != .sent) return error.Unexpected;
        var got: [64]u8 = undefined;
        var tries: u32 = 0;
        while (true) : (tries += 1) {
            if (tries == 1000) return error.TimedOut;
            const n = support.read(receiver.fd, &got) catch |err| switch (err) {
                error.WouldBlock => continue,
                else => return err,
            };
            if (n != answer.len) return error.Unexpected;
            break;
        }
    }
    return counting.calls - calls;
}

pub fn main(init: std.process.Init) !void {
    const args = try init.minimal.args.toSlice(init.arena.allocator());
    if (args.len != 3) return error.Usage;
    const workload = args[1];
    const rounds = try std.fmt.parseInt(u32, args[2], 10);

    var bench: Bench = undefined;
    try bench.init();
    defer bench.deinit();
    var calls: u64 = 0;
    if (std.mem.eql(u8, workload, "ops")) {
        for (0..warmup_rounds) |round| try bench.readOp(@intCast(round));
        const before = bench.counting.calls;
        for (0..rounds) |round| try bench.readOp(@intCast(round));
        calls = bench.counting.calls - before;
    } else if (std.mem.eql(u8, workload, "search") or std.mem.eql(u8, workload, "long")) {
        const head: []const u8 = if (std.mem.eql(u8, workload, "search")) short_head else long_head;
        try bench.buffer(head);
        for (0..warmup_rounds) |_| try bench.search(head.len);
        const before = bench.counting.calls;
        for (0..rounds) |_| try bench.search(head.len);
        calls = bench.counting.calls - before;
    } else if (std.mem.eql(u8, workload, "udp")) {
        calls = try udpRounds(&bench.counting, rounds);
    } else return error.Usage;

    var text: [256]u8 = undefined;
    var stdout_writer: std.Io.File.Writer = .initStreaming(.stdout(), init.io, &text);
    const stdout = &stdout_writer.interface;
    try stdout.print("{{\"workload\":\"{s}\",\"rounds\":{d},\"allocator_calls\":{d}}}\n", .{ workload, rounds, calls });
    try stdout.flush();
}
