//! The hub: the native side of `loop.task`. It owns a poll loop and runs every multi-step
//! native operation ("op") as a stacklet that blocks on that loop in straight-line Zig. Ops run
//! only on the hub's dedicated stack region, entered with `stacklet.enterStack` inside an FFI
//! call and left before it returns, so no JS frame is ever copied or suspended (DESIGN.md, the
//! two V8 rules); ops never call JS: they report through the completion ring.
//!
//! How to add an op (TCP connect, write-all, accept loop, ...):
//!
//!   1. Declare a struct with a field `op: hub.Op`, a `pub const kind: u32` (a new number from
//!      16 up; add it to `OpKind` below, or beside its layer's kinds as io/stream.zig does, so
//!      kinds stay unique; give it a row in abi.zig so JS and C can name it), and
//!      `pub fn run(self: *Self) hub.Completion`. Its other fields are the op's arguments and
//!      any state that must outlive one step (memory the op owns; never a JS buffer).
//!   2. Write `run` as blocking code: try the syscall; on WouldBlock call
//!      `try self.op.waitReadable(fd)` (or `waitWritable`) and retry. A wait returns when the
//!      descriptor is ready, or fails with `error.Canceled` (hub closing, `cancelFd`) or
//!      `error.OutOfMemory`: return `.fail(err)` then. Bound every loop. Call
//!      `self.op.yieldTurn()` inside long loops so one op cannot hold the loop turn, and
//!      `self.op.post(result, aux)` for intermediate records (an accept loop's connections);
//!      post waits for ring space, so nothing is lost.
//!   3. Return the final `Completion`: the hub posts it as { token, result, kind, aux }; a slot
//!      for it is reserved when the op starts, so a final completion is never lost.
//!   4. Start it from the layer that owns its object: `hub.start(MyOp, .{ .op = undefined, ...
//!      }, token)` in a method or an io/*_calls.zig function, which finds the hub of the
//!      object's loop (hub/loops.zig). start runs the op at once until it first blocks (a
//!      completion may already be posted). Export that function from exports.zig as a one-line
//!      forward through `ffi.call`, declare it in include/evergreen.h and src/native/*_symbols.ts,
//!      and mirror its kind in src/native/constants.ts: tests/seam_test.ts checks all three.
//!   5. Test it in zig against real descriptors, as tests.zig does for `ReadExact` below.
//!
//! Locals of `run` live on the op's stacklet and survive every wait (the stacklet's stack slice
//! is copied out and back), so keeping a buffer on the stack across waits is fine.

const std = @import("std");
const errors = @import("../loop/errors.zig");
const event = @import("../loop/event.zig");
const loop = @import("../loop/loop.zig");
const ring = @import("../loop/ring.zig");
const stacklet = @import("../stacklet/stacklet.zig");

/// Kinds of op completion records (the ring's `kind`); loop kinds are below 16.
pub const OpKind = enum(u32) {
    read_exact = 16,
    _,
};

/// The most ops (blocked reads, drains, accepts, ...) a library loop may hold at once; its
/// op table grows on demand up to this cap (loops.zig sets it as `ops_max`).
pub const ops_limit: u32 = 1 << 20;

/// Bytes of finished ops' memory a hub keeps for the next ops (see OpCache): enough for a
/// read op per connection of a server with a hundred busy ones, little for an idle hub.
pub const op_cache_bytes_max: usize = 16 * 1024;

pub const Options = struct {
    loop: loop.Options = .{},
    /// Ops alive at once, a hard cap (reaching it fails a start with error.Overflow). Each live
    /// op reserves one overflow-queue slot for its final completion; the queue grows on demand,
    /// so the loop's overflowMax() must exceed this.
    ops_max: u32 = 1024,
    /// The dedicated stack region all ops run on (their frames; saved slices go to the heap).
    stack_size: usize = 256 * 1024,
};

/// An op's result: `result` is a count or value (>= 0) or `-code` on failure.
pub const Completion = struct {
    result: i32,
    aux: u32 = 0,

    pub fn fail(err: errors.Error) Completion {
        return .{ .result = errors.negative(err) };
    }
};

const State = enum { running, waiting_fd, waiting_space, waiting_turn, finished };

/// The part every op embeds. Op bodies use waitReadable/waitWritable/yieldTurn/post.
pub const Op = struct {
    hub: *Hub,
    token: u32,
    kind: u32,
    body: *const fn (*Op) Completion,
    /// Gives the op's memory back to its hub (OpCache) or to the allocator.
    free: *const fn (*Op) void,
    /// The op's stacklet, valid while it is suspended.
    handle: stacklet.Handle = null,
    /// The hub's stacklet (the thread's main one): where the op switches back to.
    origin: stacklet.Handle = null,
    waiter: loop.Waiter = .{},
    state: State = .running,
    canceled: bool = false,
    /// Links in the hub's list of live ops and in one of its FIFO queues (space, turn).
    live_prev: ?*Op = null,
    live_next: ?*Op = null,
    queue_next: ?*Op = null,

    pub fn waitReadable(op: *Op, fd: event.Fd) errors.Error!void {
        return op.waitFd(fd, .read);
    }

    pub fn waitWritable(op: *Op, fd: event.Fd) errors.Error!void {
        return op.waitFd(fd, .write);
    }

    /// Lets the other ops and JS run; resumes on the next poll.
    pub fn yieldTurn(op: *Op) errors.Error!void {
        if (op.canceled) return error.Canceled;
        op.hub.turn_queue.push(op);
        op.suspendAs(.waiting_turn) catch |err| {
            std.debug.assert(op.hub.turn_queue.remove(op));
            return err;
        };
        if (op.canceled) return error.Canceled;
    }

    /// Posts an intermediate record with the op's token and kind. When the ring and the
    /// unreserved part of the overflow queue are full it waits until JS has drained the ring.
    pub fn post(op: *Op, result: i32, aux: u32) errors.Error!void {
        const hub = op.hub;
        var attempt: u32 = 0;
        while (attempt < 1 << 20) : (attempt += 1) {
            if (op.canceled) return error.Canceled;
            if (hub.hasRoomForIntermediate()) {
                try hub.loop.post(op.record(result, aux));
                return;
            }
            hub.space_queue.push(op);
            op.suspendAs(.waiting_space) catch |err| {
                std.debug.assert(hub.space_queue.remove(op));
                return err;
            };
        }
        return error.Overflow;
    }

    /// The outcome of the wait an op started by `Hub.startWaiting` began in: error.Canceled
    /// if a cancel ended it, as `waitReadable`/`waitWritable` would report.
    pub fn deferredWait(op: *const Op) errors.Error!void {
        if (op.waiter.canceled or op.canceled) return error.Canceled;
    }

    fn waitFd(op: *Op, fd: event.Fd, direction: loop.Direction) errors.Error!void {
        if (op.canceled) return error.Canceled;
        try op.hub.loop.addWaiter(fd, direction, &op.waiter);
        op.suspendAs(.waiting_fd) catch |err| {
            op.hub.loop.removeWaiter(&op.waiter);
            return err;
        };
        if (op.waiter.canceled or op.canceled) return error.Canceled;
    }

    /// Switches back to the hub; returns when the hub resumes this op.
    fn suspendAs(op: *Op, state: State) errors.Error!void {
        std.debug.assert(op.state == .running);
        op.state = state;
        _ = stacklet.switchTo(op.hub.thread.?, op.origin) catch |err| {
            op.state = .running;
            return switch (err) {
                error.OutOfMemory => error.OutOfMemory,
                else => error.Unexpected,
            };
        };
        std.debug.assert(op.state == .running);
    }

    fn record(op: *const Op, result: i32, aux: u32) ring.Record {
        return .{ .token = op.token, .result = result, .kind = op.kind, .aux = aux };
    }
};

/// An intrusive FIFO of ops through `queue_next`.
const OpQueue = struct {
    head: ?*Op = null,
    tail: ?*Op = null,

    fn push(queue: *OpQueue, op: *Op) void {
        op.queue_next = null;
        if (queue.tail) |tail| tail.queue_next = op else queue.head = op;
        queue.tail = op;
    }

    fn take(queue: *OpQueue) ?*Op {
        const head = queue.head;
        queue.* = .{};
        return head;
    }

    fn remove(queue: *OpQueue, op: *Op) bool {
        var previous: ?*Op = null;
        var cursor = queue.head;
        while (cursor) |current| : (cursor = current.queue_next) {
            if (current != op) {
                previous = current;
                continue;
            }
            if (previous) |p| p.queue_next = current.queue_next else queue.head = current.queue_next;
            if (queue.tail == current) queue.tail = previous;
            current.queue_next = null;
            return true;
        }
        return false;
    }

    fn isEmpty(queue: *const OpQueue) bool {
        return queue.head == null;
    }
};

/// Memory of finished ops kept for the next op of the same size and alignment, so that an op
/// per request (a read that waits) costs no malloc and free. Each class is a LIFO list through
/// the kept blocks' first word; the kept bytes are bounded (op_cache_bytes_max) and freed with
/// the hub.
const OpCache = struct {
    /// Op types of distinct size and alignment that one hub keeps memory for (the library
    /// has a handful); a block of any other goes back to the allocator.
    const class_count = 8;

    const Node = struct { next: ?*Node };

    const Class = struct {
        size: usize = 0,
        alignment: std.mem.Alignment = .@"1",
        head: ?*Node = null,
    };

    classes: [class_count]Class = @splat(.{}),
    bytes: usize = 0,

    /// The class of T: the one with its size and alignment, else the first unused one.
    fn classOf(cache: *OpCache, comptime T: type) ?*Class {
        comptime std.debug.assert(@sizeOf(T) >= @sizeOf(Node) and @alignOf(T) >= @alignOf(Node));
        const alignment: std.mem.Alignment = .of(T);
        for (&cache.classes) |*class| {
            if (class.size == @sizeOf(T) and class.alignment == alignment) return class;
            if (class.size == 0) {
                class.* = .{ .size = @sizeOf(T), .alignment = alignment };
                return class;
            }
        }
        return null;
    }

    fn take(cache: *OpCache, comptime T: type) ?*T {
        const class = cache.classOf(T) orelse return null;
        const node = class.head orelse return null;
        class.head = node.next;
        cache.bytes -= @sizeOf(T);
        return @ptrCast(@alignCast(node));
    }

    /// Keeps typed's memory; false when the cache is full (the caller frees it).
    fn put(cache: *OpCache, comptime T: type, typed: *T) bool {
        if (cache.bytes + @sizeOf(T) > op_cache_bytes_max) return false;
        const class = cache.classOf(T) orelse return false;
        typed.* = undefined;
        const node: *Node = @ptrCast(typed);
        node.* = .{ .next = class.head };
        class.head = node;
        cache.bytes += @sizeOf(T);
        return true;
    }

    fn deinit(cache: *OpCache, gpa: std.mem.Allocator) void {
        for (&cache.classes) |*class| {
            while (class.head) |node| {
                class.head = node.next;
                const block: [*]u8 = @ptrCast(node);
                gpa.rawFree(block[0..class.size], class.alignment, @returnAddress());
                cache.bytes -= class.size;
            }
        }
        std.debug.assert(cache.bytes == 0);
    }
};

pub const Hub = struct {
    gpa: std.mem.Allocator,
    options: Options,
    loop: loop.Loop,
    /// Created with the first op: a loop that only watches descriptors needs no stacks.
    thread: ?*stacklet.Thread = null,
    stack: stacklet.Stack = undefined,
    live_head: ?*Op = null,
    ops_live: u32 = 0,
    turn_queue: OpQueue = .{},
    space_queue: OpQueue = .{},
    op_cache: OpCache = .{},
    /// Set by an entry function run on the stack region, which cannot return a Zig error.
    entry_error: ?errors.Error = null,
    completions_lost: u32 = 0,

    pub fn create(gpa: std.mem.Allocator, options: Options) errors.Error!*Hub {
        if (options.ops_max == 0) return error.InvalidArgument;
        if (options.loop.overflowMax() <= options.ops_max) return error.InvalidArgument;
        const hub = try gpa.create(Hub);
        errdefer gpa.destroy(hub);
        hub.* = .{ .gpa = gpa, .options = options, .loop = try loop.Loop.init(gpa, options.loop) };
        return hub;
    }

    /// Cancels every op (each sees error.Canceled at its wait and returns), then frees all.
    pub fn destroy(hub: *Hub) void {
        hub.cancelAll();
        if (hub.thread) |thread| {
            stacklet.deleteThread(thread);
            hub.stack.deinit(hub.gpa);
        }
        hub.loop.deinit();
        hub.op_cache.deinit(hub.gpa);
        hub.gpa.destroy(hub);
    }

    /// One loop turn: waits up to timeout_ms unless ops are ready to continue, resumes the ops
    /// whose descriptors became ready, and returns how many records JS can read now.
    pub fn poll(hub: *Hub, timeout_ms: i32) errors.Error!u32 {
        try hub.loop.poll(if (hub.hasQueuedOps()) 0 else timeout_ms);
        if (hub.loop.hasRunnable() or hub.hasQueuedOps()) try hub.runOnStack(.resume_ready, null);
        hub.loop.updateParkHint(hub.hasQueuedOps());
        return hub.loop.ring.count();
    }

    /// Starts op T (see the header) and runs it until it first blocks or finishes.
    pub fn start(hub: *Hub, comptime T: type, value: T, token: u32) errors.Error!void {
        const typed = try hub.admit(T, value, token);
        hub.link(&typed.op);
        try hub.runOnStack(.start, &typed.op);
        hub.loop.updateParkHint(hub.hasQueuedOps());
    }

    /// Starts op T suspended in a wait for fd, without a stacklet: one is made only once fd is
    /// ready (or the wait is canceled), and T.run begins with `op.deferredWait()` in place of
    /// its first wait. An op that waits first and then usually finishes without waiting again
    /// (a read after the peer answers) so costs no stack slice saved and copied back.
    pub fn startWaiting(hub: *Hub, comptime T: type, value: T, token: u32, fd: event.Fd, direction: loop.Direction) errors.Error!void {
        const typed = try hub.admit(T, value, token);
        typed.op.state = .waiting_fd;
        hub.loop.addWaiter(fd, direction, &typed.op.waiter) catch |err| {
            typed.op.free(&typed.op);
            return err;
        };
        hub.link(&typed.op);
        hub.loop.updateParkHint(hub.hasQueuedOps());
    }

    /// Admits a new op T (within ops_max, growing the overflow reserve as needed) and allocates
    /// it (from the op cache when it can), not yet linked or started.
    fn admit(hub: *Hub, comptime T: type, value: T, token: u32) errors.Error!*T {
        comptime std.debug.assert(T.kind >= 16);
        if (hub.ops_live >= hub.options.ops_max) return error.Overflow;
        // Every live op keeps one overflow slot for its final completion, this one included.
        try hub.loop.ring.reserveOverflow(hub.ops_live + 1);
        try hub.ensureStacklets();
        const typed = hub.op_cache.take(T) orelse try hub.gpa.create(T);
        typed.* = value;
        typed.op = .{
            .hub = hub,
            .token = token,
            .kind = T.kind,
            .body = Adapter(T).body,
            .free = Adapter(T).free,
        };
        return typed;
    }

    /// Wakes the ops waiting on fd with error.Canceled (before the descriptor is closed) and
    /// lets them finish now.
    pub fn cancelFd(hub: *Hub, fd: event.Fd) errors.Error!void {
        hub.loop.cancelWaiters(fd);
        if (hub.loop.hasRunnable()) try hub.runOnStack(.resume_ready, null);
        hub.loop.updateParkHint(hub.hasQueuedOps());
    }

    pub fn opsLive(hub: *const Hub) u32 {
        return hub.ops_live;
    }

    fn hasQueuedOps(hub: *const Hub) bool {
        return !hub.turn_queue.isEmpty() or (!hub.space_queue.isEmpty() and hub.hasRoomForIntermediate());
    }

    fn hasRoomForIntermediate(hub: *const Hub) bool {
        const completions = &hub.loop.ring;
        if (completions.overflow_len == 0 and (completions.free() catch 0) > 0) return true;
        return completions.overflowFree() > hub.ops_live;
    }

    /// Makes the ops' stack region on first use (start calls it; tests call it to read the
    /// region's bounds before any op runs).
    pub fn ensureStacklets(hub: *Hub) errors.Error!void {
        if (hub.thread != null) return;
        var stack = stacklet.Stack.init(hub.gpa, hub.options.stack_size) catch |err| return mapStackletError(err);
        errdefer stack.deinit(hub.gpa);
        const thread = stacklet.newThread(hub.gpa) catch |err| return mapStackletError(err);
        errdefer stacklet.deleteThread(thread);
        hub.stack = stack;
        // Pinning makes any use of the stacklets off the region an error instead of a copy
        // of the caller's (JS) frames.
        stacklet.bindStack(thread, &hub.stack) catch |err| return mapStackletError(err);
        hub.thread = thread;
    }

    const Mode = enum { start, resume_ready, cancel_all };

    const Entry = struct {
        hub: *Hub,
        mode: Mode,
        op: ?*Op,

        fn run(arg: ?*anyopaque) callconv(.c) void {
            const entry: *Entry = @ptrCast(@alignCast(arg.?));
            const hub = entry.hub;
            switch (entry.mode) {
                .start => hub.startOp(entry.op.?),
                .resume_ready => hub.resumeReady(),
                .cancel_all => hub.cancelLive(),
            }
        }
    };

    /// Enters the dedicated stack region for the duration of one native step.
    fn runOnStack(hub: *Hub, mode: Mode, op: ?*Op) errors.Error!void {
        std.debug.assert(hub.thread != null);
        var entry: Entry = .{ .hub = hub, .mode = mode, .op = op };
        hub.entry_error = null;
        stacklet.enterStack(&hub.stack, Entry.run, &entry) catch |err| {
            if (op) |started| {
                // The op never ran: drop it without a completion; the caller reports the error.
                hub.unlink(started);
                started.free(started);
            }
            return mapStackletError(err);
        };
        if (hub.entry_error) |err| return err;
    }

    fn startOp(hub: *Hub, op: *Op) void {
        const handle = stacklet.new(hub.thread.?, opEntry, op) catch |err| {
            hub.unlink(op);
            op.free(op);
            hub.entry_error = mapStackletError(err);
            return;
        };
        hub.settle(op, handle);
    }

    fn resumeOp(hub: *Hub, op: *Op) void {
        std.debug.assert(op.state != .running and op.state != .finished);
        op.state = .running;
        if (op.handle == null) {
            // Started by startWaiting: its first wait is over; its stacklet begins now.
            const started = stacklet.new(hub.thread.?, opEntry, op) catch |err| {
                op.state = .finished;
                hub.postFinal(op.record(errors.negative(mapStackletError(err)), 0));
                hub.release(op);
                return;
            };
            hub.settle(op, started);
            return;
        }
        const handle = stacklet.switchTo(hub.thread.?, op.handle) catch |err| {
            // The op cannot continue (no memory to save the hub's slice): drop its stacklet
            // and report the failure as its completion.
            op.state = .finished;
            stacklet.destroy(hub.thread.?, op.handle);
            hub.postFinal(op.record(errors.negative(mapStackletError(err)), 0));
            hub.release(op);
            return;
        };
        hub.settle(op, handle);
    }

    /// After an op switched back: it finished (free it) or it is suspended (keep its handle).
    fn settle(hub: *Hub, op: *Op, handle: stacklet.Handle) void {
        if (op.state == .finished) {
            std.debug.assert(handle == null);
            hub.release(op);
        } else {
            std.debug.assert(handle != null);
            op.handle = handle;
        }
    }

    fn resumeReady(hub: *Hub) void {
        // Each queue is detached first, so an op queued again while it runs waits for the next
        // poll; no queue holds more than the ops alive now.
        const rounds_max = hub.ops_live;
        // Ops that yield during this pass land in the emptied queue and wait for the next poll.
        var turn = hub.turn_queue.take();
        // Ops waiting for ring space first: JS has just drained the ring.
        var space = hub.space_queue.take();
        var rounds: u32 = 0;
        while (space) |op| : (rounds += 1) {
            std.debug.assert(rounds < rounds_max);
            space = op.queue_next;
            op.queue_next = null;
            if (!hub.hasRoomForIntermediate()) {
                hub.space_queue.push(op);
                continue;
            }
            hub.resumeOp(op);
        }
        var waiter = hub.loop.takeRunnable();
        rounds = 0;
        while (waiter) |ready| : (rounds += 1) {
            std.debug.assert(rounds < rounds_max);
            waiter = ready.next;
            ready.next = null;
            ready.queued = false;
            hub.resumeOp(@fieldParentPtr("waiter", ready));
        }
        rounds = 0;
        while (turn) |op| : (rounds += 1) {
            std.debug.assert(rounds < rounds_max);
            turn = op.queue_next;
            op.queue_next = null;
            hub.resumeOp(op);
        }
    }

    fn cancelAll(hub: *Hub) void {
        if (hub.ops_live == 0) return;
        hub.runOnStack(.cancel_all, null) catch {};
        // Ops that would not finish when canceled (or when the stack could not be entered)
        // are dropped: their frames are discarded without running.
        while (hub.live_head) |op| {
            if (op.state == .waiting_fd) hub.loop.removeWaiter(&op.waiter);
            if (op.waiter.queued) {
                // Still in the runnable list: empty it, it is rebuilt by nobody any more.
                _ = hub.loop.takeRunnable();
            }
            if (hub.thread) |thread| stacklet.destroy(thread, op.handle);
            hub.release(op);
        }
        _ = hub.loop.takeRunnable();
    }

    fn cancelLive(hub: *Hub) void {
        // Each round resumes every suspended op with `canceled` set; a well-behaved op returns
        // at its next wait, so a few rounds suffice.
        var round: u32 = 0;
        while (hub.live_head != null and round < 4) : (round += 1) {
            var cursor = hub.live_head;
            while (cursor) |op| {
                cursor = op.live_next;
                op.canceled = true;
                switch (op.state) {
                    .waiting_fd => {
                        if (op.waiter.queued) continue; // resumed below from the runnable list
                        hub.loop.removeWaiter(&op.waiter);
                        op.waiter.canceled = true;
                    },
                    .waiting_turn => std.debug.assert(hub.turn_queue.remove(op)),
                    .waiting_space => std.debug.assert(hub.space_queue.remove(op)),
                    .running, .finished => unreachable,
                }
                hub.resumeOp(op);
            }
            var waiter = hub.loop.takeRunnable();
            while (waiter) |ready| {
                waiter = ready.next;
                ready.next = null;
                ready.queued = false;
                hub.resumeOp(@fieldParentPtr("waiter", ready));
            }
        }
    }

    /// Posts an op's last record. Start reserved an overflow slot for it, so only a ring that
    /// JS corrupted (a bad head) can refuse it; that is counted, the loop reports the ring error.
    fn postFinal(hub: *Hub, record: ring.Record) void {
        hub.loop.post(record) catch {
            hub.completions_lost +%= 1;
        };
    }

    fn link(hub: *Hub, op: *Op) void {
        op.live_prev = null;
        op.live_next = hub.live_head;
        if (hub.live_head) |head| head.live_prev = op;
        hub.live_head = op;
        hub.ops_live += 1;
    }

    fn unlink(hub: *Hub, op: *Op) void {
        if (op.live_prev) |previous| previous.live_next = op.live_next else hub.live_head = op.live_next;
        if (op.live_next) |next| next.live_prev = op.live_prev;
        std.debug.assert(hub.ops_live > 0);
        hub.ops_live -= 1;
    }

    fn release(hub: *Hub, op: *Op) void {
        hub.unlink(op);
        op.free(op);
    }
};

/// Body of every op's stacklet: runs the op, posts its final completion, ends.
fn opEntry(origin: stacklet.Handle, arg: ?*anyopaque) callconv(.c) stacklet.Handle {
    const op: *Op = @ptrCast(@alignCast(arg.?));
    op.origin = origin;
    const completion = op.body(op);
    op.hub.postFinal(op.record(completion.result, completion.aux));
    op.state = .finished;
    return op.origin;
}

fn Adapter(comptime T: type) type {
    return struct {
        fn body(op: *Op) Completion {
            const typed: *T = @fieldParentPtr("op", op);
            return typed.run();
        }

        fn free(op: *Op) void {
            const typed: *T = @fieldParentPtr("op", op);
            const hub = op.hub;
            if (!hub.op_cache.put(T, typed)) hub.gpa.destroy(typed);
        }
    };
}

fn mapStackletError(err: stacklet.Error) errors.Error {
    return switch (err) {
        error.OutOfMemory => error.OutOfMemory,
        error.TooManyStacklets => error.Overflow,
        error.WrongThread => error.WrongThread,
        error.StackBusy => error.Busy,
        error.InvalidStackSize => error.InvalidArgument,
        else => error.Unexpected,
    };
}

// ---------------------------------------------------------------------------------------
// ReadExact: the reference op. Reads exactly `length` bytes from fd, keeping them in a buffer
// on its own stacklet stack across every wait, then completes with result = length and
// aux = FNV-1a of the bytes (so a test can check that no byte was lost or changed).

pub const read_exact_length_max = 4096;

pub const ReadExact = struct {
    pub const kind: u32 = @backingInt(OpKind.read_exact);

    op: Op,
    fd: event.Fd,
    length: u32,

    pub fn run(self: *ReadExact) Completion {
        if (self.length == 0 or self.length > read_exact_length_max) return .fail(error.InvalidArgument);
        var received: [read_exact_length_max]u8 = undefined;
        var count: u32 = 0;
        var rounds: u32 = 0;
        // Each round reads at least one byte or waits once; spurious wake-ups are rare.
        const rounds_max = 2 * self.length + 64;
        while (count < self.length) : (rounds += 1) {
            if (rounds == rounds_max) return .fail(error.TimedOut);
            const n = readSome(self.fd, received[count..self.length]) catch |err| switch (err) {
                error.WouldBlock => {
                    self.op.waitReadable(self.fd) catch |wait_err| return .fail(wait_err);
                    continue;
                },
                else => return .fail(err),
            };
            if (n == 0) return .fail(error.BrokenPipe); // end of stream before `length` bytes
            count += @intCast(n);
        }
        return .{ .result = @intCast(count), .aux = fnv1a(received[0..count]) };
    }
};

fn readSome(fd: event.Fd, buffer: []u8) errors.Error!usize {
    return @import("../loop/test_support.zig").read(fd, buffer);
}

pub fn fnv1a(bytes: []const u8) u32 {
    var hash: u32 = 0x811c9dc5;
    for (bytes) |byte| {
        hash ^= byte;
        hash *%= 0x01000193;
    }
    return hash;
}
