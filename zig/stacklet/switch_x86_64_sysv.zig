//! Register switch for x86_64 System V (Linux, macOS, BSD): saves the callee-saved registers on the
//! stack, lets `stacklet.zig` decide what to copy, moves the stack pointer and copies the target's
//! saved slice back; plus the entry onto a dedicated stack region. Only this file knows System V.

const stacklet = @import("stacklet.zig");

/// `switchStack(step, thread) callconv(.c) usize`, called through a pointer cast because a naked
/// function cannot be called directly.
///
/// Pushes rbp, rbx, r12-r15 and calls `step(sp, thread)`. A zero result returns zero at once, with
/// the stack untouched. Otherwise the result is the stack pointer of the stacklet to resume: the
/// stack pointer moves there, the `restore_size` bytes at `restore_source` (fields of the thread)
/// are copied to it in 16-byte blocks, the pops load the target's registers and `ret` returns 1
/// into the target's own call of this function. MXCSR and the x87 control word are per thread.
pub fn switchStack() callconv(.naked) void {
    asm volatile (
        \\ pushq %%rbp
        \\ movq %%rsp, %%rbp
        \\ pushq %%rbx
        \\ pushq %%r12
        \\ pushq %%r13
        \\ pushq %%r14
        \\ pushq %%r15
        \\ subq $8, %%rsp
        \\ movq %%rsi, %%r13
        \\ movq %%rdi, %%rax
        \\ movq %%rsp, %%rdi
        \\ callq *%%rax
        \\ testq %%rax, %%rax
        \\ jz 3f
        \\ movq %%rax, %%rsp
        \\ leaq 48(%%rax), %%rbp
        \\ movq %[source_offset:c](%%r13), %%rsi
        \\ movq %[size_offset:c](%%r13), %%rcx
        \\ xorl %%edx, %%edx
        \\ testq %%rcx, %%rcx
        \\ jz 2f
        \\1:
        \\ movq (%%rsi,%%rdx), %%r8
        \\ movq 8(%%rsi,%%rdx), %%r9
        \\ movq %%r8, (%%rax,%%rdx)
        \\ movq %%r9, 8(%%rax,%%rdx)
        \\ addq $16, %%rdx
        \\ cmpq %%rcx, %%rdx
        \\ jb 1b
        \\2:
        \\ movl $1, %%eax
        \\3:
        \\ addq $8, %%rsp
        \\ popq %%r15
        \\ popq %%r14
        \\ popq %%r13
        \\ popq %%r12
        \\ popq %%rbx
        \\ popq %%rbp
        \\ retq
        :
        : [source_offset] "i" (stacklet.restore_source_offset),
          [size_offset] "i" (stacklet.restore_size_offset),
    );
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
