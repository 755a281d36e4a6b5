//! The loops JS and C hold by handle: one hub (hub.zig) each, in a generation-checked
//! `Registry` (loop/handles.zig) that any thread may look up. A loop belongs to the thread that
//! made it; parks and wakes come from any thread (`acquire`), everything else from the owner.
//! What a thread owns on its loops is given back by io/owned.zig, which also creates and
//! closes loops for the C ABI (exports.zig).

const std = @import("std");
const errors = @import("../loop/errors.zig");
const handles = @import("../loop/handles.zig");
const loop = @import("../loop/loop.zig");
const hub_module = @import("hub.zig");

const Hub = hub_module.Hub;

/// Loops alive at once in the process, every thread's.
pub const loops_max = 64;
/// Ops (blocked reads, drains, accepts, ...) one loop holds at once.
pub const ops_max = hub_module.ops_limit;

pub var loops: handles.Registry(Hub, loops_max) = .{};

/// The hub of loop `handle` (owner thread).
pub fn get(handle: u32) errors.Error!*Hub {
    return loops.get(handle);
}

/// The poll loop of loop `handle` (owner thread).
pub fn loopOf(handle: u32) errors.Error!*loop.Loop {
    return &(try loops.get(handle)).loop;
}

/// Creates a hub with the library's options and registers it; returns its handle.
/// ring_capacity: records in the completion ring, a power of two; 0 picks 4096.
pub fn create(gpa: std.mem.Allocator, ring_capacity: u32) errors.Error!u32 {
    var options: hub_module.Options = .{};
    // Every blocked stream read, drain or accept is an op. Their table (the overflow reserve)
    // starts small and grows on demand up to ops_max, the hard cap src/native mirrors in
    // NATIVE_OPS_MAX for its error message.
    options.ops_max = ops_max;
    options.loop.overflow_capacity = 4096;
    options.loop.overflow_capacity_max = ops_max + 2048;
    if (ring_capacity != 0) options.loop.ring_capacity = ring_capacity;
    const hub = try Hub.create(gpa, options);
    errdefer hub.destroy();
    return try loops.insert(hub);
}

/// Takes loop `handle` out of the registry: a park in progress on another thread is woken and
/// waited for; the caller destroys the hub. EBUSY if the park never let go (the hub is leaked
/// rather than freed under it).
pub fn retire(handle: u32) errors.Error!*Hub {
    const hub = try loops.retire(handle);
    hub.loop.wake() catch {};
    if (!loops.awaitForeign(handle)) return error.Busy;
    return hub;
}

/// Blocks the calling thread (any thread) until the loop has something to harvest, is woken,
/// or timeout_ms passes; true if ready.
pub fn park(handle: u32, timeout_ms: i32) errors.Error!bool {
    const hub = try loops.acquire(handle);
    defer loops.release(handle);
    return hub.loop.park(timeout_ms);
}

/// Interrupts a poll or park of the loop (any thread).
pub fn wake(handle: u32) errors.Error!void {
    const hub = try loops.acquire(handle);
    defer loops.release(handle);
    try hub.loop.wake();
}

/// Writes the address of the loop's completion ring (loop/ring.zig), alive until the loop
/// closes, to out.
pub fn writeRingAddress(hub: *const Hub, out: *u64) void {
    out.* = @intFromPtr(hub.loop.ring.memory.ptr);
}
