//! Register switch for x86_64 System V (Linux, macOS, BSD), as inline asm that `stacklet.zig` places
//! inside its switching functions, plus the entry onto a dedicated stack region. Only this file
//! knows the System V register conventions.

const stacklet = @import("stacklet.zig");

/// Switches stacklets from inside the calling function. Every register but rsp and rbp is declared
/// clobbered, so the compiler spills exactly the live values into the frame above the stack
/// pointer, where they become part of the saved slice. The asm aligns the stack, pushes the caller's
/// stack pointer, rbp and the resume address, and calls `step(sp, thread)`. Zero returns 0 at once.
/// Otherwise the stack pointer moves to the result, the thread's `restore_size` bytes at
/// `restore_source` are copied there, and the target's three words send it to its own resume
/// label, where this returns 1.
///
/// System V lets leaf functions keep data in the 128 bytes below rsp (the red zone), which the
/// pushes would overwrite: the enclosing function must make a real call somewhere, which stops the
/// compiler from using the red zone at all.
pub inline fn switchStack(step: stacklet.StepFn, thread: *stacklet.Thread) usize {
    return asm volatile (
        \\ movq %%rsp, %%rcx
        \\ andq $-16, %%rsp
        \\ pushq %%rcx
        \\ pushq %%rbp
        \\ leaq 1f(%%rip), %%rax
        \\ pushq %%rax
        \\ subq $8, %%rsp
        \\ movq %%rsi, %%r12
        \\ movq %%rdi, %%rax
        \\ movq %%rsp, %%rdi
        \\ callq *%%rax
        \\ testq %%rax, %%rax
        \\ jz 2f
        \\ movq %%rax, %%rsp
        \\ movq %[source_offset:c](%%r12), %%rsi
        \\ movq %[size_offset:c](%%r12), %%rcx
        \\ xorl %%edx, %%edx
        \\ testq %%rcx, %%rcx
        \\ jz 4f
        \\3:
        \\ movq (%%rsi,%%rdx), %%r8
        \\ movq 8(%%rsi,%%rdx), %%r9
        \\ movq %%r8, (%%rax,%%rdx)
        \\ movq %%r9, 8(%%rax,%%rdx)
        \\ addq $16, %%rdx
        \\ cmpq %%rcx, %%rdx
        \\ jb 3b
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
          [source_offset] "i" (stacklet.restore_source_offset),
          [size_offset] "i" (stacklet.restore_size_offset),
        : .{ .rbx = true, .rcx = true, .rdx = true, .rsi = true, .rdi = true, .r8 = true, .r9 = true, .r10 = true, .r11 = true, .r12 = true, .r13 = true, .r14 = true, .r15 = true, .xmm0 = true, .xmm1 = true, .xmm2 = true, .xmm3 = true, .xmm4 = true, .xmm5 = true, .xmm6 = true, .xmm7 = true, .xmm8 = true, .xmm9 = true, .xmm10 = true, .xmm11 = true, .xmm12 = true, .xmm13 = true, .xmm14 = true, .xmm15 = true, .memory = true, .flags = true });
}

/// `runOnStack(func, arg, top) callconv(.c) void`: calls `func(arg)` with the stack pointer at `top`
/// (16-byte aligned), then returns on the caller's stack. rbp keeps the caller's stack pointer
/// because func must preserve it, and it chains func's frame to the caller's for unwinders.
fn runOnStack() callconv(.naked) void {
    asm volatile (
        \\ pushq %%rbp
        \\ movq %%rsp, %%rbp
        \\ movq %%rdx, %%rsp
        \\ movq %%rdi, %%rax
        \\ movq %%rsi, %%rdi
        \\ callq *%%rax
        \\ movq %%rbp, %%rsp
        \\ popq %%rbp
        \\ retq
    );
}

const RunOnStackFn = *const fn (func: stacklet.EntryFn, arg: ?*anyopaque, top: usize) callconv(.c) void;

/// Calls `func(arg)` on the region `[bottom, top)`; System V needs no per-thread stack bookkeeping.
pub fn callOnStack(func: stacklet.EntryFn, arg: ?*anyopaque, top: usize, bottom: usize) void {
    const run_on_stack: RunOnStackFn = @ptrCast(&runOnStack);
    _ = bottom;
    run_on_stack(func, arg, top);
}
