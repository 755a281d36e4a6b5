//! Tests of `stacklet.zig`, run with the leak-checking allocator. Most run inside `enterStack` on a
//! dedicated region, as the library always uses stacklets; stacklets report failures through their
//! context structs, since a stacklet's run() cannot return a Zig error.

const std = @import("std");
const builtin = @import("builtin");
const stacklet = @import("stacklet.zig");

const testing = std.testing;
const Handle = stacklet.Handle;
const Thread = stacklet.Thread;

const test_stack_size = 8 * 1024 * 1024;

/// Runs `body(context)` on a fresh dedicated stack region and returns its result.
fn onStack(comptime Context: type, comptime body: fn (*Context) anyerror!void, context: *Context) !void {
    var stack = try stacklet.Stack.init(testing.allocator, test_stack_size);
    defer stack.deinit(testing.allocator);
    const Call = struct {
        context: *Context,
        result: anyerror!void = {},
        fn entry(arg: ?*anyopaque) callconv(.c) void {
            const call: *@This() = @ptrCast(@alignCast(arg.?));
            call.result = body(call.context);
        }
    };
    var call: Call = .{ .context = context };
    try stacklet.enterStack(&stack, Call.entry, &call);
    return call.result;
}

fn contextOf(comptime T: type, arg: ?*anyopaque) *T {
    return @ptrCast(@alignCast(arg.?));
}

fn switchOrNull(thread: *Thread, target: Handle) Handle {
    return stacklet.switchTo(thread, target) catch null;
}

const PingPong = struct {
    thread: *Thread = undefined,
    log: [8]u8 = @splat(0),
    log_len: usize = 0,

    fn note(self: *PingPong, step: u8) void {
        self.log[self.log_len] = step;
        self.log_len += 1;
    }

    fn run(origin: Handle, arg: ?*anyopaque) callconv(.c) Handle {
        const self = contextOf(PingPong, arg);
        self.note(1);
        const back = switchOrNull(self.thread, origin);
        self.note(3);
        return back;
    }

    fn body(self: *PingPong) !void {
        self.thread = try stacklet.newThread(testing.allocator);
        defer stacklet.deleteThread(self.thread);
        const suspended = try stacklet.new(self.thread, run, self);
        try testing.expect(suspended != null);
        try testing.expectEqual(@as(usize, 1), stacklet.suspendedCount(self.thread));
        self.note(2);
        const finished = try stacklet.switchTo(self.thread, suspended);
        try testing.expectEqual(@as(Handle, null), finished);
        try testing.expectEqualSlices(u8, &.{ 1, 2, 3 }, self.log[0..self.log_len]);
        try testing.expectEqual(@as(usize, 0), stacklet.suspendedCount(self.thread));
    }
};

test "new runs the stacklet at once and switchTo resumes it until it finishes" {
    var context: PingPong = .{};
    try onStack(PingPong, PingPong.body, &context);
}

test "stacklets also work on the OS thread's own stack" {
    var context: PingPong = .{};
    try PingPong.body(&context);
}

const Relay = struct {
    thread: *Thread = undefined,
    main_handle: Handle = null,
    a_handle: Handle = null,
    a_resumed_by_main: bool = false,

    fn runA(origin: Handle, arg: ?*anyopaque) callconv(.c) Handle {
        const self = contextOf(Relay, arg);
        self.main_handle = origin;
        const back = stacklet.new(self.thread, runB, self) catch return origin;
        self.a_resumed_by_main = back != null and back == self.main_handle;
        return back;
    }

    /// Returns main's handle, not its origin's: finishing resumes main and leaves A suspended.
    fn runB(origin: Handle, arg: ?*anyopaque) callconv(.c) Handle {
        const self = contextOf(Relay, arg);
        self.a_handle = origin;
        return self.main_handle;
    }

    fn body(self: *Relay) !void {
        self.thread = try stacklet.newThread(testing.allocator);
        defer stacklet.deleteThread(self.thread);
        const first = try stacklet.new(self.thread, runA, self);
        try testing.expectEqual(@as(Handle, null), first);
        try testing.expect(self.a_handle != null);
        try testing.expectEqual(@as(usize, 1), stacklet.suspendedCount(self.thread));
        const second = try stacklet.switchTo(self.thread, self.a_handle);
        try testing.expectEqual(@as(Handle, null), second);
        try testing.expect(self.a_resumed_by_main);
        try testing.expectEqual(@as(usize, 0), stacklet.suspendedCount(self.thread));
    }
};

test "run() returning switches to the handle it returns, and the finished stacklet has no handle" {
    var context: Relay = .{};
    try onStack(Relay, Relay.body, &context);
}

const Abandoned = struct {
    thread: *Thread = undefined,
    deferred_ran: bool = false,
    resumed: bool = false,

    fn run(origin: Handle, arg: ?*anyopaque) callconv(.c) Handle {
        const self = contextOf(Abandoned, arg);
        defer self.deferred_ran = true;
        const back = switchOrNull(self.thread, origin);
        self.resumed = true;
        return back;
    }

    fn body(self: *Abandoned) !void {
        self.thread = try stacklet.newThread(testing.allocator);
        defer stacklet.deleteThread(self.thread);
        const suspended = try stacklet.new(self.thread, run, self);
        try stacklet.destroyChecked(self.thread, suspended);
        try testing.expect(!self.deferred_ran);
        try testing.expect(!self.resumed);
        try testing.expectEqual(@as(usize, 0), stacklet.suspendedCount(self.thread));
        try testing.expectError(error.InvalidHandle, stacklet.destroyChecked(self.thread, suspended));
        try testing.expectError(error.InvalidHandle, stacklet.switchTo(self.thread, suspended));
    }
};

test "destroy frees a suspended stacklet without resuming it" {
    var context: Abandoned = .{};
    try onStack(Abandoned, Abandoned.body, &context);
}

fn fillPattern(data: []u64, seed: u64) void {
    for (data, 0..) |*word, index| word.* = std.hash.int(seed *% 0x9e3779b97f4a7c15 +% index);
}

fn patternHolds(data: []const u64, seed: u64) bool {
    for (data, 0..) |word, index| {
        if (word != std.hash.int(seed *% 0x9e3779b97f4a7c15 +% index)) return false;
    }
    return true;
}

const LocalData = struct {
    const round_count = 1000;
    thread: *Thread = undefined,
    stacklet_failures: usize = 0,
    stacklet_rounds: usize = 0,

    fn run(origin: Handle, arg: ?*anyopaque) callconv(.c) Handle {
        const self = contextOf(LocalData, arg);
        var data: [64]u64 = undefined;
        var handle = origin;
        for (0..round_count) |round| {
            fillPattern(&data, 1000 + round);
            handle = switchOrNull(self.thread, handle);
            if (!patternHolds(&data, 1000 + round)) self.stacklet_failures += 1;
            self.stacklet_rounds += 1;
        }
        return handle;
    }

    fn body(self: *LocalData) !void {
        self.thread = try stacklet.newThread(testing.allocator);
        defer stacklet.deleteThread(self.thread);
        var data: [64]u64 = undefined;
        var handle = try stacklet.new(self.thread, run, self);
        var round: usize = 0;
        while (handle != null) : (round += 1) {
            try testing.expect(round <= round_count);
            fillPattern(&data, round);
            handle = try stacklet.switchTo(self.thread, handle);
            try testing.expect(patternHolds(&data, round));
        }
        try testing.expectEqual(@as(usize, round_count), round);
        try testing.expectEqual(@as(usize, round_count), self.stacklet_rounds);
        try testing.expectEqual(@as(usize, 0), self.stacklet_failures);
    }
};

test "stack-local data of both sides is intact across 2000 switches" {
    var context: LocalData = .{};
    try onStack(LocalData, LocalData.body, &context);
}

const DeepRecursion = struct {
    const depth_max = 10_000;
    const switch_every = 1_000;
    thread: *Thread = undefined,
    origin: Handle = null,
    failures: usize = 0,
    switches: usize = 0,
    deepest: usize = 0,

    /// Each frame keeps data derived from its depth and checks it after the deeper frames return,
    /// switching to main every `switch_every` frames on the way down and up.
    noinline fn descend(self: *DeepRecursion, depth: usize) void {
        var data: [4]u64 = undefined;
        fillPattern(&data, depth);
        if (depth % switch_every == 0) self.switchToMain();
        if (depth < depth_max) self.descend(depth + 1) else self.deepest = depth;
        if (depth % switch_every == 0) self.switchToMain();
        if (!patternHolds(&data, depth)) self.failures += 1;
    }

    fn switchToMain(self: *DeepRecursion) void {
        self.origin = switchOrNull(self.thread, self.origin);
        self.switches += 1;
    }

    fn run(origin: Handle, arg: ?*anyopaque) callconv(.c) Handle {
        const self = contextOf(DeepRecursion, arg);
        self.origin = origin;
        self.descend(1);
        return self.origin;
    }

    /// Main's own recursion runs over the memory the stacklet's frames occupied.
    noinline fn trample(depth: usize) u64 {
        var data: [16]u64 = undefined;
        fillPattern(&data, depth +% 77);
        const below = if (depth == 0) 0 else trample(depth - 1);
        return below +% data[depth % data.len];
    }

    fn body(self: *DeepRecursion) !void {
        self.thread = try stacklet.newThread(testing.allocator);
        defer stacklet.deleteThread(self.thread);
        var handle = try stacklet.new(self.thread, run, self);
        var rounds: usize = 0;
        while (handle != null) : (rounds += 1) {
            try testing.expect(rounds <= 2 * depth_max / switch_every + 2);
            std.mem.doNotOptimizeAway(trample(rounds * 100));
            handle = try stacklet.switchTo(self.thread, handle);
        }
        try testing.expectEqual(@as(usize, depth_max), self.deepest);
        try testing.expectEqual(@as(usize, 2 * depth_max / switch_every), self.switches);
        try testing.expectEqual(@as(usize, 0), self.failures);
    }
};

test "a stacklet 10k frames deep keeps every frame's data across switches" {
    var context: DeepRecursion = .{};
    try onStack(DeepRecursion, DeepRecursion.body, &context);
}

/// 1200 stacklets at different depths switch among themselves and main in a pseudo-random order;
/// main destroys some of them on the way. Every member checks its stack-local data after each switch.
const Swarm = struct {
    const member_count = 1200;
    const main_index = member_count;
    const switch_count = 30_000;
    const destroy_every = 300;

    const Member = struct {
        swarm: *Swarm,
        index: usize,
        generation: u64 = 0,
        finished: bool = false,
    };

    thread: *Thread = undefined,
    /// The handle of every suspended participant; null for the running one and the gone ones.
    handles: [member_count + 1]Handle = @splat(null),
    members: [member_count]Member = undefined,
    destroyed: [member_count]bool = @splat(false),
    previous: usize = main_index,
    random: std.Random.DefaultPrng = .init(0x5eed),
    switches_left: usize = switch_count,
    finishing: bool = false,
    failures: usize = 0,
    errors: usize = 0,

    /// A suspended participant other than `self_index`, chosen at random; main if there is none.
    fn pickNext(swarm: *Swarm, self_index: usize) usize {
        const start = swarm.random.random().uintLessThan(usize, member_count + 1);
        for (0..member_count + 1) |offset| {
            const index = (start + offset) % (member_count + 1);
            if (index != self_index and swarm.handles[index] != null) return index;
        }
        return main_index;
    }

    /// The switch protocol of every participant: the resumed one records who switched to it.
    /// Now and then the running participant first destroys a suspended member.
    fn switchFrom(swarm: *Swarm, self_index: usize, next_index: usize) void {
        if (swarm.switches_left % destroy_every == 0 and !swarm.finishing) swarm.destroyOne(next_index);
        const target = swarm.handles[next_index];
        swarm.handles[next_index] = null;
        swarm.previous = self_index;
        const got = stacklet.switchTo(swarm.thread, target) catch {
            swarm.errors += 1;
            return;
        };
        swarm.handles[swarm.previous] = got;
    }

    fn memberRun(origin: Handle, arg: ?*anyopaque) callconv(.c) Handle {
        const member = contextOf(Member, arg);
        const swarm = member.swarm;
        swarm.handles[swarm.previous] = origin;
        swarm.memberDescend(member, member.index % 6);
        member.finished = true;
        const main = swarm.handles[main_index];
        swarm.handles[main_index] = null;
        swarm.previous = member.index;
        return main;
    }

    /// Recursion of a member-dependent depth, so that the slices differ and partly overlap.
    noinline fn memberDescend(swarm: *Swarm, member: *Member, depth: usize) void {
        var frame_data: [8]u64 = undefined;
        fillPattern(&frame_data, member.index * 100 + depth);
        if (depth == 0) swarm.memberLoop(member) else swarm.memberDescend(member, depth - 1);
        if (!patternHolds(&frame_data, member.index * 100 + depth)) swarm.failures += 1;
    }

    fn memberLoop(swarm: *Swarm, member: *Member) void {
        var data: [16]u64 = undefined;
        var steps: usize = 0;
        while (!swarm.finishing) : (steps += 1) {
            if (steps > switch_count) break;
            const seed = (@as(u64, member.index) << 32) | member.generation;
            fillPattern(&data, seed);
            const next = if (swarm.switches_left == 0) main_index else swarm.pickNext(member.index);
            if (swarm.switches_left > 0) swarm.switches_left -= 1;
            swarm.switchFrom(member.index, next);
            if (!patternHolds(&data, seed)) swarm.failures += 1;
            member.generation += 1;
        }
    }

    noinline fn create(swarm: *Swarm, index: usize, depth: usize) !void {
        var frame_data: [8]u64 = undefined;
        fillPattern(&frame_data, 7_000_000 + index);
        if (depth > 0) return swarm.create(index, depth - 1);
        swarm.members[index] = .{ .swarm = swarm, .index = index };
        swarm.previous = main_index;
        const got = try stacklet.new(swarm.thread, memberRun, &swarm.members[index]);
        swarm.handles[swarm.previous] = got;
        try testing.expect(patternHolds(&frame_data, 7_000_000 + index));
    }

    fn body(swarm: *Swarm) !void {
        swarm.thread = try stacklet.newThread(testing.allocator);
        defer stacklet.deleteThread(swarm.thread);
        var data: [32]u64 = undefined;
        fillPattern(&data, 42);
        for (0..member_count) |index| try swarm.create(index, index % 5);
        var main_steps: usize = 0;
        while (swarm.switches_left > 0) : (main_steps += 1) {
            try testing.expect(main_steps <= switch_count);
            swarm.switches_left -= 1;
            swarm.switchFrom(main_index, swarm.pickNext(main_index));
            try testing.expect(patternHolds(&data, 42));
        }
        swarm.finishing = true;
        var finished_count: usize = 0;
        for (0..member_count) |index| {
            if (swarm.handles[index] == null) continue;
            swarm.switchFrom(main_index, index);
            finished_count += 1;
        }
        var destroyed_count: usize = 0;
        for (swarm.members, swarm.destroyed) |member, destroyed| {
            try testing.expect(member.finished != destroyed);
            if (destroyed) destroyed_count += 1;
        }
        try testing.expectEqual(@as(usize, member_count), finished_count + destroyed_count);
        try testing.expect(destroyed_count > 0);
        try testing.expectEqual(@as(usize, 0), stacklet.suspendedCount(swarm.thread));
        try testing.expectEqual(@as(usize, 0), swarm.failures);
        try testing.expectEqual(@as(usize, 0), swarm.errors);
        try testing.expect(patternHolds(&data, 42));
    }

    fn destroyOne(swarm: *Swarm, spared_index: usize) void {
        const index = swarm.pickNext(main_index);
        if (index == main_index or index == spared_index) return;
        stacklet.destroyChecked(swarm.thread, swarm.handles[index]) catch {
            swarm.errors += 1;
            return;
        };
        swarm.handles[index] = null;
        swarm.destroyed[index] = true;
    }
};

test "1200 stacklets switch in a pseudo-random order with their stack data intact" {
    const swarm = try testing.allocator.create(Swarm);
    defer testing.allocator.destroy(swarm);
    swarm.* = .{};
    try onStack(Swarm, Swarm.body, swarm);
}

const BadHandles = struct {
    thread: *Thread = undefined,
    other_thread: *Thread = undefined,
    own_handle: Handle = null,
    running_switch: ?stacklet.Error = null,
    destroy_main: ?stacklet.Error = null,
    delete_running: ?stacklet.Error = null,

    /// Suspends once so that main can learn its handle, then misuses the thread while running.
    fn run(origin: Handle, arg: ?*anyopaque) callconv(.c) Handle {
        const self = contextOf(BadHandles, arg);
        const back = switchOrNull(self.thread, origin);
        if (stacklet.switchTo(self.thread, self.own_handle)) |_| {} else |err| self.running_switch = err;
        if (stacklet.destroyChecked(self.thread, back)) |_| {} else |err| self.destroy_main = err;
        if (stacklet.deleteThreadChecked(self.thread)) |_| {} else |err| self.delete_running = err;
        return back;
    }

    fn parked(origin: Handle, arg: ?*anyopaque) callconv(.c) Handle {
        const thread: *Thread = contextOf(Thread, arg);
        return switchOrNull(thread, origin);
    }

    fn body(self: *BadHandles) !void {
        self.thread = try stacklet.newThread(testing.allocator);
        defer stacklet.deleteThread(self.thread);
        self.other_thread = try stacklet.newThread(testing.allocator);
        defer stacklet.deleteThread(self.other_thread);

        try testing.expectError(error.InvalidHandle, stacklet.switchTo(self.thread, null));
        var fake: stacklet.Stacklet = .{ .state = .suspended };
        try testing.expectError(error.InvalidHandle, stacklet.switchTo(self.thread, &fake));
        try testing.expectError(error.InvalidHandle, stacklet.destroyChecked(self.thread, &fake));
        try testing.expectError(error.InvalidHandle, stacklet.handleFromAddress(self.thread, 12345));
        try testing.expectEqual(@as(Handle, null), try stacklet.handleFromAddress(self.thread, 0));

        const foreign = try stacklet.new(self.other_thread, parked, self.other_thread);
        try testing.expectError(error.InvalidHandle, stacklet.switchTo(self.thread, foreign));
        try testing.expectError(error.InvalidHandle, stacklet.destroyChecked(self.thread, foreign));
        try testing.expectEqual(foreign, try stacklet.handleFromAddress(self.other_thread, @intFromPtr(foreign)));
        const misaligned = @intFromPtr(foreign) + 8;
        try testing.expectError(error.InvalidHandle, stacklet.handleFromAddress(self.other_thread, misaligned));
        try testing.expectEqual(@as(Handle, null), try stacklet.switchTo(self.other_thread, foreign));
        try testing.expectError(error.InvalidHandle, stacklet.switchTo(self.other_thread, foreign));

        const parked_handle = try stacklet.new(self.thread, parked, self.thread);
        try testing.expectEqual(@as(Handle, null), try stacklet.switchTo(self.thread, parked_handle));
        try testing.expectError(error.InvalidHandle, stacklet.switchTo(self.thread, parked_handle));

        self.own_handle = try stacklet.new(self.thread, run, self);
        try testing.expectEqual(@as(Handle, null), try stacklet.switchTo(self.thread, self.own_handle));
        try testing.expectEqual(@as(?stacklet.Error, error.InvalidHandle), self.running_switch);
        try testing.expectEqual(@as(?stacklet.Error, error.CannotDestroyMain), self.destroy_main);
        try testing.expectEqual(@as(?stacklet.Error, error.StackletRunning), self.delete_running);
    }
};

test "bad, stale, foreign and running handles are errors, not crashes" {
    var context: BadHandles = .{};
    try onStack(BadHandles, BadHandles.body, &context);
}

const BadRunResult = struct {
    thread: *Thread = undefined,

    fn run(origin: Handle, arg: ?*anyopaque) callconv(.c) Handle {
        _ = origin;
        _ = arg;
        return @ptrFromInt(@alignOf(stacklet.Stacklet) * 1000);
    }

    fn body(self: *BadRunResult) !void {
        self.thread = try stacklet.newThread(testing.allocator);
        defer stacklet.deleteThread(self.thread);
        try testing.expectError(error.InvalidRunResult, stacklet.new(self.thread, run, null));
        try testing.expectEqual(@as(usize, 0), stacklet.suspendedCount(self.thread));
        var context: PingPong = .{ .thread = self.thread };
        const suspended = try stacklet.new(self.thread, PingPong.run, &context);
        try testing.expectEqual(@as(Handle, null), try stacklet.switchTo(self.thread, suspended));
    }
};

test "run() returning an invalid handle resumes main with InvalidRunResult" {
    var context: BadRunResult = .{};
    try onStack(BadRunResult, BadRunResult.body, &context);
}

const ForeignThread = struct {
    thread: *Thread = undefined,
    suspended: Handle = null,
    new_result: ?stacklet.Error = null,
    switch_result: ?stacklet.Error = null,
    destroy_result: ?stacklet.Error = null,
    delete_result: ?stacklet.Error = null,

    fn intruder(self: *ForeignThread) void {
        if (stacklet.new(self.thread, PingPong.run, null)) |_| {} else |err| self.new_result = err;
        if (stacklet.switchTo(self.thread, self.suspended)) |_| {} else |err| self.switch_result = err;
        if (stacklet.destroyChecked(self.thread, self.suspended)) |_| {} else |err| self.destroy_result = err;
        if (stacklet.deleteThreadChecked(self.thread)) |_| {} else |err| self.delete_result = err;
    }

    fn body(self: *ForeignThread) !void {
        self.thread = try stacklet.newThread(testing.allocator);
        defer stacklet.deleteThread(self.thread);
        var context: PingPong = .{ .thread = self.thread };
        self.suspended = try stacklet.new(self.thread, PingPong.run, &context);
        const other = try std.Thread.spawn(.{}, intruder, .{self});
        other.join();
        try testing.expectEqual(@as(?stacklet.Error, error.WrongThread), self.new_result);
        try testing.expectEqual(@as(?stacklet.Error, error.WrongThread), self.switch_result);
        try testing.expectEqual(@as(?stacklet.Error, error.WrongThread), self.destroy_result);
        try testing.expectEqual(@as(?stacklet.Error, error.WrongThread), self.delete_result);
        try testing.expectEqual(@as(Handle, null), try stacklet.switchTo(self.thread, self.suspended));
    }
};

test "a Thread used from another OS thread reports WrongThread" {
    if (builtin.single_threaded) return error.SkipZigTest;
    var context: ForeignThread = .{};
    try onStack(ForeignThread, ForeignThread.body, &context);
}

/// The library's pattern: every call enters the region anew, stacklets stay suspended in between.
const Reentry = struct {
    thread: *Thread = undefined,
    suspended: Handle = null,
    stacklet_failures: usize = 0,
    step: usize = 0,
    errors: usize = 0,

    fn run(origin: Handle, arg: ?*anyopaque) callconv(.c) Handle {
        const self = contextOf(Reentry, arg);
        var data: [32]u64 = undefined;
        fillPattern(&data, 99);
        var handle = origin;
        for (0..3) |_| {
            handle = switchOrNull(self.thread, handle);
            if (!patternHolds(&data, 99)) self.stacklet_failures += 1;
        }
        return handle;
    }

    fn entry(arg: ?*anyopaque) callconv(.c) void {
        const self = contextOf(Reentry, arg);
        var data: [64]u64 = undefined;
        fillPattern(&data, self.step);
        const got = if (self.step == 0)
            stacklet.new(self.thread, run, self)
        else
            stacklet.switchTo(self.thread, self.suspended);
        self.suspended = got catch blk: {
            self.errors += 1;
            break :blk null;
        };
        if (!patternHolds(&data, self.step)) self.errors += 1;
        self.step += 1;
    }

    /// Enters from a caller frame of a different depth each time, like calls from JavaScript.
    noinline fn enterAtDepth(self: *Reentry, stack: *stacklet.Stack, depth: usize) !void {
        var padding: [256]u8 = undefined;
        std.mem.doNotOptimizeAway(&padding);
        if (depth > 0) return self.enterAtDepth(stack, depth - 1);
        try stacklet.enterStack(stack, entry, self);
    }
};

test "stacklets stay suspended between separate entries into their stack region" {
    var stack = try stacklet.Stack.init(testing.allocator, stacklet.stack_size_min);
    defer stack.deinit(testing.allocator);
    var context: Reentry = .{};
    context.thread = try stacklet.newThread(testing.allocator);
    defer stacklet.deleteThread(context.thread);
    try stacklet.bindStack(context.thread, &stack);
    try testing.expectError(error.WrongStack, stacklet.new(context.thread, PingPong.run, null));
    for (0..4) |entry_index| {
        try context.enterAtDepth(&stack, (entry_index * 5) % 7);
        try testing.expectEqual(@as(usize, 0), context.errors);
        if (entry_index < 3) {
            try testing.expect(context.suspended != null);
            try testing.expectError(error.WrongStack, stacklet.switchTo(context.thread, context.suspended));
        }
    }
    try testing.expectEqual(@as(Handle, null), context.suspended);
    try testing.expectEqual(@as(usize, 0), context.stacklet_failures);
}

const OnRegion = struct {
    stack: *stacklet.Stack,
    outer_address: usize = 0,
    inner_address: usize = 0,
    busy_result: ?stacklet.Error = null,
    fallback_address: usize = 0,

    fn outer(arg: ?*anyopaque) callconv(.c) void {
        const self = contextOf(OnRegion, arg);
        var local: u64 = 1;
        std.mem.doNotOptimizeAway(&local);
        self.outer_address = @intFromPtr(&local);
        stacklet.callOnStack(self.stack, inner, self);
        if (builtin.single_threaded) return;
        const other = std.Thread.spawn(.{}, tryFromOtherThread, .{self}) catch return;
        other.join();
    }

    fn inner(arg: ?*anyopaque) callconv(.c) void {
        const self = contextOf(OnRegion, arg);
        var local: u64 = 2;
        std.mem.doNotOptimizeAway(&local);
        self.inner_address = @intFromPtr(&local);
    }

    fn fallback(arg: ?*anyopaque) callconv(.c) void {
        const self = contextOf(OnRegion, arg);
        var local: u64 = 3;
        std.mem.doNotOptimizeAway(&local);
        self.fallback_address = @intFromPtr(&local);
    }

    fn tryFromOtherThread(self: *OnRegion) void {
        stacklet.enterStack(self.stack, inner, self) catch |err| {
            self.busy_result = err;
        };
        stacklet.callOnStack(self.stack, fallback, self);
    }
};

test "callOnStack runs on the region, nests in place, and refuses a region busy elsewhere" {
    var stack = try stacklet.Stack.init(testing.allocator, stacklet.stack_size_min);
    defer stack.deinit(testing.allocator);
    var context: OnRegion = .{ .stack = &stack };
    stacklet.callOnStack(&stack, OnRegion.outer, &context);
    const in_region = struct {
        fn check(stack_: *const stacklet.Stack, address: usize) bool {
            return address >= stack_.bottom() and address < stack_.top();
        }
    }.check;
    try testing.expect(in_region(&stack, context.outer_address));
    try testing.expect(in_region(&stack, context.inner_address));
    if (!builtin.single_threaded) {
        try testing.expectEqual(@as(?stacklet.Error, error.StackBusy), context.busy_result);
        try testing.expect(context.fallback_address != 0);
        try testing.expect(!in_region(&stack, context.fallback_address));
    }
    try testing.expectError(error.InvalidStackSize, stacklet.Stack.init(testing.allocator, 100));
}

const OutOfMemory = struct {
    failing: *testing.FailingAllocator,
    thread: *Thread = undefined,

    noinline fn switchFromDeep(self: *OutOfMemory, target: Handle, depth: usize) stacklet.Error!Handle {
        var padding: [512]u8 = undefined;
        std.mem.doNotOptimizeAway(&padding);
        if (depth > 0) return self.switchFromDeep(target, depth - 1);
        return stacklet.switchTo(self.thread, target);
    }

    fn body(self: *OutOfMemory) !void {
        self.failing.fail_index = self.failing.alloc_index;
        try testing.expectError(error.OutOfMemory, stacklet.newThread(self.failing.allocator()));
        self.failing.fail_index = std.math.maxInt(usize);
        self.thread = try stacklet.newThread(self.failing.allocator());
        defer stacklet.deleteThread(self.thread);

        var context: PingPong = .{ .thread = self.thread };
        self.failing.fail_index = self.failing.alloc_index;
        try testing.expectError(error.OutOfMemory, stacklet.new(self.thread, PingPong.run, &context));
        try testing.expectEqual(@as(usize, 0), context.log_len);
        self.failing.fail_index = std.math.maxInt(usize);
        const suspended = try stacklet.new(self.thread, PingPong.run, &context);

        self.failing.fail_index = self.failing.alloc_index;
        try testing.expectError(error.OutOfMemory, self.switchFromDeep(suspended, 16));
        try testing.expectEqual(@as(usize, 1), context.log_len);
        self.failing.fail_index = std.math.maxInt(usize);
        try testing.expectEqual(@as(Handle, null), try stacklet.switchTo(self.thread, suspended));
        try testing.expectEqualSlices(u8, &.{ 1, 3 }, context.log[0..context.log_len]);
    }
};

test "out of memory is an error that leaves the thread usable" {
    var failing = testing.FailingAllocator.init(testing.allocator, .{});
    var context: OutOfMemory = .{ .failing = &failing };
    try onStack(OutOfMemory, OutOfMemory.body, &context);
}

/// Eight accumulators live across every switch, on both sides: with optimizations they sit in
/// callee-saved registers (xmm6-xmm15 on Windows, d8-d15 on aarch64) or in spilled stack slots.
const FloatRegisters = struct {
    const round_count = 500;
    thread: *Thread = undefined,
    stacklet_sums: [8]f64 = @splat(0),

    fn accumulate(thread: *Thread, first: Handle, seed: f64, handle_out: *Handle) [8]f64 {
        var sums: [8]f64 = undefined;
        inline for (&sums, 0..) |*sum, index| sum.* = seed + @as(f64, index);
        var handle = first;
        for (0..round_count) |round| {
            const step: f64 = @floatFromInt(round);
            inline for (&sums, 0..) |*sum, index| sum.* = sum.* * 0.5 + step * @as(f64, index + 1);
            handle = switchOrNull(thread, handle);
        }
        handle_out.* = handle;
        return sums;
    }

    fn expected(seed: f64) [8]f64 {
        var sums: [8]f64 = undefined;
        inline for (&sums, 0..) |*sum, index| sum.* = seed + @as(f64, index);
        for (0..round_count) |round| {
            const step: f64 = @floatFromInt(round);
            inline for (&sums, 0..) |*sum, index| sum.* = sum.* * 0.5 + step * @as(f64, index + 1);
        }
        return sums;
    }

    fn run(origin: Handle, arg: ?*anyopaque) callconv(.c) Handle {
        const self = contextOf(FloatRegisters, arg);
        var handle: Handle = null;
        self.stacklet_sums = accumulate(self.thread, origin, 1000.25, &handle);
        return handle;
    }

    fn body(self: *FloatRegisters) !void {
        self.thread = try stacklet.newThread(testing.allocator);
        defer stacklet.deleteThread(self.thread);
        const first = try stacklet.new(self.thread, run, self);
        var last: Handle = undefined;
        const main_sums = accumulate(self.thread, first, 3.5, &last);
        try testing.expectEqual(@as(Handle, null), last);
        try testing.expectEqual(expected(3.5), main_sums);
        try testing.expectEqual(expected(1000.25), self.stacklet_sums);
    }
};

test "floating-point values stay live in registers across switches on both sides" {
    var context: FloatRegisters = .{};
    try onStack(FloatRegisters, FloatRegisters.body, &context);
}

/// What `callWithPatterns` reads, through one pointer, so that no asm input sits in a register
/// that the asm or the called function overwrites.
const PatternCall = extern struct {
    func: stacklet.EntryFn,
    arg: ?*anyopaque,
    patterns: [16]u64,
};

/// Loads `call.patterns` into every callee-saved register the compiler does not reserve, calls
/// `call.func(call.arg)` and returns how many of those registers changed. The pointer to `call` and
/// the saved stack pointer also live in callee-saved registers, so losing those crashes instead.
fn callWithPatterns(call: *const PatternCall) u64 {
    return switch (builtin.cpu.arch) {
        .x86_64 => if (builtin.os.tag == .windows) asm volatile (
            \\ movq %[call], %%r15
            \\ movq %%rsp, %%r13
            \\ andq $-16, %%rsp
            \\ subq $32, %%rsp
            \\ movq 16(%%r15), %%rbx
            \\ movq 24(%%r15), %%r12
            \\ movq 32(%%r15), %%r14
            \\ movq 40(%%r15), %%rdi
            \\ movq 48(%%r15), %%rsi
            \\ movq 56(%%r15), %%xmm6
            \\ movq 64(%%r15), %%xmm7
            \\ movq 72(%%r15), %%xmm8
            \\ movq 80(%%r15), %%xmm9
            \\ movq 88(%%r15), %%xmm10
            \\ movq 96(%%r15), %%xmm11
            \\ movq 104(%%r15), %%xmm12
            \\ movq 112(%%r15), %%xmm13
            \\ movq 120(%%r15), %%xmm14
            \\ movq 128(%%r15), %%xmm15
            \\ movq 8(%%r15), %%rcx
            \\ callq *0(%%r15)
            \\ movq %%r13, %%rsp
            \\ xorl %%eax, %%eax
            \\ cmpq 16(%%r15), %%rbx
            \\ setne %%cl
            \\ addb %%cl, %%al
            \\ cmpq 24(%%r15), %%r12
            \\ setne %%cl
            \\ addb %%cl, %%al
            \\ cmpq 32(%%r15), %%r14
            \\ setne %%cl
            \\ addb %%cl, %%al
            \\ cmpq 40(%%r15), %%rdi
            \\ setne %%cl
            \\ addb %%cl, %%al
            \\ cmpq 48(%%r15), %%rsi
            \\ setne %%cl
            \\ addb %%cl, %%al
            \\ movq %%xmm6, %%rdx
            \\ cmpq 56(%%r15), %%rdx
            \\ setne %%cl
            \\ addb %%cl, %%al
            \\ movq %%xmm7, %%rdx
            \\ cmpq 64(%%r15), %%rdx
            \\ setne %%cl
            \\ addb %%cl, %%al
            \\ movq %%xmm8, %%rdx
            \\ cmpq 72(%%r15), %%rdx
            \\ setne %%cl
            \\ addb %%cl, %%al
            \\ movq %%xmm9, %%rdx
            \\ cmpq 80(%%r15), %%rdx
            \\ setne %%cl
            \\ addb %%cl, %%al
            \\ movq %%xmm10, %%rdx
            \\ cmpq 88(%%r15), %%rdx
            \\ setne %%cl
            \\ addb %%cl, %%al
            \\ movq %%xmm11, %%rdx
            \\ cmpq 96(%%r15), %%rdx
            \\ setne %%cl
            \\ addb %%cl, %%al
            \\ movq %%xmm12, %%rdx
            \\ cmpq 104(%%r15), %%rdx
            \\ setne %%cl
            \\ addb %%cl, %%al
            \\ movq %%xmm13, %%rdx
            \\ cmpq 112(%%r15), %%rdx
            \\ setne %%cl
            \\ addb %%cl, %%al
            \\ movq %%xmm14, %%rdx
            \\ cmpq 120(%%r15), %%rdx
            \\ setne %%cl
            \\ addb %%cl, %%al
            \\ movq %%xmm15, %%rdx
            \\ cmpq 128(%%r15), %%rdx
            \\ setne %%cl
            \\ addb %%cl, %%al
            : [mismatches] "={rax}" (-> u64),
            : [call] "r" (call),
            : .{ .rbx = true, .rcx = true, .rdx = true, .rsi = true, .rdi = true, .r8 = true, .r9 = true, .r10 = true, .r11 = true, .r12 = true, .r13 = true, .r14 = true, .r15 = true, .xmm0 = true, .xmm1 = true, .xmm2 = true, .xmm3 = true, .xmm4 = true, .xmm5 = true, .xmm6 = true, .xmm7 = true, .xmm8 = true, .xmm9 = true, .xmm10 = true, .xmm11 = true, .xmm12 = true, .xmm13 = true, .xmm14 = true, .xmm15 = true, .memory = true, .flags = true }) else asm volatile (
            \\ movq %[call], %%r15
            \\ movq %%rsp, %%r13
            \\ subq $128, %%rsp
            \\ andq $-16, %%rsp
            \\ movq 16(%%r15), %%rbx
            \\ movq 24(%%r15), %%r12
            \\ movq 32(%%r15), %%r14
            \\ movq 8(%%r15), %%rdi
            \\ callq *0(%%r15)
            \\ movq %%r13, %%rsp
            \\ xorl %%eax, %%eax
            \\ cmpq 16(%%r15), %%rbx
            \\ setne %%cl
            \\ addb %%cl, %%al
            \\ cmpq 24(%%r15), %%r12
            \\ setne %%cl
            \\ addb %%cl, %%al
            \\ cmpq 32(%%r15), %%r14
            \\ setne %%cl
            \\ addb %%cl, %%al
            : [mismatches] "={rax}" (-> u64),
            : [call] "r" (call),
            : .{ .rbx = true, .rcx = true, .rdx = true, .rsi = true, .rdi = true, .r8 = true, .r9 = true, .r10 = true, .r11 = true, .r12 = true, .r13 = true, .r14 = true, .r15 = true, .xmm0 = true, .xmm1 = true, .xmm2 = true, .xmm3 = true, .xmm4 = true, .xmm5 = true, .xmm6 = true, .xmm7 = true, .xmm8 = true, .xmm9 = true, .xmm10 = true, .xmm11 = true, .xmm12 = true, .xmm13 = true, .xmm14 = true, .xmm15 = true, .memory = true, .flags = true }),
        .aarch64 => asm volatile (
            \\ mov x28, %[call]
            \\ ldp x19, x20, [x28, #16]
            \\ ldp x21, x22, [x28, #32]
            \\ ldp x23, x24, [x28, #48]
            \\ ldp x25, x26, [x28, #64]
            \\ ldr x27, [x28, #80]
            \\ ldp d8, d9, [x28, #88]
            \\ ldp d10, d11, [x28, #104]
            \\ ldp d12, d13, [x28, #120]
            \\ ldr d14, [x28, #136]
            \\ fmov d15, x27
            \\ ldr x9, [x28, #0]
            \\ ldr x0, [x28, #8]
            \\ blr x9
            \\ mov x0, #0
            \\ ldp x2, x3, [x28, #16]
            \\ cmp x19, x2
            \\ cinc x0, x0, ne
            \\ cmp x20, x3
            \\ cinc x0, x0, ne
            \\ ldp x2, x3, [x28, #32]
            \\ cmp x21, x2
            \\ cinc x0, x0, ne
            \\ cmp x22, x3
            \\ cinc x0, x0, ne
            \\ ldp x2, x3, [x28, #48]
            \\ cmp x23, x2
            \\ cinc x0, x0, ne
            \\ cmp x24, x3
            \\ cinc x0, x0, ne
            \\ ldp x2, x3, [x28, #64]
            \\ cmp x25, x2
            \\ cinc x0, x0, ne
            \\ cmp x26, x3
            \\ cinc x0, x0, ne
            \\ ldr x2, [x28, #80]
            \\ cmp x27, x2
            \\ cinc x0, x0, ne
            \\ fmov x3, d15
            \\ cmp x3, x2
            \\ cinc x0, x0, ne
            \\ ldp x2, x3, [x28, #88]
            \\ fmov x4, d8
            \\ cmp x4, x2
            \\ cinc x0, x0, ne
            \\ fmov x4, d9
            \\ cmp x4, x3
            \\ cinc x0, x0, ne
            \\ ldp x2, x3, [x28, #104]
            \\ fmov x4, d10
            \\ cmp x4, x2
            \\ cinc x0, x0, ne
            \\ fmov x4, d11
            \\ cmp x4, x3
            \\ cinc x0, x0, ne
            \\ ldp x2, x3, [x28, #120]
            \\ fmov x4, d12
            \\ cmp x4, x2
            \\ cinc x0, x0, ne
            \\ fmov x4, d13
            \\ cmp x4, x3
            \\ cinc x0, x0, ne
            \\ ldr x2, [x28, #136]
            \\ fmov x4, d14
            \\ cmp x4, x2
            \\ cinc x0, x0, ne
            : [mismatches] "={x0}" (-> u64),
            : [call] "r" (call),
            : .{ .x1 = true, .x2 = true, .x3 = true, .x4 = true, .x5 = true, .x6 = true, .x7 = true, .x8 = true, .x9 = true, .x10 = true, .x11 = true, .x12 = true, .x13 = true, .x14 = true, .x15 = true, .x16 = true, .x17 = true, .x18 = builtin.os.tag != .macos, .x19 = true, .x20 = true, .x21 = true, .x22 = true, .x23 = true, .x24 = true, .x25 = true, .x26 = true, .x27 = true, .x28 = true, .lr = true, .v0 = true, .v1 = true, .v2 = true, .v3 = true, .v4 = true, .v5 = true, .v6 = true, .v7 = true, .v8 = true, .v9 = true, .v10 = true, .v11 = true, .v12 = true, .v13 = true, .v14 = true, .v15 = true, .v16 = true, .v17 = true, .v18 = true, .v19 = true, .v20 = true, .v21 = true, .v22 = true, .v23 = true, .v24 = true, .v25 = true, .v26 = true, .v27 = true, .v28 = true, .v29 = true, .v30 = true, .v31 = true, .nzcv = true, .memory = true }),
        else => unreachable,
    };
}

/// Both sides hold different values in all callee-saved registers across every switch.
const CalleeSavedRegisters = struct {
    const round_count = 3;
    thread: *Thread = undefined,
    handle: Handle = null,
    origin: Handle = null,
    main_mismatches: u64 = 0,
    stacklet_mismatches: u64 = 0,
    stacklet_rounds: usize = 0,

    fn patternCall(func: stacklet.EntryFn, self: *CalleeSavedRegisters, seed: u64) PatternCall {
        var call: PatternCall = .{ .func = func, .arg = self, .patterns = undefined };
        fillPattern(&call.patterns, seed);
        return call;
    }

    fn mainSwitch(arg: ?*anyopaque) callconv(.c) void {
        const self = contextOf(CalleeSavedRegisters, arg);
        self.handle = switchOrNull(self.thread, self.handle);
    }

    fn stackletSwitch(arg: ?*anyopaque) callconv(.c) void {
        const self = contextOf(CalleeSavedRegisters, arg);
        self.origin = switchOrNull(self.thread, self.origin);
    }

    fn run(origin: Handle, arg: ?*anyopaque) callconv(.c) Handle {
        const self = contextOf(CalleeSavedRegisters, arg);
        const call = patternCall(stackletSwitch, self, 2);
        self.origin = origin;
        for (0..round_count) |_| {
            self.stacklet_mismatches += callWithPatterns(&call);
            self.stacklet_rounds += 1;
        }
        return self.origin;
    }

    fn body(self: *CalleeSavedRegisters) !void {
        self.thread = try stacklet.newThread(testing.allocator);
        defer stacklet.deleteThread(self.thread);
        const call = patternCall(mainSwitch, self, 1);
        self.handle = try stacklet.new(self.thread, run, self);
        var rounds: usize = 0;
        while (self.handle != null) : (rounds += 1) {
            try testing.expect(rounds < round_count);
            self.main_mismatches += callWithPatterns(&call);
        }
        try testing.expectEqual(@as(usize, round_count), self.stacklet_rounds);
        try testing.expectEqual(@as(u64, 0), self.main_mismatches);
        try testing.expectEqual(@as(u64, 0), self.stacklet_mismatches);
    }
};

test "every callee-saved register survives switches on both sides" {
    var context: CalleeSavedRegisters = .{};
    try onStack(CalleeSavedRegisters, CalleeSavedRegisters.body, &context);
}

/// Each side keeps sixteen integers and eight floats, different per side, live across the switch in
/// the function that switches, and its own context pointer too. A register missing from a clobber
/// list would hold one of them, and the other side would overwrite it. The check recomputes from a
/// volatile copy of the seed, so the compiler cannot fold it away.
const LiveValues = struct {
    const round_count = 4;

    const Side = struct {
        thread: *Thread,
        peer: Handle = null,
        failures: usize = 0,
        rounds: usize = 0,

        noinline fn switchHolding(side: *Side, seed: u64) void {
            var integers: [16]u64 = undefined;
            var floats: [8]f64 = undefined;
            inline for (&integers, 0..) |*value, index| value.* = std.hash.int(seed +% index);
            inline for (&floats, 0..) |*value, index| value.* = @floatFromInt(std.hash.int(seed ^ index) >> 12);
            side.peer = switchOrNull(side.thread, side.peer);
            var seed_copy: u64 = seed;
            const seed_again = @as(*volatile u64, &seed_copy).*;
            inline for (integers, 0..) |value, index| {
                if (value != std.hash.int(seed_again +% index)) side.failures += 1;
            }
            inline for (floats, 0..) |value, index| {
                if (value != @as(f64, @floatFromInt(std.hash.int(seed_again ^ index) >> 12))) side.failures += 1;
            }
            side.rounds += 1;
        }
    };

    main: Side = undefined,
    stacklet: Side = undefined,

    fn run(origin: Handle, arg: ?*anyopaque) callconv(.c) Handle {
        const side = contextOf(Side, arg);
        side.peer = origin;
        for (0..round_count) |round| side.switchHolding(0xbad_5eed + round);
        return side.peer;
    }

    fn body(self: *LiveValues) !void {
        const thread = try stacklet.newThread(testing.allocator);
        defer stacklet.deleteThread(thread);
        self.main = .{ .thread = thread };
        self.stacklet = .{ .thread = thread };
        self.main.peer = try stacklet.new(thread, run, &self.stacklet);
        while (self.main.peer != null) {
            try testing.expect(self.main.rounds < round_count);
            self.main.switchHolding(self.main.rounds *% 7919);
        }
        try testing.expectEqual(@as(usize, round_count), self.main.rounds);
        try testing.expectEqual(@as(usize, round_count), self.stacklet.rounds);
        try testing.expectEqual(@as(usize, 0), self.main.failures);
        try testing.expectEqual(@as(usize, 0), self.stacklet.failures);
    }
};

test "values live across a switch in the switching function stay intact on both sides" {
    var context: LiveValues = .{};
    try onStack(LiveValues, LiveValues.body, &context);
}
