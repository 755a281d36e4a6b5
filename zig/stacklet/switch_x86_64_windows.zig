//! Register switch for x86_64 Windows, as inline asm that `stacklet.zig` places inside its switching
//! functions, plus the entry onto a dedicated stack region with the thread's TIB stack bounds
//! pointing at it. Only this file knows the Windows x64 conventions.

const std = @import("std");
/// stacklet.zig's EntryFn (function types are structural: the same type).
const EntryFn = *const fn (arg: ?*anyopaque) callconv(.c) void;
/// The restore copy is the same code as System V's (its registers are scratch in both ABIs).
const sysv = @import("switch_x86_64_sysv.zig");

/// Switches stacklets from inside the calling function; same contract as the System V version.
/// Every register but rsp and rbp is declared clobbered (rbx, rdi, rsi, r12-r15 and xmm6-xmm15
/// included, which Windows makes callee-saved), so the compiler spills the live ones into the
/// saved slice. The call to `step` gets its 32 bytes of shadow space below the slice. Windows has
/// no red zone. The TIB stack bounds stay as they are: all stacklets of a thread share one stack.
/// `Thread` is stacklet.zig's (passed in so that this file does not import it back); the asm
/// reads its `restore_source` and `restore_size` fields.
pub inline fn switchStack(comptime Thread: type, step: *const fn (stack_pointer: usize, thread: *Thread) callconv(.c) usize, thread: *Thread) usize {
    return asm volatile (
        \\ movq %%rsp, %%rcx
        \\ andq $-16, %%rsp
        \\ pushq %%rcx
        \\ pushq %%rbp
        \\ leaq 1f(%%rip), %%rax
        \\ pushq %%rax
        \\ subq $8, %%rsp
        \\ movq %%rsi, %%r12
        \\ movq %%rsp, %%rcx
        \\ movq %%rsi, %%rdx
        \\ subq $32, %%rsp
        \\ callq *%%rdi
        \\ addq $32, %%rsp
        \\ testq %%rax, %%rax
        \\ jz 2f
        \\ movq %%rax, %%rsp
        \\ movq %[source_offset:c](%%r12), %%rsi
        \\ movq %[size_offset:c](%%r12), %%rcx
        \\ xorl %%edx, %%edx
        \\ testq $16, %%rcx
        \\ jz 5f
    ++ sysv.copy_single ++
        \\ movl $16, %%edx
        \\5:
        \\ cmpq %%rcx, %%rdx
        \\ jae 4f
        \\3:
    ++ sysv.copy_pair ++
        \\ addq $32, %%rdx
        \\ cmpq %%rcx, %%rdx
        \\ jb 3b
    ++ sysv.copy_done ++
        \\4:
        \\ movq 8(%%rsp), %%rcx
        \\ movq 16(%%rsp), %%rbp
        \\ movq 24(%%rsp), %%rsp
        \\ movl $1, %%eax
        \\ jmpq *%%rcx
        \\2:
        \\ movq 24(%%rsp), %%rsp
        \\1:
        : [resumed] "={rax}" (-> usize),
        : [step] "{rdi}" (step),
          [thread] "{rsi}" (thread),
          [source_offset] "i" (@offsetOf(Thread, "restore_source")),
          [size_offset] "i" (@offsetOf(Thread, "restore_size")),
        : .{ .rbx = true, .rcx = true, .rdx = true, .rsi = true, .rdi = true, .r8 = true, .r9 = true, .r10 = true, .r11 = true, .r12 = true, .r13 = true, .r14 = true, .r15 = true, .xmm0 = true, .xmm1 = true, .xmm2 = true, .xmm3 = true, .xmm4 = true, .xmm5 = true, .xmm6 = true, .xmm7 = true, .xmm8 = true, .xmm9 = true, .xmm10 = true, .xmm11 = true, .xmm12 = true, .xmm13 = true, .xmm14 = true, .xmm15 = true, .memory = true, .flags = true });
}

/// `runOnStack(func, arg, top) callconv(.c) void`: calls `func(arg)` with the stack pointer 32
/// bytes (the shadow space) below `top`, then returns on the caller's stack through rbp.
fn runOnStack() callconv(.naked) void {
    asm volatile (
        \\ pushq %%rbp
        \\ movq %%rsp, %%rbp
        \\ leaq -32(%%r8), %%rsp
        \\ movq %%rcx, %%rax
        \\ movq %%rdx, %%rcx
        \\ callq *%%rax
        \\ movq %%rbp, %%rsp
        \\ popq %%rbp
        \\ retq
    );
}

const RunOnStackFn = *const fn (func: EntryFn, arg: ?*anyopaque, top: usize) callconv(.c) void;

/// Calls `func(arg)` on the region `[bottom, top)`. The TIB's StackBase/StackLimit describe the
/// region meanwhile, because Windows checks them (exception dispatch, stack probes of foreign code).
pub fn callOnStack(func: EntryFn, arg: ?*anyopaque, top: usize, bottom: usize) void {
    const run_on_stack: RunOnStackFn = @ptrCast(&runOnStack);
    const tib = &std.os.windows.teb().NtTib;
    const base_before = tib.StackBase;
    const limit_before = tib.StackLimit;
    tib.StackBase = @ptrFromInt(top);
    tib.StackLimit = @ptrFromInt(bottom);
    run_on_stack(func, arg, top);
    tib.StackBase = base_before;
    tib.StackLimit = limit_before;
}
