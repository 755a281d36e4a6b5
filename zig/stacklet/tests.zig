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

/// Runs `Context.body(context)` on a fresh dedicated stack region and returns its result.
fn onStack(context: anytype) !void {
    const Context = @TypeOf(context.*);
    var stack = try stacklet.Stack.init(testing.allocator, test_stack_size);
    defer stack.deinit(testing.allocator);
    const Call = struct {
        context: *Context,
        result: anyerror!void = {},
        fn entry(arg: ?*anyopaque) callconv(.c) void {
            const call: *@This() = @ptrCast(@alignCast(arg.?));
            call.result = Context.body(call.context);
        }
    };
    var call: Call = .{ .context = context };
    try stacklet.enterStack(&stack, Call.entry, &call);
    return call.result;
}

/// `onStack` with a context of the default field values.
fn onStackWithDefault(comptime Context: type) !void {
    var context: Context = .{};
    return onStack(&context);
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
    try onStackWithDefault(PingPong);
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
    try onStackWithDefault(Relay);
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
    try onStackWithDefault(Abandoned);
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
    try onStackWithDefault(LocalData);
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
    try onStackWithDefault(DeepRecursion);
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
    try onStack(swarm);
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
    try onStackWithDefault(BadHandles);
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
    try onStackWithDefault(BadRunResult);
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
    try onStackWithDefault(ForeignThread);
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

/// What Windows' TIB says the thread's stack is, read inside and after `callOnStack`.
const StackBounds = struct {
    base: usize = 0,
    limit: usize = 0,

    fn read() StackBounds {
        const tib = &std.os.windows.teb().NtTib;
        return .{ .base = @intFromPtr(tib.StackBase), .limit = @intFromPtr(tib.StackLimit) };
    }

    fn record(arg: ?*anyopaque) callconv(.c) void {
        contextOf(StackBounds, arg).* = read();
    }
};

test "on Windows the TIB's stack bounds are the region's inside callOnStack and the caller's again after it" {
    if (builtin.os.tag != .windows) return error.SkipZigTest;
    var stack = try stacklet.Stack.init(testing.allocator, stacklet.stack_size_min);
    defer stack.deinit(testing.allocator);
    const before = StackBounds.read();
    var inside: StackBounds = .{};
    stacklet.callOnStack(&stack, StackBounds.record, &inside);
    try testing.expectEqual(StackBounds{ .base = stack.top(), .limit = stack.bottom() }, inside);
    try testing.expectEqual(before, StackBounds.read());
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
    try onStack(&context);
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
    try onStackWithDefault(FloatRegisters);
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
        .x86_64 => asm volatile (if (builtin.os.tag == .windows)
                // Aligned, with 32 bytes of shadow space; the argument goes in rcx.
                x86_64PatternAsm(&.{ "rbx", "r12", "r14", "rdi", "rsi", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15" }, " andq $-16, %%rsp\n subq $32, %%rsp", "rcx")
            else
                // Below the red zone, aligned; the argument goes in rdi.
                x86_64PatternAsm(&.{ "rbx", "r12", "r14" }, " subq $128, %%rsp\n andq $-16, %%rsp", "rdi")
            : [mismatches] "={rax}" (-> u64),
            : [call] "r" (call),
            : @import("switch_x86_64_sysv.zig").clobbers),
        // x28 holds `call`; d15 gets the first pattern again, as there are sixteen.
        .aarch64 => asm volatile (aarch64PatternAsm(&.{ "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15" })
            : [mismatches] "={x0}" (-> u64),
            : [call] "r" (call),
            : @import("switch_aarch64.zig").clobbers),
        else => unreachable,
    };
}

/// Where `callWithPatterns` finds the pattern of the register at `index` in its list.
fn patternOffset(index: usize) usize {
    const pattern_count = @typeInfo(@FieldType(PatternCall, "patterns")).array.len;
    return @offsetOf(PatternCall, "patterns") + 8 * (index % pattern_count);
}

/// `callWithPatterns` on x86_64: r15 holds `call` and r13 the stack pointer; `stack_setup` aligns
/// the stack for the call, whose argument goes in `argument`; rax counts the mismatches.
fn x86_64PatternAsm(comptime registers: []const []const u8, comptime stack_setup: []const u8, comptime argument: []const u8) []const u8 {
    var loads: []const u8 = "";
    var checks: []const u8 = "";
    for (registers, 0..) |register, index| {
        const offset = patternOffset(index);
        loads = loads ++ std.fmt.comptimePrint("\n movq {d}(%%r15), %%{s}", .{ offset, register });
        checks = checks ++ if (std.mem.startsWith(u8, register, "xmm"))
            std.fmt.comptimePrint("\n movq %%{s}, %%rdx\n cmpq {d}(%%r15), %%rdx", .{ register, offset })
        else
            std.fmt.comptimePrint("\n cmpq {d}(%%r15), %%{s}", .{ offset, register });
        checks = checks ++ "\n setne %%cl\n addb %%cl, %%al";
    }
    return " movq %[call], %%r15\n movq %%rsp, %%r13\n" ++ stack_setup ++ loads ++
        "\n movq 8(%%r15), %%" ++ argument ++ "\n callq *0(%%r15)\n movq %%r13, %%rsp\n xorl %%eax, %%eax" ++ checks;
}

/// `callWithPatterns` on aarch64: x28 holds `call`; x0 counts the mismatches.
fn aarch64PatternAsm(comptime registers: []const []const u8) []const u8 {
    var loads: []const u8 = "";
    var checks: []const u8 = "";
    for (registers, 0..) |register, index| {
        const offset = patternOffset(index);
        loads = loads ++ std.fmt.comptimePrint("\n ldr {s}, [x28, #{d}]", .{ register, offset });
        checks = checks ++ std.fmt.comptimePrint("\n ldr x2, [x28, #{d}]", .{offset}) ++ if (register[0] == 'd')
            std.fmt.comptimePrint("\n fmov x4, {s}\n cmp x4, x2", .{register})
        else
            std.fmt.comptimePrint("\n cmp {s}, x2", .{register});
        checks = checks ++ "\n cinc x0, x0, ne";
    }
    return " mov x28, %[call]" ++ loads ++ "\n ldr x9, [x28, #0]\n ldr x0, [x28, #8]\n blr x9\n mov x0, #0" ++ checks;
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
    try onStackWithDefault(CalleeSavedRegisters);
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
    try onStackWithDefault(LiveValues);
}
