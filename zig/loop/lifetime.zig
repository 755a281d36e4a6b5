//! The library's lifetime against the threads of its users.
//!
//! Deno unloads a dlopen'ed library when the isolate that opened it (a Worker) goes away, while
//! library code may still run on other threads: a park on Deno's blocking pool, a name lookup.
//! `pinLibrary` keeps the library mapped until the process ends, so no such thread ever returns
//! into unmapped code. And a Worker that ends runs no JS finalizers: `ThreadExit(hook)` runs
//! `hook` on a registered thread as it exits (a pthread key destructor; on Windows a fiber-local
//! storage callback), so that what the thread's loops own is given back natively.

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("errors.zig");

var pinned = std.atomic.Value(bool).init(false);

/// Keeps this library loaded for the rest of the process (later unloads are no-ops). Cheap
/// after the first success; true once pinned.
pub fn pinLibrary() bool {
    if (pinned.load(.acquire)) return true;
    const done = if (builtin.os.tag == .windows) windows.pin() else posix.pin();
    if (done) pinned.store(true, .release);
    return done;
}

pub fn isPinned() bool {
    return pinned.load(.acquire);
}

/// Runs `hook` on each registered thread as it exits (not on the main thread at process exit
/// on POSIX: exit() runs no key destructors; nothing needs giving back then). The hook runs
/// while the thread's thread-locals still hold: on Linux key destructors run before the TLS
/// blocks are freed; on macOS dyld frees thread-local storage in a key destructor of its own,
/// created before ours, so the hook is a thread-local terminator (`_tlv_atexit`) there, which
/// runs first; on Windows fiber-local callbacks run before the thread's TLS is torn down.
pub fn ThreadExit(comptime hook: fn () void) type {
    return struct {
        threadlocal var registered: bool = false;
        var key_state = std.atomic.Value(u8).init(key_none);
        var key: Key = undefined;

        const key_none: u8 = 0;
        const key_creating: u8 = 1;
        const key_ready: u8 = 2;
        const Key = if (builtin.os.tag == .windows) u32 else if (builtin.os.tag.isDarwin()) void else std.c.pthread_key_t;

        /// Makes `hook` run when the calling thread exits; once per thread however often called.
        pub fn register() errors.Error!void {
            if (registered) return;
            // Any non-null value: the destructor runs only for threads that set one.
            const marker: *anyopaque = @ptrCast(&registered);
            if (builtin.os.tag.isDarwin()) {
                darwin._tlv_atexit(&terminator, marker);
                registered = true;
                return;
            }
            try ensureKey();
            if (builtin.os.tag == .windows) {
                if (windows.FlsSetValue(key, marker) == 0) return error.OutOfMemory;
            } else {
                if (std.c.pthread_setspecific(key, marker) != 0) return error.OutOfMemory;
            }
            registered = true;
        }

        pub fn isRegistered() bool {
            return registered;
        }

        fn ensureKey() errors.Error!void {
            var attempt: u32 = 0;
            while (true) : (attempt += 1) {
                switch (key_state.cmpxchgStrong(key_none, key_creating, .acq_rel, .acquire) orelse key_none) {
                    key_ready => return,
                    key_creating => {
                        if (attempt >= 1 << 22) return error.Busy;
                        std.Thread.yield() catch {};
                    },
                    else => {
                        // We won: create it (a failure lets the next caller try again).
                        createKey() catch |err| {
                            key_state.store(key_none, .release);
                            return err;
                        };
                        key_state.store(key_ready, .release);
                        return;
                    },
                }
            }
        }

        fn createKey() errors.Error!void {
            if (builtin.os.tag == .windows) {
                const index = windows.FlsAlloc(&flsCallback);
                if (index == windows.fls_out_of_indexes) return error.OutOfMemory;
                key = index;
            } else {
                if (std.c.pthread_key_create(&key, &destructor) != .SUCCESS) return error.OutOfMemory;
            }
        }

        fn terminator(value: ?*anyopaque) callconv(.c) void {
            _ = value;
            run();
        }

        fn destructor(value: *anyopaque) callconv(.c) void {
            _ = value;
            run();
        }

        fn flsCallback(value: ?*anyopaque) callconv(.winapi) void {
            if (value == null) return;
            run();
        }

        fn run() void {
            registered = false;
            hook();
        }
    };
}

const darwin = struct {
    extern "c" fn _tlv_atexit(function: *const fn (?*anyopaque) callconv(.c) void, object: ?*anyopaque) void;
};

const posix = struct {
    /// glibc's and macOS's Dl_info.
    const DlInfo = extern struct {
        fname: ?[*:0]const u8,
        fbase: ?*anyopaque,
        sname: ?[*:0]const u8,
        saddr: ?*anyopaque,
    };
    extern "c" fn dladdr(address: *const anyopaque, info: *DlInfo) c_int;

    /// Opens the object that holds this code once more with RTLD_NODELETE: the loader then
    /// never unmaps it. RTLD_NOLOAD: only an object already loaded is found (never a copy).
    fn pin() bool {
        var info: DlInfo = undefined;
        if (dladdr(@ptrCast(&pinLibrary), &info) == 0) return false;
        const path = info.fname orelse return false;
        // The reference taken here is kept on purpose.
        return std.c.dlopen(path, .{ .NOW = true, .NOLOAD = true, .NODELETE = true }) != null;
    }
};

const windows = struct {
    const get_module_handle_ex_flag_pin: u32 = 0x1;
    const get_module_handle_ex_flag_from_address: u32 = 0x4;
    const fls_out_of_indexes: u32 = 0xffff_ffff;

    extern "kernel32" fn GetModuleHandleExW(flags: u32, name: ?*const anyopaque, module: *?*anyopaque) callconv(.winapi) i32;
    extern "kernel32" fn FlsAlloc(callback: ?*const fn (?*anyopaque) callconv(.winapi) void) callconv(.winapi) u32;
    extern "kernel32" fn FlsSetValue(index: u32, value: ?*anyopaque) callconv(.winapi) i32;

    /// GET_MODULE_HANDLE_EX_FLAG_PIN: the module stays loaded until the process ends.
    fn pin() bool {
        var module: ?*anyopaque = null;
        const flags = get_module_handle_ex_flag_pin | get_module_handle_ex_flag_from_address;
        return GetModuleHandleExW(flags, @ptrCast(&pinLibrary), &module) != 0;
    }
};

// ---------------------------------------------------------------------------------------
// Tests: real threads. (Pinning needs a shared library: tests/loop_deno_test.ts checks it.)

const testing = std.testing;

var hook_calls = std.atomic.Value(u32).init(0);
var hook_saw_registered = std.atomic.Value(bool).init(true);

fn countingHook() void {
    _ = hook_calls.fetchAdd(1, .seq_cst);
    hook_saw_registered.store(Counting.isRegistered(), .seq_cst);
}

const Counting = ThreadExit(countingHook);

const Registering = struct {
    fn run(times: u32, failed: *bool) void {
        for (0..times) |_| Counting.register() catch {
            failed.* = true;
        };
    }
};

test "the exit hook runs once on each registered thread as it exits, never on the others" {
    hook_calls.store(0, .seq_cst);
    var failed = false;
    // Registered twice: still one call.
    var thread = try std.Thread.spawn(.{}, Registering.run, .{ 2, &failed });
    thread.join();
    try testing.expect(!failed);
    try testing.expectEqual(@as(u32, 1), hook_calls.load(.seq_cst));
    try testing.expect(!hook_saw_registered.load(.seq_cst));
    thread = try std.Thread.spawn(.{}, Registering.run, .{ 0, &failed });
    thread.join();
    try testing.expectEqual(@as(u32, 1), hook_calls.load(.seq_cst));
    var threads: [4]std.Thread = undefined;
    for (&threads) |*t| t.* = try std.Thread.spawn(.{}, Registering.run, .{ 1, &failed });
    for (threads) |t| t.join();
    try testing.expect(!failed);
    try testing.expectEqual(@as(u32, 5), hook_calls.load(.seq_cst));
}
