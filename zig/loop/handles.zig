//! Small integer handles for objects that cross the C ABI (loops). A handle is a slot index plus
//! a generation counter, checked on every call: a stale, forged or destroyed handle is an error
//! code, never a dangling pointer. Each object belongs to the thread that created it; only
//! `acquire` (wake, park) may be used from other threads, and removal waits for those users.

const std = @import("std");
const assert = std.debug.assert;
const errors = @import("errors.zig");
const SpinLock = @import("spin_lock.zig").SpinLock;

const index_bits = 8;
const generation_mask: u32 = (1 << 23) - 1;

threadlocal var thread_marker: u8 = 0;

/// Identifies the calling OS thread (the address of a thread-local), cheaply.
pub fn currentThread() usize {
    return @intFromPtr(&thread_marker);
}

pub fn Table(comptime T: type, comptime capacity: u32) type {
    comptime assert(capacity > 0 and capacity <= 1 << index_bits);
    return struct {
        const Self = @This();

        const Slot = struct {
            /// Odd while the slot holds a live object; bumped on insert and on retire.
            generation: std.atomic.Value(u32) = .init(0),
            owner: usize = 0,
            value: ?*T = null,
            /// Calls from any thread (park, wake) between acquire and release.
            foreign: std.atomic.Value(u32) = .init(0),
        };

        slots: [capacity]Slot = @splat(.{}),
        lock: SpinLock = .{},

        /// Stores value for the calling thread and returns its handle (always >= 256).
        pub fn insert(table: *Self, value: *T) errors.Error!u32 {
            table.lock.lock() catch return error.Busy;
            defer table.lock.unlock();
            for (&table.slots, 0..) |*slot, index| {
                const generation = slot.generation.load(.acquire);
                if (generation & 1 == 1 or slot.foreign.load(.seq_cst) != 0) continue;
                const live = (generation + 1) & generation_mask;
                slot.owner = currentThread();
                slot.value = value;
                slot.generation.store(live, .release);
                return (live << index_bits) | @as(u32, @intCast(index));
            }
            return error.TooManyOpenFiles;
        }

        /// The object, for its owner thread only.
        pub fn get(table: *Self, handle: u32) errors.Error!*T {
            const slot = try table.slotFor(handle);
            if (slot.owner != currentThread()) return error.WrongThread;
            return slot.value.?;
        }

        /// The object, from any thread; pair with `release`. The object is not freed meanwhile.
        pub fn acquire(table: *Self, handle: u32) errors.Error!*T {
            const index = handle & ((1 << index_bits) - 1);
            if (index >= capacity) return error.BadDescriptor;
            const slot = &table.slots[index];
            _ = slot.foreign.fetchAdd(1, .seq_cst);
            // Checked after counting ourselves in: `retire` bumps the generation before it
            // waits for the count, so either we see the bump or it sees us.
            if (!matches(slot, handle)) {
                _ = slot.foreign.fetchSub(1, .seq_cst);
                return error.BadDescriptor;
            }
            return slot.value.?;
        }

        pub fn release(table: *Self, handle: u32) void {
            const slot = &table.slots[handle & ((1 << index_bits) - 1)];
            const before = slot.foreign.fetchSub(1, .seq_cst);
            assert(before > 0);
        }

        /// Invalidates the handle (owner thread only) and returns the object. The caller wakes
        /// any foreign user, then calls `awaitForeign` before freeing the object.
        pub fn retire(table: *Self, handle: u32) errors.Error!*T {
            const value = try table.get(handle);
            const slot = &table.slots[handle & ((1 << index_bits) - 1)];
            slot.generation.store((slot.generation.load(.acquire) + 1) & generation_mask, .seq_cst);
            return value;
        }

        /// Waits until no other thread uses the retired slot; false if that did not happen
        /// within the bound (the caller must then leak the object rather than free it).
        pub fn awaitForeign(table: *Self, handle: u32) bool {
            const slot = &table.slots[handle & ((1 << index_bits) - 1)];
            var attempt: u32 = 0;
            while (slot.foreign.load(.seq_cst) != 0) : (attempt += 1) {
                if (attempt == 1 << 22) return false;
                std.Thread.yield() catch {};
            }
            slot.value = null;
            return true;
        }

        /// Live objects, every thread's.
        pub fn liveCount(table: *Self) u32 {
            var count: u32 = 0;
            for (&table.slots) |*slot| count += slot.generation.load(.acquire) & 1;
            return count;
        }

        /// The handles of the live objects `thread` owns, into out; returns how many.
        pub fn ownedBy(table: *Self, thread: usize, out: *[capacity]u32) []u32 {
            var count: usize = 0;
            for (&table.slots, 0..) |*slot, index| {
                const generation = slot.generation.load(.acquire);
                if (generation & 1 == 0 or slot.owner != thread) continue;
                out[count] = (generation << index_bits) | @as(u32, @intCast(index));
                count += 1;
            }
            return out[0..count];
        }

        fn slotFor(table: *Self, handle: u32) errors.Error!*Slot {
            const index = handle & ((1 << index_bits) - 1);
            if (index >= capacity) return error.BadDescriptor;
            const slot = &table.slots[index];
            if (!matches(slot, handle)) return error.BadDescriptor;
            return slot;
        }

        fn matches(slot: *const Slot, handle: u32) bool {
            const generation = handle >> index_bits;
            return generation & 1 == 1 and slot.generation.load(.acquire) == generation;
        }
    };
}

const testing = std.testing;

test "handles are validated by generation and owner" {
    var table: Table(u32, 4) = .{};
    var a: u32 = 1;
    var b: u32 = 2;
    const ha = try table.insert(&a);
    const hb = try table.insert(&b);
    try testing.expect(ha >= 256 and hb >= 256 and ha != hb);
    try testing.expectEqual(&a, try table.get(ha));
    try testing.expectError(error.BadDescriptor, table.get(0));
    try testing.expectError(error.BadDescriptor, table.get(ha + (2 << index_bits)));
    try testing.expectError(error.BadDescriptor, table.get(0xffff_ffff));

    _ = try table.retire(ha);
    try testing.expect(table.awaitForeign(ha));
    try testing.expectError(error.BadDescriptor, table.get(ha));
    try testing.expectError(error.BadDescriptor, table.retire(ha));
    // The slot is reused with a new generation: the old handle stays invalid.
    const hc = try table.insert(&a);
    try testing.expect(hc != ha);
    try testing.expectError(error.BadDescriptor, table.get(ha));
}

test "a full table refuses new handles" {
    var table: Table(u32, 2) = .{};
    var value: u32 = 0;
    _ = try table.insert(&value);
    _ = try table.insert(&value);
    try testing.expectError(error.TooManyOpenFiles, table.insert(&value));
}

const ForeignCall = struct {
    fn run(table: *Table(u32, 4), handle: u32, result: *?errors.Error) void {
        _ = table.get(handle) catch |err| {
            result.* = err;
            return;
        };
        result.* = null;
    }
};

test "another thread gets WrongThread from get but may acquire" {
    var table: Table(u32, 4) = .{};
    var value: u32 = 0;
    const handle = try table.insert(&value);
    var result: ?errors.Error = null;
    const thread = try std.Thread.spawn(.{}, ForeignCall.run, .{ &table, handle, &result });
    thread.join();
    try testing.expectEqual(@as(?errors.Error, error.WrongThread), result);
    const got = try table.acquire(handle);
    try testing.expectEqual(&value, got);
    table.release(handle);
}
