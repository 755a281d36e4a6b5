//! Stack-copying stacklets (PyPy's design): one-shot continuations whose frames live at fixed
//! addresses on one native stack. A switch saves the running stacklet's live slice to the heap, lazily
//! and only as far as the target needs, then copies the target's saved slice back. The register
//! switch is in one small file per ABI; `callOnStack` moves a call onto a dedicated stack region.

const std = @import("std");
const builtin = @import("builtin");

const arch = switch (builtin.cpu.arch) {
    .x86_64 => if (builtin.os.tag == .windows)
        @import("switch_x86_64_windows.zig")
    else
        @import("switch_x86_64_sysv.zig"),
    .aarch64 => if (builtin.os.tag == .windows)
        @compileError("stacklets do not support aarch64 Windows")
    else
        @import("switch_aarch64.zig"),
    else => @compileError("stacklets support x86_64 and aarch64 only"),
};

pub const Error = error{
    OutOfMemory,
    /// Not a suspended stacklet of this thread: null, finished, destroyed, running, or foreign.
    InvalidHandle,
    /// The `Thread` belongs to another OS thread.
    WrongThread,
    /// The call does not run on the stack region the thread's stacklets live on.
    WrongStack,
    /// The thread holds `stacklet_count_max` stacklets already.
    TooManyStacklets,
    /// The thread's original stacklet (the one no `new` created) cannot be destroyed.
    CannotDestroyMain,
    /// A finished stacklet's run() returned an invalid handle, so main was resumed instead.
    InvalidRunResult,
    /// Only the thread's original stacklet may do this, and another one is running.
    StackletRunning,
    /// The stack region is in use by another thread, or by an outer call on this one.
    StackBusy,
    /// A stack region size outside `stack_size_min..stack_size_max`.
    InvalidStackSize,
    /// The guard page below a stack region could not be protected.
    GuardPageFailed,
};

/// A suspended stacklet, or null (EMPTY): a stacklet that finished has no handle. A handle stays the
/// same for the whole life of its stacklet; it is valid while the stacklet is suspended.
pub const Handle = ?*Stacklet;

/// Body of a stacklet: gets the handle of the stacklet that started it, returns the handle to switch
/// to when it ends.
pub const RunFn = *const fn (origin: Handle, arg: ?*anyopaque) callconv(.c) Handle;

/// A function run on a dedicated stack region by `callOnStack`.
pub const EntryFn = *const fn (arg: ?*anyopaque) callconv(.c) void;

// The step functions (stepSwitch, stepNew, stepFinish) are the bookkeeping of a switch, called
// from the ABI file's asm with the stack pointer once the live registers are spilled. Returns the target's stack pointer, after which the asm copies the
// thread's `restore_size` bytes at `restore_source` there and resumes the target; or 0 to go on
// without switching. `arch.switchStack` returns 1 in a resumed stacklet, 0 otherwise; it takes
// `Thread` as a parameter (its asm reads those two fields), so the ABI files import nothing here.

/// Stacklets a thread may hold at once (running, suspended and reserved), in chunks of doubling size.
pub const stacklet_count_max = chunk_capacity_first * ((1 << chunk_count_max) - 1);
const chunk_capacity_first = 64;
const chunk_count_max = 15;
/// Every slice starts and stops on this boundary (the switch asm hands the step a 16-byte aligned
/// stack pointer), so that slices copy as whole 16-byte blocks.
const slice_alignment = 16;
/// Stack left unused between a stacklet and the frame of the `new` that started it (see `startBelowGap`).
pub const new_stack_gap_size = 512;
/// Saved-slice buffers grow in these steps, so that small depth changes do not reallocate.
const buffer_granule_size = 1024;
/// A freed stacklet keeps a buffer up to this size for its next use; larger ones go back to the heap.
const buffer_keep_size_max = 64 * 1024;
/// No live slice is larger than this: it bounds every buffer, whatever stack the thread runs on.
pub const slice_size_max = stack_size_max;

pub const stack_size_min = 64 * 1024;
pub const stack_size_max = 1024 * 1024 * 1024;

const State = enum(u8) { free, reserved, running, suspended };

/// One stacklet's header. Its slice `[stack_start, stack_stop)` of the native stack holds its frames
/// while it runs; while suspended, the part `[stack_start, stack_start + saved_size)` is in `buffer`
/// and the rest is still on the stack, protected by the chain invariant (see `Thread`).
pub const Stacklet = struct {
    stack_start: usize = 0,
    stack_stop: usize = 0,
    saved_size: usize = 0,
    /// Capacity for the whole slice, reserved when the stacklet suspends, so saving never allocates.
    buffer: []u8 = &.{},
    /// Neighbours in the thread's chain: `newer` has a lower `stack_stop`, `older` a higher one.
    /// A free stacklet is never chained; its `older` links the free list instead.
    newer: ?*Stacklet = null,
    older: ?*Stacklet = null,
    in_chain: bool = false,
    state: State = .free,
    is_main: bool = false,

    comptime {
        // A power of two keeps the handle check in `Thread.lookup` to a mask.
        std.debug.assert(std.math.isPowerOfTwo(@sizeOf(Stacklet)));
    }
};

/// Per-OS-thread state (PyPy's stacklet_thread). All its stacklets run on one native stack.
///
/// Chain invariant: suspended stacklets whose slice is partly still on the stack are chained by
/// increasing `stack_stop`, and all their unsaved bytes lie at or above `current_stack_stop`, the
/// top of the running stacklet's slice. The running stacklet only grows downwards from there, so it
/// never overwrites them. A switch saves just the chained bytes below the target's `stack_stop`.
/// The main stacklet always has the highest `stack_stop`, so while it runs the chain is empty and
/// every other stacklet is wholly in the heap: leaving the stack region is then safe.
pub const Thread = struct {
    /// The saved slice the ABI file copies back once the stack pointer has moved to the target.
    restore_source: [*]const u8 = undefined,
    restore_size: usize = 0,
    gpa: std.mem.Allocator,
    /// Identity of the OS thread that owns this state (see `threadIdentity`).
    owner: usize,
    main: *Stacklet,
    current: *Stacklet,
    current_stack_stop: usize = 0,
    chain_head: ?*Stacklet = null,
    suspended_count: usize = 0,
    /// Top of the stack region the stacklets live on; 0 is the OS thread's own stack.
    region_top: usize = 0,
    /// Set by `bindStack`: the region never changes, even when no stacklet is suspended.
    region_pinned: bool = false,

    // Hand-over between the public calls and the steps, which run inside the register switch.
    source: ?*Stacklet = null,
    target: ?*Stacklet = null,
    new_stacklet: ?*Stacklet = null,
    new_stack_stop: usize = 0,
    switch_failed: bool = false,
    run_result_invalid: bool = false,

    chunks: [chunk_count_max][]Stacklet = @splat(&.{}),
    chunk_count: usize = 0,
    /// Slots of the newest chunk handed out so far.
    chunk_used: usize = 0,
    free_head: ?*Stacklet = null,
    free_tail: ?*Stacklet = null,

    /// Validates a handle without dereferencing it: it must point at a slot of this thread's chunks.
    fn lookup(thread: *const Thread, address: usize) ?*Stacklet {
        for (thread.chunks[0..thread.chunk_count]) |chunk| {
            const base = @intFromPtr(chunk.ptr);
            if (address >= base and address < base + chunk.len * @sizeOf(Stacklet)) {
                if ((address - base) % @sizeOf(Stacklet) != 0) return null;
                return @ptrFromInt(address);
            }
        }
        return null;
    }

    fn lookupSuspended(thread: *const Thread, handle: Handle) ?*Stacklet {
        const stacklet = thread.lookup(@intFromPtr(handle orelse return null)) orelse return null;
        return if (stacklet.state == .suspended) stacklet else null;
    }

    fn checkOwner(thread: *const Thread) Error!void {
        if (thread.owner != threadIdentity()) return error.WrongThread;
    }

    /// Checks the caller's OS thread and stack region. With nothing suspended and main running, a
    /// thread that is not pinned follows the caller to its region and forgets the old stack top.
    fn checkCaller(thread: *Thread) Error!void {
        try thread.checkOwner();
        const region_top = thread_state.region_top;
        const idle = thread.suspended_count == 0 and thread.current == thread.main;
        if (idle and !thread.region_pinned) {
            thread.region_top = region_top;
            thread.current_stack_stop = 0;
        } else if (region_top != thread.region_top) {
            @branchHint(.unlikely);
            return error.WrongStack;
        }
    }

    /// Raises the running slice's top above `marker_address`. Only main can be above its own top:
    /// every other stacklet lives below the stop it got from `new`. Main's frames above its top
    /// are safe without saving, as every other stacklet lives below that top.
    fn coverFrame(thread: *Thread, marker_address: usize) void {
        if (marker_address >= thread.current_stack_stop) {
            std.debug.assert(thread.current == thread.main);
            thread.current_stack_stop = std.mem.alignForward(usize, marker_address + 1, slice_alignment);
        }
    }

    fn reserve(thread: *Thread) Error!*Stacklet {
        const stacklet = thread.free_head orelse try thread.takeSlot();
        if (thread.free_head == stacklet) {
            thread.free_head = stacklet.older;
            if (thread.free_head == null) thread.free_tail = null;
            stacklet.older = null;
        }
        std.debug.assert(stacklet.state == .free);
        std.debug.assert(!stacklet.in_chain);
        stacklet.state = .reserved;
        stacklet.is_main = false;
        return stacklet;
    }

    fn takeSlot(thread: *Thread) Error!*Stacklet {
        const newest_full = thread.chunk_count == 0 or
            thread.chunk_used == thread.chunks[thread.chunk_count - 1].len;
        if (newest_full) {
            if (thread.chunk_count == chunk_count_max) return error.TooManyStacklets;
            const capacity = @as(usize, chunk_capacity_first) << @intCast(thread.chunk_count);
            const chunk = try thread.gpa.alloc(Stacklet, capacity);
            @memset(chunk, .{});
            thread.chunks[thread.chunk_count] = chunk;
            thread.chunk_count += 1;
            thread.chunk_used = 0;
        }
        const chunk = thread.chunks[thread.chunk_count - 1];
        const stacklet = &chunk[thread.chunk_used];
        thread.chunk_used += 1;
        return stacklet;
    }

    /// Returns a header to the free list. FIFO reuse keeps a stale handle invalid for as long as
    /// possible, so that using one is reported instead of resuming an unrelated stacklet.
    fn release(thread: *Thread, stacklet: *Stacklet) void {
        std.debug.assert(stacklet != thread.main);
        std.debug.assert(!stacklet.in_chain);
        stacklet.state = .free;
        stacklet.saved_size = 0;
        if (stacklet.buffer.len > buffer_keep_size_max) {
            thread.gpa.free(stacklet.buffer);
            stacklet.buffer = &.{};
        }
        stacklet.older = null;
        if (thread.free_tail) |tail| tail.older = stacklet else thread.free_head = stacklet;
        thread.free_tail = stacklet;
    }

    fn chainPush(thread: *Thread, stacklet: *Stacklet) void {
        std.debug.assert(!stacklet.in_chain);
        if (thread.chain_head) |head| {
            std.debug.assert(head.stack_stop >= stacklet.stack_stop);
            head.newer = stacklet;
        }
        stacklet.newer = null;
        stacklet.older = thread.chain_head;
        stacklet.in_chain = true;
        thread.chain_head = stacklet;
    }

    fn chainUnlink(thread: *Thread, stacklet: *Stacklet) void {
        std.debug.assert(stacklet.in_chain);
        if (stacklet.newer) |newer| newer.older = stacklet.older else {
            std.debug.assert(thread.chain_head == stacklet);
            thread.chain_head = stacklet.older;
        }
        if (stacklet.older) |older| older.newer = stacklet.newer;
        stacklet.newer = null;
        stacklet.older = null;
        stacklet.in_chain = false;
    }

    /// Suspends the running stacklet at `stack_pointer`, nothing saved and not chained yet. Fails,
    /// leaving it running, if its buffer cannot grow to the size of its whole slice.
    fn suspendCurrent(thread: *Thread, stack_pointer: usize) error{OutOfMemory}!*Stacklet {
        const current = thread.current;
        thread.coverFrame(stack_pointer);
        const stop = thread.current_stack_stop;
        std.debug.assert(current.state == .running);
        std.debug.assert(stack_pointer < stop);
        std.debug.assert(stack_pointer % slice_alignment == 0);
        std.debug.assert(stop % slice_alignment == 0);
        const size = stop - stack_pointer;
        if (size > slice_size_max) return error.OutOfMemory;
        if (current.buffer.len < size) {
            const capacity = std.mem.alignForward(usize, size, buffer_granule_size);
            const buffer = try thread.gpa.alloc(u8, capacity);
            thread.gpa.free(current.buffer);
            current.buffer = buffer;
        }
        current.stack_start = stack_pointer;
        current.stack_stop = stop;
        current.saved_size = 0;
        current.state = .suspended;
        thread.suspended_count += 1;
        thread.source = current;
        return current;
    }

    /// Makes `target` the running stacklet and hands its saved slice to the ABI file, which copies
    /// it back once the stack pointer is at `target.stack_start`, the returned value.
    fn resumeTarget(thread: *Thread, target: *Stacklet) usize {
        std.debug.assert(target.state == .suspended);
        std.debug.assert(!target.in_chain);
        std.debug.assert(!target.is_main or thread.chain_head == null);
        thread.restore_source = target.buffer.ptr;
        thread.restore_size = target.saved_size;
        target.saved_size = 0;
        target.state = .running;
        thread.current = target;
        thread.current_stack_stop = target.stack_stop;
        thread.suspended_count -= 1;
        return target.stack_start;
    }

    /// Copies more of a suspended slice to its buffer, at least up to `limit`.
    fn saveSlice(stacklet: *Stacklet, limit: usize) void {
        std.debug.assert(limit <= stacklet.stack_stop);
        const wanted = limit - stacklet.stack_start;
        if (wanted <= stacklet.saved_size) return;
        const stack: [*]const u8 = @ptrFromInt(stacklet.stack_start);
        copyBlocks(stacklet.buffer[stacklet.saved_size..wanted], stack[stacklet.saved_size..wanted]);
        stacklet.saved_size = wanted;
    }

    /// Saves every chained byte below the target's `stack_stop`, so that the target's slice can be
    /// written back. The target itself leaves the chain unsaved: it is about to run again. Inline:
    /// as a call, its register saves and return added about 3 ns to a shallow round trip.
    inline fn clearStackFor(thread: *Thread, target: *Stacklet) void {
        const limit = target.stack_stop;
        var steps: usize = 0;
        while (thread.chain_head) |stacklet| : (steps += 1) {
            std.debug.assert(steps <= thread.suspended_count);
            if (stacklet.stack_stop > limit) {
                if (stacklet.stack_start < limit) saveSlice(stacklet, limit);
                break;
            }
            thread.chainUnlink(stacklet);
            if (stacklet != target) saveSlice(stacklet, stacklet.stack_stop);
        }
        std.debug.assert(!target.in_chain);
    }
};

/// Copies a slice of whole blocks inline: slices are short (a few hundred bytes for a shallow
/// stacklet), where a call to the general memcpy costs as much as the copy itself. Pairs of blocks
/// let the compiler use 32-byte registers where the target has them, halving the stores.
fn copyBlocks(destination: []u8, source: []const u8) void {
    std.debug.assert(destination.len == source.len);
    std.debug.assert(source.len % slice_alignment == 0);
    const Block = @Vector(slice_alignment, u8);
    const Pair = @Vector(2 * slice_alignment, u8);
    var offset: usize = 0;
    if (source.len % (2 * slice_alignment) != 0) {
        const to: *align(1) Block = @ptrCast(destination.ptr);
        const from: *align(1) const Block = @ptrCast(source.ptr);
        to.* = from.*;
        offset = slice_alignment;
    }
    const pair_count = (source.len - offset) / (2 * slice_alignment);
    const destination_pairs: [*]align(1) Pair = @ptrCast(destination.ptr + offset);
    const source_pairs: [*]align(1) const Pair = @ptrCast(source.ptr + offset);
    for (destination_pairs[0..pair_count], source_pairs[0..pair_count]) |*to, from| to.* = from;
}

/// Per-OS-thread facts; the address of this variable identifies the OS thread.
const ThreadState = struct {
    /// Top of the stack region the OS thread runs on, set by `callOnStack`; 0 for its own stack.
    region_top: usize = 0,
    /// Calls refused with an error on this OS thread (see `fail`).
    refused_count: usize = 0,
};
threadlocal var thread_state: ThreadState = .{};

fn threadIdentity() usize {
    return @intFromPtr(&thread_state);
}

/// Step of `switchTo`. A source whose slice lies wholly below the target's stop would be saved in
/// full by `clearStackFor` anyway, so it is saved at once instead of being chained first.
fn stepSwitch(stack_pointer: usize, thread: *Thread) callconv(.c) usize {
    const target = thread.target.?;
    const source = thread.suspendCurrent(stack_pointer) catch {
        thread.switch_failed = true;
        return 0;
    };
    if (source.stack_stop <= target.stack_stop) {
        Thread.saveSlice(source, source.stack_stop);
    } else {
        thread.chainPush(source);
    }
    thread.clearStackFor(target);
    return thread.resumeTarget(target);
}

/// Step of `new`: suspends the caller and saves its slice below the new stacklet's top at once,
/// since the new stacklet starts running right there. Returns 0: the stack pointer stays.
fn stepNew(stack_pointer: usize, thread: *Thread) callconv(.c) usize {
    const fresh = thread.new_stacklet.?;
    const origin = thread.suspendCurrent(stack_pointer) catch {
        thread.switch_failed = true;
        return 0;
    };
    thread.chainPush(origin);
    Thread.saveSlice(origin, thread.new_stack_stop);
    std.debug.assert(fresh.state == .reserved);
    fresh.state = .running;
    thread.current = fresh;
    thread.current_stack_stop = thread.new_stack_stop;
    return 0;
}

/// Step of the last switch of a finished stacklet: frees it, and nothing of it is saved.
fn stepFinish(stack_pointer: usize, thread: *Thread) callconv(.c) usize {
    const finished = thread.current;
    const target = thread.target.?;
    std.debug.assert(stack_pointer < thread.current_stack_stop);
    std.debug.assert(finished.state == .running);
    thread.release(finished);
    thread.source = null;
    thread.clearStackFor(target);
    return thread.resumeTarget(target);
}

/// What a resumed stacklet's `switchTo` or `new` returns: who switched here, or an error.
fn takeResult(thread: *Thread) Error!Handle {
    if (thread.run_result_invalid) {
        thread.run_result_invalid = false;
        return error.InvalidRunResult;
    }
    return thread.source;
}

/// Creates the state for the calling OS thread; the caller becomes its main stacklet.
pub fn newThread(gpa: std.mem.Allocator) Error!*Thread {
    const thread = try gpa.create(Thread);
    errdefer gpa.destroy(thread);
    thread.* = .{
        .gpa = gpa,
        .owner = threadIdentity(),
        .main = undefined,
        .current = undefined,
    };
    errdefer for (thread.chunks[0..thread.chunk_count]) |chunk| gpa.free(chunk);
    const main = try thread.reserve();
    main.state = .running;
    main.is_main = true;
    thread.main = main;
    thread.current = main;
    return thread;
}

/// Frees the thread and every stacklet it still holds. Only main may do it, on the owning OS thread;
/// otherwise see `deleteThreadChecked`, whose errors this ignores, leaking rather than crashing.
pub fn deleteThread(thread: *Thread) void {
    deleteThreadChecked(thread) catch {};
}

/// `deleteThread` that reports `WrongThread`, or `StackletRunning` when main is not the one running.
pub fn deleteThreadChecked(thread: *Thread) Error!void {
    try thread.checkOwner();
    if (thread.current != thread.main) return error.StackletRunning;
    std.debug.assert(thread.chain_head == null);
    const gpa = thread.gpa;
    for (thread.chunks[0..thread.chunk_count], 0..) |chunk, chunk_index| {
        const used = if (chunk_index + 1 == thread.chunk_count) thread.chunk_used else chunk.len;
        for (chunk[0..used]) |*stacklet| gpa.free(stacklet.buffer);
        gpa.free(chunk);
    }
    gpa.destroy(thread);
}

/// Starts `run(origin, arg)` on a new stacklet below the caller's frame, at once. Returns when some
/// stacklet switches back to the caller: the handle of that stacklet, or null if it finished.
pub fn new(thread: *Thread, run: RunFn, arg: ?*anyopaque) Error!Handle {
    try thread.checkCaller();
    const fresh = try thread.reserve();
    var marker: u8 = 0;
    thread.coverFrame(@intFromPtr(&marker));
    thread.new_stacklet = fresh;
    startBelowGap(thread, run, arg);
    if (thread.switch_failed) {
        thread.switch_failed = false;
        thread.release(fresh);
        return error.OutOfMemory;
    }
    return takeResult(thread);
}

/// Starts the new stacklet `new_stack_gap_size` bytes below the caller. A caller that later switches
/// from about the depth where it called `new` then has its switch frames in the gap, above the new
/// stacklet's slice, so those frames need no saving: a shallow round trip copies one slice, not two.
noinline fn startBelowGap(thread: *Thread, run: RunFn, arg: ?*anyopaque) void {
    var gap: [new_stack_gap_size]u8 align(16) = undefined;
    std.mem.doNotOptimizeAway(&gap);
    thread.new_stack_stop = @intFromPtr(&gap);
    startStacklet(thread, run, arg);
}

/// Returns twice: first as the new stacklet, which runs `run` right here, below the caller's saved
/// slice; then as the caller, when some stacklet switches back to it (or at once if saving failed).
/// When run() returns, switches to the handle it returned, or to main with `InvalidRunResult` if
/// that is not a suspended stacklet of this thread (main is suspended: the running one is not it).
/// Both switches sit in this function, whose call of `run` keeps it from being a leaf (see the
/// System V switch).
noinline fn startStacklet(thread: *Thread, run: RunFn, arg: ?*anyopaque) void {
    const resumed = arch.switchStack(Thread, &stepNew, thread);
    if (resumed != 0 or thread.switch_failed) return;
    const next = run(thread.source, arg);
    std.debug.assert(thread.current != thread.main);
    const target = thread.lookupSuspended(next) orelse blk: {
        thread.run_result_invalid = true;
        break :blk thread.main;
    };
    std.debug.assert(target.state == .suspended);
    thread.target = target;
    _ = arch.switchStack(Thread, &stepFinish, thread);
    unreachable;
}

/// Suspends the running stacklet and resumes `target`. Returns when some stacklet switches back:
/// the handle of that stacklet, or null if it finished.
pub fn switchTo(thread: *Thread, target: Handle) Error!Handle {
    thread.checkCaller() catch |err| return fail(err);
    const stacklet = thread.lookupSuspended(target) orelse return fail(error.InvalidHandle);
    thread.target = stacklet;
    const resumed = arch.switchStack(Thread, &stepSwitch, thread);
    if (resumed == 0) {
        std.debug.assert(thread.switch_failed);
        thread.switch_failed = false;
        return fail(error.OutOfMemory);
    }
    return takeResult(thread);
}

/// Every refusal of `switchTo` goes through this real call, which keeps any function that
/// contains the switch from being a leaf (see the System V switch); it counts refusals per OS
/// thread, a side effect the compiler cannot drop.
noinline fn fail(err: Error) Error {
    @branchHint(.cold);
    thread_state.refused_count += 1;
    return err;
}

/// Frees a suspended stacklet without resuming it: its frames are dropped, no `defer` runs.
/// Bad input is ignored; `destroyChecked` reports it.
pub fn destroy(thread: *Thread, handle: Handle) void {
    destroyChecked(thread, handle) catch {};
}

/// `destroy` that reports `WrongThread`, `InvalidHandle` (not a suspended stacklet of this thread)
/// and `CannotDestroyMain`.
pub fn destroyChecked(thread: *Thread, handle: Handle) Error!void {
    try thread.checkOwner();
    const stacklet = thread.lookupSuspended(handle) orelse return error.InvalidHandle;
    if (stacklet == thread.main) return error.CannotDestroyMain;
    if (stacklet.in_chain) thread.chainUnlink(stacklet);
    thread.suspended_count -= 1;
    thread.release(stacklet);
}

/// Turns an address that crossed a C ABI into a handle, without trusting it: null for 0, else it
/// must be a suspended stacklet of this thread.
pub fn handleFromAddress(thread: *Thread, address: usize) Error!Handle {
    if (address == 0) return null;
    const stacklet = thread.lookup(address) orelse return error.InvalidHandle;
    if (stacklet.state != .suspended) return error.InvalidHandle;
    return stacklet;
}

/// Number of suspended stacklets, main included when another one runs.
pub fn suspendedCount(thread: *const Thread) usize {
    return thread.suspended_count;
}

/// Pins the thread's stacklets to `stack`: from now on `new` and `switchTo` fail with `WrongStack`
/// outside `callOnStack(stack, ...)`. Needs main running and nothing suspended.
pub fn bindStack(thread: *Thread, stack: *const Stack) Error!void {
    try thread.checkOwner();
    if (thread.current != thread.main or thread.suspended_count != 0) return error.StackletRunning;
    thread.region_top = stack.top();
    thread.region_pinned = true;
    thread.current_stack_stop = 0;
}

/// A dedicated native stack region with a guard page below it. Stacklets live there, so that no
/// frame of the caller (JavaScript's, under Deno) is ever copied or overwritten.
pub const Stack = struct {
    /// The whole allocation: the guard page, then the usable region.
    memory: []u8,
    guard_size: usize,
    /// Identity of the OS thread running on it (see `threadIdentity`), 0 when free.
    owner: std.atomic.Value(usize) = .init(0),

    /// Allocates `size_bytes` (rounded up to whole pages) plus the guard page from `gpa`.
    pub fn init(gpa: std.mem.Allocator, size_bytes: usize) Error!Stack {
        if (size_bytes < stack_size_min or size_bytes > stack_size_max) return error.InvalidStackSize;
        const page_size = std.heap.pageSize();
        const total_size = page_size + std.mem.alignForward(usize, size_bytes, page_size);
        const alignment = std.mem.Alignment.fromByteUnits(page_size);
        const pointer = gpa.rawAlloc(total_size, alignment, @returnAddress()) orelse
            return error.OutOfMemory;
        const memory = pointer[0..total_size];
        errdefer gpa.rawFree(memory, alignment, @returnAddress());
        const guard: []align(std.heap.page_size_min) u8 = @alignCast(memory[0..page_size]);
        std.process.protectMemory(guard, .{}) catch return error.GuardPageFailed;
        return .{ .memory = memory, .guard_size = page_size };
    }

    /// Frees the region; it must not be in use. If the guard page cannot be made writable again the
    /// memory is leaked, since an allocator may write to memory it frees.
    pub fn deinit(self: *Stack, gpa: std.mem.Allocator) void {
        std.debug.assert(self.owner.load(.acquire) == 0);
        const guard: []align(std.heap.page_size_min) u8 = @alignCast(self.memory[0..self.guard_size]);
        std.process.protectMemory(guard, .{ .read = true, .write = true }) catch return;
        gpa.rawFree(self.memory, .fromByteUnits(self.guard_size), @returnAddress());
        self.* = undefined;
    }

    /// One past the highest usable address, 16-byte aligned as every ABI wants.
    pub fn top(self: *const Stack) usize {
        return @intFromPtr(self.memory.ptr) + self.memory.len;
    }

    /// Lowest usable address, just above the guard page.
    pub fn bottom(self: *const Stack) usize {
        return @intFromPtr(self.memory.ptr) + self.guard_size;
    }
};

/// Runs `func(arg)` on the stack region and returns on the caller's stack. Already on that region
/// (a nested call), func runs where it is. If the region is busy (another thread, or an outer call
/// that moved elsewhere) func runs on the caller's stack, where stacklets of a thread bound to the
/// region fail with `WrongStack`; `enterStack` reports that case instead.
pub fn callOnStack(stack: *Stack, func: EntryFn, arg: ?*anyopaque) void {
    enterStack(stack, func, arg) catch func(arg);
}

/// `callOnStack` that reports a busy region as `StackBusy` instead of running func elsewhere.
pub fn enterStack(stack: *Stack, func: EntryFn, arg: ?*anyopaque) Error!void {
    if (thread_state.region_top == stack.top()) return func(arg);
    if (stack.owner.cmpxchgStrong(0, threadIdentity(), .acquire, .monotonic) != null) {
        return error.StackBusy;
    }
    defer stack.owner.store(0, .release);
    const region_top_before = thread_state.region_top;
    thread_state.region_top = stack.top();
    defer thread_state.region_top = region_top_before;
    const run_on_stack: RunOnStackFn = @ptrCast(&arch.runOnStack);
    run_on_stack(func, arg, stack.top(), stack.bottom());
}

/// The ABI file's `runOnStack`: calls `func(arg)` with the stack pointer at the region's top and
/// returns on the caller's stack. It is naked, so only a pointer of the C calling convention calls it.
const RunOnStackFn = *const fn (func: EntryFn, arg: ?*anyopaque, top: usize, bottom: usize) callconv(.c) void;
