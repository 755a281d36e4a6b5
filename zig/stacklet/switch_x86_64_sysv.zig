//! Register switch for x86_64 System V (Linux, macOS, BSD), as inline asm that `stacklet.zig` places
//! inside its switching functions, plus the entry onto a dedicated stack region. Only this file
//! knows the System V register conventions.

const std = @import("std");
const builtin = @import("builtin");

/// The restore copy moves 32 bytes (rsi+rdx to rax+rdx) a step, in one register where AVX has
/// 32-byte ones: for a slice of a few hundred bytes the store count is what the copy costs. Zig's
/// own x86_64 backend (Debug builds) cannot size vector moves in asm, so it gets general registers.
const copy_pair = "\n" ++ if (builtin.zig_backend == .stage2_x86_64)
    \\ movq (%%rsi,%%rdx), %%r8
    \\ movq 8(%%rsi,%%rdx), %%r9
    \\ movq %%r8, (%%rax,%%rdx)
    \\ movq %%r9, 8(%%rax,%%rdx)
    \\ movq 16(%%rsi,%%rdx), %%r8
    \\ movq 24(%%rsi,%%rdx), %%r9
    \\ movq %%r8, 16(%%rax,%%rdx)
    \\ movq %%r9, 24(%%rax,%%rdx)
    \\
else if (has_avx)
    \\ vmovups (%%rsi,%%rdx), %%ymm0
    \\ vmovups %%ymm0, (%%rax,%%rdx)
    \\
else
    \\ movups (%%rsi,%%rdx), %%xmm0
    \\ movups 16(%%rsi,%%rdx), %%xmm1
    \\ movups %%xmm0, (%%rax,%%rdx)
    \\ movups %%xmm1, 16(%%rax,%%rdx)
    \\
;
/// Copies the odd 16 bytes at rsi to rax.
const copy_single = "\n" ++ if (builtin.zig_backend == .stage2_x86_64)
    \\ movq (%%rsi), %%r8
    \\ movq 8(%%rsi), %%r9
    \\ movq %%r8, (%%rax)
    \\ movq %%r9, 8(%%rax)
    \\
else if (has_avx)
    \\ vmovups (%%rsi), %%xmm0
    \\ vmovups %%xmm0, (%%rax)
    \\
else
    \\ movups (%%rsi), %%xmm0
    \\ movups %%xmm0, (%%rax)
    \\
;
/// Clears the upper halves after an AVX copy, so the resumed SSE code pays no transition penalty.
const copy_done = if (has_avx and builtin.zig_backend != .stage2_x86_64) "\n vzeroupper\n" else "\n";
const has_avx = std.Target.x86.featureSetHas(builtin.cpu.features, .avx);

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
/// `Thread` is stacklet.zig's (passed in so that this file does not import it back); the asm
/// reads its `restore_source` and `restore_size` fields.
pub inline fn switchStack(comptime Thread: type, step: *const fn (stack_pointer: usize, thread: *Thread) callconv(.c) usize, thread: *Thread) usize {
    return switchStackCalling(call_step, Thread, step, thread);
}

/// System V's call of `step(sp, thread)`: the stack pointer goes in rdi, `thread` is in rsi already.
const call_step =
    \\
    \\ movq %%rdi, %%rax
    \\ movq %%rsp, %%rdi
    \\ callq *%%rax
    \\
;

/// Every register but rsp and rbp, which the switch keeps itself: what an asm block that switches
/// stacklets (or calls code that may) clobbers, in both x86_64 ABIs.
pub const clobbers: std.lang.assembly.Clobbers = .{ .rbx = true, .rcx = true, .rdx = true, .rsi = true, .rdi = true, .r8 = true, .r9 = true, .r10 = true, .r11 = true, .r12 = true, .r13 = true, .r14 = true, .r15 = true, .xmm0 = true, .xmm1 = true, .xmm2 = true, .xmm3 = true, .xmm4 = true, .xmm5 = true, .xmm6 = true, .xmm7 = true, .xmm8 = true, .xmm9 = true, .xmm10 = true, .xmm11 = true, .xmm12 = true, .xmm13 = true, .xmm14 = true, .xmm15 = true, .memory = true, .flags = true };

/// The x86_64 switch of both ABIs: they differ only in how they call `step(sp, thread)`, which
/// `step_call` does with `step` in rdi and `thread` in rsi (and r12), leaving the result in rax.
pub inline fn switchStackCalling(comptime step_call: []const u8, comptime Thread: type, step: *const fn (stack_pointer: usize, thread: *Thread) callconv(.c) usize, thread: *Thread) usize {
    return asm volatile (
        \\ movq %%rsp, %%rcx
        \\ andq $-16, %%rsp
        \\ pushq %%rcx
        \\ pushq %%rbp
        \\ leaq 1f(%%rip), %%rax
        \\ pushq %%rax
        \\ subq $8, %%rsp
        \\ movq %%rsi, %%r12
    ++ step_call ++
        \\ testq %%rax, %%rax
        \\ jz 2f
        \\ movq %%rax, %%rsp
        \\ movq %[source_offset:c](%%r12), %%rsi
        \\ movq %[size_offset:c](%%r12), %%rcx
        \\ xorl %%edx, %%edx
        \\ testq $16, %%rcx
        \\ jz 5f
    ++ copy_single ++
        \\ movl $16, %%edx
        \\5:
        \\ cmpq %%rcx, %%rdx
        \\ jae 4f
        \\3:
    ++ copy_pair ++
        \\ addq $32, %%rdx
        \\ cmpq %%rcx, %%rdx
        \\ jb 3b
    ++ copy_done ++
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
        : clobbers);
}

/// `runOnStack(func, arg, top, bottom) callconv(.c) void`: calls `func(arg)` with the stack pointer
/// at `top` (16-byte aligned), then returns on the caller's stack. rbp keeps the caller's stack
/// pointer because func must preserve it, and it chains func's frame to the caller's for unwinders.
/// System V needs no per-thread stack bookkeeping, so `bottom` goes unused.
pub fn runOnStack() callconv(.naked) void {
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
