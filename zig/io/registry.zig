//! Integer handles for streams crossing the C ABI. A handle is a slot index plus a generation,
//! so a stale, forged or closed handle is an error code, never a dangling pointer. Slots live in
//! chunks that are allocated once and never move, so lookups take no lock; insert and remove
//! (rare next to reads and writes) take a spin lock shared by every thread.

const std = @import("std");
const assert = std.debug.assert;
const errors = @import("../loop/errors.zig");
const handles = @import("../loop/handles.zig");
const SpinLock = @import("../loop/spin_lock.zig").SpinLock;

const index_bits = 20;
/// Handles stay below 2^31 so that exports can return them as a positive i32.
const generation_bits = 31 - index_bits;
const chunk_size = 4096;
const chunks_max = (1 << index_bits) / chunk_size;

pub fn Registry(comptime T: type) type {
    return struct {
        const Self = @This();

        const Slot = struct {
            /// Zero while free; the live handle's generation otherwise.
            generation: std.atomic.Value(u32) = .init(0),
            /// The generation the next insert into this slot uses.
            next_generation: u32 = 1,
            owner: usize = 0,
            value: ?*T = null,
            next_free: u32 = 0,
        };

        chunks: [chunks_max]std.atomic.Value(?*[chunk_size]Slot) = @splat(.init(null)),
        chunk_count: u32 = 0,
        /// Free slots as a list through `next_free`, 1-based (0 ends it).
        free_head: u32 = 0,
        live: u32 = 0,
        lock: SpinLock = .{},

        /// Stores value for the calling thread; returns its handle (never 0).
        pub fn insert(registry: *Self, gpa: std.mem.Allocator, value: *T) errors.Error!u32 {
            registry.lock.lock() catch return error.Busy;
            defer registry.lock.unlock();
            if (registry.free_head == 0) try registry.grow(gpa);
            const index = registry.free_head - 1;
            const slot = registry.slotAt(index);
            registry.free_head = slot.next_free;
            assert(slot.generation.load(.acquire) == 0);
            const generation = slot.next_generation;
            slot.next_generation = nextGeneration(generation);
            slot.owner = handles.currentThread();
            slot.value = value;
            slot.generation.store(generation, .release);
            registry.live += 1;
            return (generation << index_bits) | index;
        }

        /// The value, for the thread that inserted it.
        pub fn get(registry: *Self, handle: u32) errors.Error!*T {
            const slot = registry.slotFor(handle) orelse return error.BadDescriptor;
            if (slot.owner != handles.currentThread()) return error.WrongThread;
            return slot.value.?;
        }

        /// Invalidates the handle and frees its slot; the caller owns the value.
        pub fn remove(registry: *Self, handle: u32) errors.Error!*T {
            const value = try registry.get(handle);
            registry.lock.lock() catch return error.Busy;
            defer registry.lock.unlock();
            const index = handle & ((1 << index_bits) - 1);
            const slot = registry.slotAt(index);
            slot.generation.store(0, .release);
            slot.value = null;
            slot.next_free = registry.free_head;
            registry.free_head = index + 1;
            assert(registry.live > 0);
            registry.live -= 1;
            return value;
        }

        pub fn liveCount(registry: *Self) u32 {
            return @atomicLoad(u32, &registry.live, .monotonic);
        }

        /// The first live handle that `thread` owns at or after slot `from` (pass 0, then the
        /// returned handle's slot + 1), or null. Safe while other threads insert and remove.
        pub fn nextOwnedBy(registry: *Self, thread: usize, from: u32) ?u32 {
            const limit = @atomicLoad(u32, &registry.chunk_count, .acquire) * chunk_size;
            var index = from;
            while (index < limit) : (index += 1) {
                const slot = registry.slotAt(index);
                const generation = slot.generation.load(.acquire);
                if (generation == 0 or slot.owner != thread) continue;
                return (generation << index_bits) | index;
            }
            return null;
        }

        pub fn slotIndex(handle: u32) u32 {
            return handle & ((1 << index_bits) - 1);
        }

        fn grow(registry: *Self, gpa: std.mem.Allocator) errors.Error!void {
            if (registry.chunk_count == chunks_max) return error.TooManyOpenFiles;
            const chunk = try gpa.create([chunk_size]Slot);
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

        fn slotAt(registry: *Self, index: u32) *Slot {
            const chunk = registry.chunks[index / chunk_size].load(.acquire).?;
            return &chunk[index % chunk_size];
        }

        fn slotFor(registry: *Self, handle: u32) ?*Slot {
            const generation = handle >> index_bits;
            if (generation == 0) return null;
            const index = handle & ((1 << index_bits) - 1);
            const chunk = registry.chunks[index / chunk_size].load(.acquire) orelse return null;
            const slot = &chunk[index % chunk_size];
            if (slot.generation.load(.acquire) != generation) return null;
            return slot;
        }

        fn nextGeneration(generation: u32) u32 {
            const next = (generation + 1) & ((1 << generation_bits) - 1);
            return if (next == 0) 1 else next;
        }
    };
}

const testing = std.testing;

test "handles are validated by generation and owner, slots are reused" {
    var registry: Registry(u32) = .{};
    defer for (registry.chunks[0..registry.chunk_count]) |chunk| testing.allocator.destroy(chunk.load(.acquire).?);
    var a: u32 = 1;
    var b: u32 = 2;
    const ha = try registry.insert(testing.allocator, &a);
    const hb = try registry.insert(testing.allocator, &b);
    try testing.expect(ha != 0 and hb != 0 and ha != hb);
    try testing.expectEqual(&a, try registry.get(ha));
    try testing.expectEqual(&b, try registry.get(hb));
    try testing.expectError(error.BadDescriptor, registry.get(0));
    try testing.expectError(error.BadDescriptor, registry.get(0xffff_ffff));
    try testing.expectEqual(&a, try registry.remove(ha));
    try testing.expectError(error.BadDescriptor, registry.get(ha));
    try testing.expectError(error.BadDescriptor, registry.remove(ha));
    const hc = try registry.insert(testing.allocator, &a);
    try testing.expect(hc != ha);
    try testing.expectEqual(ha & 0xfffff, hc & 0xfffff);
    try testing.expectError(error.BadDescriptor, registry.get(ha));
    try testing.expectEqual(@as(u32, 2), registry.liveCount());
}

test "thousands of handles spill into more chunks" {
    var registry: Registry(u32) = .{};
    defer for (registry.chunks[0..registry.chunk_count]) |chunk| testing.allocator.destroy(chunk.load(.acquire).?);
    var value: u32 = 0;
    var seen: [chunk_size + 10]u32 = undefined;
    for (&seen) |*handle| handle.* = try registry.insert(testing.allocator, &value);
    try testing.expectEqual(@as(u32, 2), registry.chunk_count);
    for (seen) |handle| _ = try registry.remove(handle);
    try testing.expectEqual(@as(u32, 0), registry.liveCount());
}

const ForeignGet = struct {
    fn run(registry: *Registry(u32), handle: u32, result: *?errors.Error) void {
        _ = registry.get(handle) catch |err| {
            result.* = err;
            return;
        };
        result.* = null;
    }
};

test "another thread cannot use a handle" {
    var registry: Registry(u32) = .{};
    defer for (registry.chunks[0..registry.chunk_count]) |chunk| testing.allocator.destroy(chunk.load(.acquire).?);
    var value: u32 = 0;
    const handle = try registry.insert(testing.allocator, &value);
    var result: ?errors.Error = null;
    const thread = try std.Thread.spawn(.{}, ForeignGet.run, .{ &registry, handle, &result });
    thread.join();
    try testing.expectEqual(@as(?errors.Error, error.WrongThread), result);
}
