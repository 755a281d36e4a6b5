//! Benchmark of a native stacklet round trip (two switches) between main and a shallow stacklet,
//! on a dedicated stack region as the library runs them. Prints one JSON line on stdout: the
//! median and the minimum over `run_count` short runs of the mean round trip in each run (the
//! minimum is the figure least disturbed by other processes on a shared machine).

const std = @import("std");
const stacklet = @import("stacklet.zig");

const warmup_round_trip_count = 200_000;
const round_trip_count = 500_000;
const run_count = 21;
const stack_size = 256 * 1024;

const Bench = struct {
    io: std.Io,
    thread: *stacklet.Thread = undefined,
    stopping: bool = false,
    run_ns: [run_count]f64 = undefined,
    failure: ?anyerror = null,

    /// The stacklet: bounces straight back to whoever switched to it until told to stop.
    fn echo(origin: stacklet.Handle, arg: ?*anyopaque) callconv(.c) stacklet.Handle {
        const bench: *Bench = @ptrCast(@alignCast(arg.?));
        var handle = origin;
        while (!bench.stopping) {
            handle = stacklet.switchTo(bench.thread, handle) catch |err| {
                bench.failure = err;
                return handle;
            };
        }
        return handle;
    }

    fn entry(arg: ?*anyopaque) callconv(.c) void {
        const bench: *Bench = @ptrCast(@alignCast(arg.?));
        bench.measure() catch |err| {
            bench.failure = err;
        };
    }

    fn measure(bench: *Bench) !void {
        bench.thread = try stacklet.newThread(std.heap.smp_allocator);
        defer stacklet.deleteThread(bench.thread);
        var handle = try stacklet.new(bench.thread, echo, bench);
        for (0..warmup_round_trip_count) |_| handle = try stacklet.switchTo(bench.thread, handle);
        for (&bench.run_ns) |*run_ns| {
            const start = std.Io.Clock.awake.now(bench.io);
            for (0..round_trip_count) |_| handle = try stacklet.switchTo(bench.thread, handle);
            const elapsed = start.durationTo(std.Io.Clock.awake.now(bench.io));
            run_ns.* = @as(f64, @floatFromInt(elapsed.nanoseconds)) / round_trip_count;
        }
        bench.stopping = true;
        const last = try stacklet.switchTo(bench.thread, handle);
        if (last != null) return error.StackletDidNotFinish;
        if (bench.failure) |err| return err;
    }
};

pub fn main(init: std.process.Init) !void {
    var stack = try stacklet.Stack.init(std.heap.smp_allocator, stack_size);
    defer stack.deinit(std.heap.smp_allocator);
    var bench: Bench = .{ .io = init.io };
    try stacklet.enterStack(&stack, Bench.entry, &bench);
    if (bench.failure) |err| return err;

    std.mem.sort(f64, &bench.run_ns, {}, std.sort.asc(f64));
    var buffer: [256]u8 = undefined;
    var stdout_writer: std.Io.File.Writer = .initStreaming(.stdout(), init.io, &buffer);
    const stdout = &stdout_writer.interface;
    try stdout.print(
        "{{\"native_stacklet_round_trip_ns\":{d:.1},\"min_ns\":{d:.1},\"runs\":{d},\"round_trips_per_run\":{d}}}\n",
        .{ bench.run_ns[run_count / 2], bench.run_ns[0], run_count, round_trip_count },
    );
    try stdout.flush();
}
