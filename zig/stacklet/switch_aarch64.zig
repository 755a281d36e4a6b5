//! Register switch for aarch64 (AAPCS64: Linux, macOS): saves x19-x28, the frame record (x29, x30)
//! and d8-d15 around the stack copy of `stacklet.zig`, and enters a dedicated stack region. x18 is
//! never touched: it is the platform register on macOS and Windows, a scratch register on Linux.

const stacklet = @import("stacklet.zig");

/// `switchStack(step, thread) callconv(.c) usize`, called through a pointer cast because a naked
/// function cannot be called directly.
///
/// Same contract as the x86_64 versions: `step(sp, thread)` returns zero (no switch) or the
/// target's stack pointer, then the thread's `restore_size` bytes at `restore_source` are copied
/// there and 1 is returned in the target. x19 carries `thread` across the call; after the switch
/// the loads take the target's own values. The frame record sits at the stack pointer, so x29 is
/// set to the target's record right after the stack pointer moves.
pub fn switchStack() callconv(.naked) void {
    asm volatile (
        \\ stp x29, x30, [sp, #-160]!
        \\ mov x29, sp
        \\ stp x19, x20, [sp, #16]
        \\ stp x21, x22, [sp, #32]
        \\ stp x23, x24, [sp, #48]
        \\ stp x25, x26, [sp, #64]
        \\ stp x27, x28, [sp, #80]
        \\ stp d8, d9, [sp, #96]
        \\ stp d10, d11, [sp, #112]
        \\ stp d12, d13, [sp, #128]
        \\ stp d14, d15, [sp, #144]
        \\ mov x19, x1
        \\ mov x3, x0
        \\ mov x0, sp
        \\ blr x3
        \\ cbz x0, 3f
        \\ mov sp, x0
        \\ mov x29, x0
        \\ ldr x1, [x19, %[source_offset]]
        \\ ldr x2, [x19, %[size_offset]]
        \\ mov x3, #0
        \\ cbz x2, 2f
        \\1:
        \\ ldr q0, [x1, x3]
        \\ str q0, [x0, x3]
        \\ add x3, x3, #16
        \\ cmp x3, x2
        \\ b.lo 1b
        \\2:
        \\ mov x0, #1
        \\3:
        \\ ldp x19, x20, [sp, #16]
        \\ ldp x21, x22, [sp, #32]
        \\ ldp x23, x24, [sp, #48]
        \\ ldp x25, x26, [sp, #64]
        \\ ldp x27, x28, [sp, #80]
        \\ ldp d8, d9, [sp, #96]
        \\ ldp d10, d11, [sp, #112]
        \\ ldp d12, d13, [sp, #128]
        \\ ldp d14, d15, [sp, #144]
        \\ ldp x29, x30, [sp], #160
        \\ ret
        :
        : [source_offset] "i" (stacklet.restore_source_offset),
          [size_offset] "i" (stacklet.restore_size_offset),
    );
}

/// `runOnStack(func, arg, top) callconv(.c) void`: calls `func(arg)` with the stack pointer at `top`
/// (16-byte aligned), then returns on the caller's stack through x29, which func preserves.
fn runOnStack() callconv(.naked) void {
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

const RunOnStackFn = *const fn (func: stacklet.EntryFn, arg: ?*anyopaque, top: usize) callconv(.c) void;

/// Calls `func(arg)` on the region `[bottom, top)`; no per-thread stack bookkeeping is needed.
pub fn callOnStack(func: stacklet.EntryFn, arg: ?*anyopaque, top: usize, bottom: usize) void {
    const run_on_stack: RunOnStackFn = @ptrCast(&runOnStack);
    _ = bottom;
    run_on_stack(func, arg, top);
}
