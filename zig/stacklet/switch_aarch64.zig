//! Register switch for aarch64 (AAPCS64: Linux, macOS), as inline asm that `stacklet.zig` places
//! inside its switching functions, plus the entry onto a dedicated stack region. x18 is never
//! touched: it is the platform register on macOS and Windows, a scratch register on Linux.

const std = @import("std");
const builtin = @import("builtin");

/// Switches stacklets from inside the calling function; same contract as the x86_64 versions.
/// Every register but sp and x29 is declared clobbered (x19-x28 and d8-d15 included), so the
/// compiler spills the live ones into the saved slice. The asm pushes x29 and the resume address
/// (sp is always 16-byte aligned here) and calls `step(sp, thread)`; x19 keeps `thread` across the
/// call. On a switch the target's two words send it to its own resume label, where this returns 1.
/// `Thread` is stacklet.zig's (passed in so that this file does not import it back); the asm
/// reads its `restore_source` and `restore_size` fields.
pub inline fn switchStack(comptime Thread: type, step: *const fn (stack_pointer: usize, thread: *Thread) callconv(.c) usize, thread: *Thread) usize {
    return asm volatile (
        \\ adr x10, 1f
        \\ stp x29, x10, [sp, #-16]!
        \\ mov x19, x1
        \\ mov x0, sp
        \\ blr x2
        \\ cbz x0, 2f
        \\ mov sp, x0
        \\ ldr x1, [x19, %[source_offset]]
        \\ ldr x2, [x19, %[size_offset]]
        \\ mov x3, #0
        \\ tbz x2, #4, 5f
        \\ ldr q0, [x1]
        \\ str q0, [x0]
        \\ mov x3, #16
        \\5:
        \\ cmp x3, x2
        \\ b.hs 4f
        \\3:
        \\ add x4, x1, x3
        \\ add x5, x0, x3
        \\ ldp q0, q1, [x4]
        \\ stp q0, q1, [x5]
        \\ add x3, x3, #32
        \\ cmp x3, x2
        \\ b.lo 3b
        \\4:
        \\ ldp x29, x10, [sp], #16
        \\ mov x0, #1
        \\ br x10
        \\2:
        \\ add sp, sp, #16
        \\1:
        : [resumed] "={x0}" (-> usize),
        : [step] "{x2}" (step),
          [thread] "{x1}" (thread),
          [source_offset] "i" (@offsetOf(Thread, "restore_source")),
          [size_offset] "i" (@offsetOf(Thread, "restore_size")),
        : clobbers);
}

/// Every register but sp and x29, which the switch keeps itself (and x18 where it is the platform
/// register): what an asm block that switches stacklets (or calls code that may) clobbers.
pub const clobbers: std.lang.assembly.Clobbers = .{ .x1 = true, .x2 = true, .x3 = true, .x4 = true, .x5 = true, .x6 = true, .x7 = true, .x8 = true, .x9 = true, .x10 = true, .x11 = true, .x12 = true, .x13 = true, .x14 = true, .x15 = true, .x16 = true, .x17 = true, .x18 = builtin.os.tag != .macos, .x19 = true, .x20 = true, .x21 = true, .x22 = true, .x23 = true, .x24 = true, .x25 = true, .x26 = true, .x27 = true, .x28 = true, .lr = true, .v0 = true, .v1 = true, .v2 = true, .v3 = true, .v4 = true, .v5 = true, .v6 = true, .v7 = true, .v8 = true, .v9 = true, .v10 = true, .v11 = true, .v12 = true, .v13 = true, .v14 = true, .v15 = true, .v16 = true, .v17 = true, .v18 = true, .v19 = true, .v20 = true, .v21 = true, .v22 = true, .v23 = true, .v24 = true, .v25 = true, .v26 = true, .v27 = true, .v28 = true, .v29 = true, .v30 = true, .v31 = true, .nzcv = true, .memory = true };

/// `runOnStack(func, arg, top, bottom) callconv(.c) void`: calls `func(arg)` with the stack pointer
/// at `top` (16-byte aligned), then returns on the caller's stack through x29, which func preserves.
/// No per-thread stack bookkeeping is needed, so `bottom` goes unused.
pub fn runOnStack() callconv(.naked) void {
    asm volatile (
        \\ stp x29, x30, [sp, #-16]!
        \\ mov x29, sp
        \\ mov sp, x2
        \\ mov x3, x0
        \\ mov x0, x1
        \\ blr x3
        \\ mov sp, x29
        \\ ldp x29, x30, [sp], #16
        \\ ret
    );
}
