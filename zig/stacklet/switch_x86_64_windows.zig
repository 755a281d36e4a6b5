//! Register switch for x86_64 Windows, as inline asm that `stacklet.zig` places inside its switching
//! functions, plus the entry onto a dedicated stack region with the thread's TIB stack bounds
//! pointing at it. Only this file knows the Windows x64 conventions.

/// The switch is System V's but for the call of `step` (the registers it uses are scratch in both ABIs).
const sysv = @import("switch_x86_64_sysv.zig");

/// Switches stacklets from inside the calling function; same contract as the System V version.
/// Every register but rsp and rbp is declared clobbered (rbx, rdi, rsi, r12-r15 and xmm6-xmm15
/// included, which Windows makes callee-saved), so the compiler spills the live ones into the
/// saved slice. The call to `step` gets its 32 bytes of shadow space below the slice. Windows has
/// no red zone. The TIB stack bounds stay as they are: all stacklets of a thread share one stack.
/// `Thread` is stacklet.zig's (passed in so that this file does not import it back); the asm
/// reads its `restore_source` and `restore_size` fields.
pub inline fn switchStack(comptime Thread: type, step: *const fn (stack_pointer: usize, thread: *Thread) callconv(.c) usize, thread: *Thread) usize {
    return sysv.switchStackCalling(call_step, Thread, step, thread);
}

/// Windows x64's call of `step(sp, thread)`: arguments in rcx and rdx, and 32 bytes of shadow space.
const call_step =
    \\
    \\ movq %%rsp, %%rcx
    \\ movq %%rsi, %%rdx
    \\ subq $32, %%rsp
    \\ callq *%%rdi
    \\ addq $32, %%rsp
    \\
;

/// `runOnStack(func, arg, top, bottom) callconv(.c) void`: calls `func(arg)` with the stack pointer
/// 32 bytes (the shadow space) below `top`, then returns on the caller's stack through rbp. The
/// TIB's StackBase and StackLimit (gs:8 and gs:16) describe the region `[bottom, top)` meanwhile,
/// because Windows checks them (exception dispatch, stack probes of foreign code); the caller's
/// bounds wait below rbp.
pub fn runOnStack() callconv(.naked) void {
    asm volatile (
        \\ pushq %%rbp
        \\ movq %%rsp, %%rbp
        \\ pushq %%gs:0x8
        \\ pushq %%gs:0x10
        \\ movq %%r8, %%gs:0x8
        \\ movq %%r9, %%gs:0x10
        \\ leaq -32(%%r8), %%rsp
        \\ movq %%rcx, %%rax
        \\ movq %%rdx, %%rcx
        \\ callq *%%rax
        \\ movq -8(%%rbp), %%rax
        \\ movq %%rax, %%gs:0x8
        \\ movq -16(%%rbp), %%rax
        \\ movq %%rax, %%gs:0x10
        \\ movq %%rbp, %%rsp
        \\ popq %%rbp
        \\ retq
    );
}
