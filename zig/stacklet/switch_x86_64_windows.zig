//! Register switch for x86_64 Windows: saves the Windows x64 callee-saved registers (rbx, rbp, rdi,
//! rsi, r12-r15, xmm6-xmm15) around the stack copy of `stacklet.zig`, and enters a dedicated stack
//! region with the thread's TIB stack bounds pointing at it. Only this file knows the Windows x64 ABI.

const std = @import("std");
const stacklet = @import("stacklet.zig");

/// `switchStack(step, thread) callconv(.c) usize`, called through a pointer cast because a naked
/// function cannot be called directly.
///
/// Same contract as the System V version: `step(sp, thread)` returns zero (no switch) or the
/// target's stack pointer, then the thread's `restore_size` bytes at `restore_source` are copied
/// there and 1 is returned in the target. The frame keeps 32 bytes of shadow space for the call.
/// The TIB stack bounds stay as they are: all stacklets of a thread live on one stack.
pub fn switchStack() callconv(.naked) void {
    asm volatile (
        \\ pushq %%rbp
        \\ movq %%rsp, %%rbp
        \\ pushq %%rbx
        \\ pushq %%rdi
        \\ pushq %%rsi
        \\ pushq %%r12
        \\ pushq %%r13
        \\ pushq %%r14
        \\ pushq %%r15
        \\ subq $200, %%rsp
        \\ movaps %%xmm6, 32(%%rsp)
        \\ movaps %%xmm7, 48(%%rsp)
        \\ movaps %%xmm8, 64(%%rsp)
        \\ movaps %%xmm9, 80(%%rsp)
        \\ movaps %%xmm10, 96(%%rsp)
        \\ movaps %%xmm11, 112(%%rsp)
        \\ movaps %%xmm12, 128(%%rsp)
        \\ movaps %%xmm13, 144(%%rsp)
        \\ movaps %%xmm14, 160(%%rsp)
        \\ movaps %%xmm15, 176(%%rsp)
        \\ movq %%rdx, %%r13
        \\ movq %%rcx, %%rax
        \\ movq %%rsp, %%rcx
        \\ callq *%%rax
        \\ testq %%rax, %%rax
        \\ jz 3f
        \\ movq %%rax, %%rsp
        \\ leaq 256(%%rax), %%rbp
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
        \\ movaps 32(%%rsp), %%xmm6
        \\ movaps 48(%%rsp), %%xmm7
        \\ movaps 64(%%rsp), %%xmm8
        \\ movaps 80(%%rsp), %%xmm9
        \\ movaps 96(%%rsp), %%xmm10
        \\ movaps 112(%%rsp), %%xmm11
        \\ movaps 128(%%rsp), %%xmm12
        \\ movaps 144(%%rsp), %%xmm13
        \\ movaps 160(%%rsp), %%xmm14
        \\ movaps 176(%%rsp), %%xmm15
        \\ addq $200, %%rsp
        \\ popq %%r15
        \\ popq %%r14
        \\ popq %%r13
        \\ popq %%r12
        \\ popq %%rsi
        \\ popq %%rdi
        \\ popq %%rbx
        \\ popq %%rbp
        \\ retq
        :
        : [source_offset] "i" (stacklet.restore_source_offset),
          [size_offset] "i" (stacklet.restore_size_offset),
    );
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

const RunOnStackFn = *const fn (func: stacklet.EntryFn, arg: ?*anyopaque, top: usize) callconv(.c) void;

/// Calls `func(arg)` on the region `[bottom, top)`. The TIB's StackBase/StackLimit describe the
/// region meanwhile, because Windows checks them (exception dispatch, stack probes of foreign code).
pub fn callOnStack(func: stacklet.EntryFn, arg: ?*anyopaque, top: usize, bottom: usize) void {
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
