//! What a thread owns through the C ABI, and its release. A loop (hub/loops.zig) belongs to
//! the thread that made it, and so do the UDP endpoints (udp.zig), streams (stream.zig) and
//! name lookups (lookup.zig) it opens. A Deno Worker that ends runs no JS finalizers, so when a
//! thread that made a loop exits (loop/lifetime.zig's ThreadExit), everything it owns in each
//! registry is closed here, through the same walk (`nextOwnedBy`).

const std = @import("std");
const errors = @import("../loop/errors.zig");
const handles = @import("../loop/handles.zig");
const lifetime = @import("../loop/lifetime.zig");
const loops = @import("../hub/loops.zig");
const lookup = @import("lookup.zig");
const stream = @import("stream.zig");
const udp = @import("udp.zig");

const ThreadExit = lifetime.ThreadExit(releaseThread);

/// Creates a loop owned by the calling thread (see hub/loops.zig for ring_capacity); returns
/// its handle.
pub fn newLoop(gpa: std.mem.Allocator, ring_capacity: u32) errors.Error!u32 {
    // Parks and lookups may run library code on other threads from now on; and a thread that
    // owns a loop gives back what its loops own when it exits.
    _ = lifetime.pinLibrary();
    try ThreadExit.register();
    return loops.create(gpa, ring_capacity);
}

/// Destroys a loop: closes the sockets of its UDP endpoints, cancels its ops, stops its
/// watches, frees its ring. A park in progress on another thread is woken and waited for first.
pub fn closeLoop(handle: u32) errors.Error!void {
    const hub = try loops.retire(handle);
    udp.closeLoop(handle, hub) catch {};
    hub.destroy();
}

/// Closes a stream; works after the stream's loop was closed.
pub fn closeStream(handle: u32) errors.Error!void {
    const target = try stream.streams.get(handle);
    target.close(loops.get(target.loop_handle) catch null);
}

/// Closes a UDP endpoint; works after the endpoint's loop was closed.
pub fn closeEndpoint(handle: u32) errors.Error!void {
    const loop = try udp.loopOf(handle);
    try udp.close(handle, loops.get(loop) catch null);
}

/// Runs as a thread that created a loop exits: each loop is closed (a park in progress on
/// another thread is woken and awaited, its slot freed), then the thread's UDP endpoints and
/// streams are closed (their descriptors, and so their ports, released) and its name lookups
/// ended (a lookup still resolving frees its request when its thread ends).
fn releaseThread() void {
    const thread = handles.currentThread();
    closeOwned(&loops.loops, thread, closeLoop);
    closeOwned(&udp.endpoints, thread, closeEndpoint);
    closeOwned(&stream.streams, thread, closeStream);
    closeOwned(&lookup.lookups, thread, lookup.close);
}

fn closeOwned(registry: anytype, thread: usize, comptime close: fn (u32) errors.Error!void) void {
    var from: u32 = 0;
    while (registry.nextOwnedBy(thread, from)) |handle| {
        from = @TypeOf(registry.*).slotIndex(handle) + 1;
        close(handle) catch {};
    }
}
