//! Small integer handles for the objects that cross the C ABI: loops, streams and UDP
//! endpoints, each kind in a `Registry` of its own capacity. A handle is a slot index plus a
//! generation checked on every call, so a stale, forged or closed handle is an error code, never
//! a dangling pointer. Each object belongs to the thread that created it; only `acquire` (a
//! loop's wake and park) may be used from other threads, and `retire` + `awaitForeign` wait for
//! those users before the slot is reused. Slots live in chunks that are allocated once and
//! never move (allocated once, kept for the process), so lookups take no lock; insert and remove (rare next to the calls that look a
//! handle up) take a spin lock.

const std = @import("std");
const errors = @import("errors.zig");
const SpinLock = @import("spin_lock.zig").SpinLock;

/// Chunks live as long as the process (the registries are process-wide), so they come from the
/// pages rather than the library's allocator, which tests swap for a leak-checking one.
const chunk_allocator = std.heap.page_allocator;

threadlocal var thread_marker: u8 = 0;

/// Identifies the calling OS thread (the address of a thread-local), cheaply.
pub fn currentThread() usize {
    return @intFromPtr(&thread_marker);
}

/// A registry of up to `capacity` objects of type T (a power of two, at most 2^20). Handles are
/// > 0 and < 2^31, so exports can return them as a positive i32.
pub fn Registry(comptime T: type, comptime capacity: u32) type {
    comptime std.debug.assert(std.math.isPowerOfTwo(capacity) and capacity <= 1 << 20);
    return struct {
        const Self = @This();

        const index_bits = std.math.log2_int(u32, capacity);
        const index_mask: u32 = capacity - 1;
        const generation_bits = 31 - index_bits;
        const chunk_size: u32 = @min(capacity, 4096);
        const chunks_max = capacity / chunk_size;

        const Slot = struct {
            /// Zero while free or retired; the live handle's generation otherwise.
            generation: std.atomic.Value(u32) = .init(0),
            /// The generation the next insert into this slot uses.
            next_generation: u32 = 1,
            owner: usize = 0,
            value: ?*T = null,
            /// Free slots as a list, 1-based (0 ends it).
            next_free: u32 = 0,
            /// Calls from any thread (park, wake) between acquire and release.
            foreign: std.atomic.Value(u32) = .init(0),
        };

        chunks: [chunks_max]std.atomic.Value(?*[chunk_size]Slot) = @splat(.init(null)),
        chunk_count: u32 = 0,
        free_head: u32 = 0,
        live: u32 = 0,
        lock: SpinLock = .{},

        /// Stores value for the calling thread; returns its handle (never 0).
        pub fn insert(registry: *Self, value: *T) errors.Error!u32 {
            registry.lock.lock() catch return error.Busy;
            defer registry.lock.unlock();
            if (registry.free_head == 0) try registry.grow();
            const index = registry.free_head - 1;
            const slot = registry.slotAt(index).?;
            registry.free_head = slot.next_free;
            std.debug.assert(slot.generation.load(.acquire) == 0);
            const generation = slot.next_generation;
            slot.next_generation = nextGeneration(generation);
            slot.owner = currentThread();
            slot.value = value;
            slot.generation.store(generation, .release);
            registry.live += 1;
            return (generation << index_bits) | index;
        }

        /// The value, for the thread that inserted it.
        pub fn get(registry: *Self, handle: u32) errors.Error!*T {
            const slot = registry.slotFor(handle) orelse return error.BadDescriptor;
            if (slot.owner != currentThread()) return error.WrongThread;
            return slot.value.?;
        }

        /// The value, from any thread; pair with `release`. The value is not freed meanwhile.
        pub fn acquire(registry: *Self, handle: u32) errors.Error!*T {
            const slot = registry.slotAt(slotIndexChecked(handle) orelse return error.BadDescriptor) orelse
                return error.BadDescriptor;
            _ = slot.foreign.fetchAdd(1, .seq_cst);
            // Checked after counting ourselves in: `retire` clears the generation before it
            // waits for the count, so either we see the change or it sees us.
            if (!matches(slot, handle)) {
                _ = slot.foreign.fetchSub(1, .seq_cst);
                return error.BadDescriptor;
            }
            return slot.value.?;
        }

        pub fn release(registry: *Self, handle: u32) void {
            const slot = registry.slotAt(slotIndex(handle)).?;
            const before = slot.foreign.fetchSub(1, .seq_cst);
            std.debug.assert(before > 0);
        }

        /// Invalidates the handle and frees its slot; the caller owns the value. For kinds that
        /// are never acquired from other threads.
        pub fn remove(registry: *Self, handle: u32) errors.Error!*T {
            const value = try registry.get(handle);
            const index = slotIndex(handle);
            const slot = registry.slotAt(index).?;
            registry.lock.lock() catch return error.Busy;
            defer registry.lock.unlock();
            std.debug.assert(slot.foreign.load(.acquire) == 0);
            slot.generation.store(0, .release);
            slot.value = null;
            slot.next_free = registry.free_head;
            registry.free_head = index + 1;
            std.debug.assert(registry.live > 0);
            registry.live -= 1;
            return value;
        }

        /// Invalidates the handle (owner thread only) and returns the value. The caller wakes
        /// any foreign user, then calls `awaitForeign` before freeing the value.
        pub fn retire(registry: *Self, handle: u32) errors.Error!*T {
            const value = try registry.get(handle);
            const slot = registry.slotAt(slotIndex(handle)).?;
            registry.lock.lock() catch return error.Busy;
            defer registry.lock.unlock();
            slot.generation.store(0, .seq_cst);
            std.debug.assert(registry.live > 0);
            registry.live -= 1;
            return value;
        }

        /// Waits until no other thread uses the retired slot, then frees it; false if that did
        /// not happen within the bound (the caller must then leak the value rather than free
        /// it, and the slot stays out of use).
        pub fn awaitForeign(registry: *Self, handle: u32) bool {
            const index = slotIndex(handle);
            const slot = registry.slotAt(index).?;
            std.debug.assert(slot.generation.load(.acquire) != handle >> index_bits);
            var attempt: u32 = 0;
            while (slot.foreign.load(.seq_cst) != 0) : (attempt += 1) {
                if (attempt == 1 << 22) return false;
                std.Thread.yield() catch {};
            }
            registry.lock.lock() catch return false;
            defer registry.lock.unlock();
            slot.value = null;
            slot.next_free = registry.free_head;
            registry.free_head = index + 1;
            return true;
        }

        /// Live objects, every thread's.
        pub fn liveCount(registry: *Self) u32 {
            return @atomicLoad(u32, &registry.live, .monotonic);
        }

        /// The first live handle that `thread` owns at or after slot `from` (pass 0, then the
        /// returned handle's `slotIndex` + 1), or null. Safe while other threads insert and
        /// remove.
        pub fn nextOwnedBy(registry: *Self, thread: usize, from: u32) ?u32 {
            const limit = @atomicLoad(u32, &registry.chunk_count, .acquire) * chunk_size;
            var index = from;
            while (index < limit) : (index += 1) {
                const slot = registry.slotAt(index).?;
                const generation = slot.generation.load(.acquire);
                if (generation == 0 or slot.owner != thread) continue;
                return (generation << index_bits) | index;
            }
            return null;
        }

        pub fn slotIndex(handle: u32) u32 {
            return handle & index_mask;
        }

        /// Frees the chunks of a registry with nothing live (one that is not process-wide).
        pub fn deinit(registry: *Self) void {
            std.debug.assert(registry.liveCount() == 0);
            for (registry.chunks[0..registry.chunk_count]) |*chunk| chunk_allocator.destroy(chunk.load(.acquire).?);
            registry.* = undefined;
        }

        fn grow(registry: *Self) errors.Error!void {
            if (registry.chunk_count == chunks_max) return error.TooManyOpenFiles;
            const chunk = try chunk_allocator.create([chunk_size]Slot);
            chunk.* = @splat(.{});
            const base: u32 = registry.chunk_count * chunk_size;
            // Thread the new slots onto the free list, lowest index first.
            var i: u32 = chunk_size;
            while (i > 0) {
                i -= 1;
                chunk[i].next_free = registry.free_head;
                registry.free_head = base + i + 1;
            }
            registry.chunks[registry.chunk_count].store(chunk, .release);
            @atomicStore(u32, &registry.chunk_count, registry.chunk_count + 1, .release);
        }

        /// The slot at index, or null if its chunk was never allocated.
        fn slotAt(registry: *Self, index: u32) ?*Slot {
            std.debug.assert(index < capacity);
            const chunk = registry.chunks[index / chunk_size].load(.acquire) orelse return null;
            return &chunk[index % chunk_size];
        }

        fn slotIndexChecked(handle: u32) ?u32 {
            if (handle >> index_bits == 0 or handle >> 31 != 0) return null;
            return slotIndex(handle);
        }

        fn slotFor(registry: *Self, handle: u32) ?*Slot {
            const slot = registry.slotAt(slotIndexChecked(handle) orelse return null) orelse return null;
            if (!matches(slot, handle)) return null;
            return slot;
        }

        fn matches(slot: *const Slot, handle: u32) bool {
            return slot.generation.load(.acquire) == handle >> index_bits;
        }

        fn nextGeneration(generation: u32) u32 {
            const next = (generation + 1) & ((1 << generation_bits) - 1);
            return if (next == 0) 1 else next;
        }
    };
}

const testing = std.testing;

test "handles are validated by generation and owner, slots are reused" {
    var registry: Registry(u32, 1 << 20) = .{};
    defer registry.deinit();
    var a: u32 = 1;
    var b: u32 = 2;
    const ha = try registry.insert(&a);
    const hb = try registry.insert(&b);
    try testing.expect(ha != 0 and hb != 0 and ha != hb);
    try testing.expectEqual(&a, try registry.get(ha));
    try testing.expectEqual(&b, try registry.get(hb));
    try testing.expectError(error.BadDescriptor, registry.get(0));
    try testing.expectError(error.BadDescriptor, registry.get(0xffff_ffff));
    try testing.expectError(error.BadDescriptor, registry.get(ha + (2 << 20)));
    try testing.expectEqual(&a, try registry.remove(ha));
    try testing.expectError(error.BadDescriptor, registry.get(ha));
    try testing.expectError(error.BadDescriptor, registry.remove(ha));
    // The slot is reused with a new generation: the old handle stays invalid.
    const hc = try registry.insert(&a);
    try testing.expect(hc != ha);
    try testing.expectEqual(ha & 0xfffff, hc & 0xfffff);
    try testing.expectError(error.BadDescriptor, registry.get(ha));
    try testing.expectEqual(@as(u32, 2), registry.liveCount());
    _ = try registry.remove(hb);
    _ = try registry.remove(hc);
}

test "thousands of handles spill into more chunks" {
    var registry: Registry(u32, 1 << 20) = .{};
    defer registry.deinit();
    var value: u32 = 0;
    var seen: [4096 + 10]u32 = undefined;
    for (&seen) |*handle| handle.* = try registry.insert(&value);
    try testing.expectEqual(@as(u32, 2), registry.chunk_count);
    for (seen) |handle| _ = try registry.remove(handle);
    try testing.expectEqual(@as(u32, 0), registry.liveCount());
}

test "a full registry refuses new handles" {
    var registry: Registry(u32, 2) = .{};
    defer registry.deinit();
    var value: u32 = 0;
    const first = try registry.insert(&value);
    const second = try registry.insert(&value);
    try testing.expectError(error.TooManyOpenFiles, registry.insert(&value));
    _ = try registry.remove(first);
    _ = try registry.remove(second);
}

test "nextOwnedBy walks the calling thread's live handles" {
    var registry: Registry(u32, 64) = .{};
    defer registry.deinit();
    var value: u32 = 0;
    const first = try registry.insert(&value);
    const second = try registry.insert(&value);
    const thread = currentThread();
    const found = registry.nextOwnedBy(thread, 0).?;
    try testing.expectEqual(first, found);
    try testing.expectEqual(second, registry.nextOwnedBy(thread, Registry(u32, 64).slotIndex(found) + 1).?);
    try testing.expectEqual(@as(?u32, null), registry.nextOwnedBy(thread + 1, 0));
    _ = try registry.remove(first);
    try testing.expectEqual(second, registry.nextOwnedBy(thread, 0).?);
    _ = try registry.remove(second);
}

const ForeignCall = struct {
    fn run(registry: *Registry(u32, 64), handle: u32, result: *?errors.Error) void {
        _ = registry.get(handle) catch |err| {
            result.* = err;
            return;
        };
        result.* = null;
    }
};

test "another thread gets WrongThread from get but may acquire" {
    var registry: Registry(u32, 64) = .{};
    defer registry.deinit();
    var value: u32 = 0;
    const handle = try registry.insert(&value);
    var result: ?errors.Error = null;
    const thread = try std.Thread.spawn(.{}, ForeignCall.run, .{ &registry, handle, &result });
    thread.join();
    try testing.expectEqual(@as(?errors.Error, error.WrongThread), result);
    const got = try registry.acquire(handle);
    try testing.expectEqual(&value, got);
    registry.release(handle);
    _ = try registry.retire(handle);
    try testing.expectError(error.BadDescriptor, registry.acquire(handle));
    try testing.expect(registry.awaitForeign(handle));
}
