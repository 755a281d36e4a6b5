//! The standard streams as streams of their own (evergreen's StdinStream/StdoutStream/
//! StderrStream): each gets a descriptor of its own for fd 0, 1 or 2, chosen by what the fd
//! is, so that its nonblocking flag never leaks to the processes sharing it where that can be
//! avoided. A terminal is reopened (tty.zig); a pipe is reopened through /proc on Linux (a new
//! open file description); a socket is duplicated. A regular file (or a device) cannot be
//! polled: input from one is copied by a thread into a socket pair whose near end is the
//! stream, and output to one is written with plain blocking writes, which a file takes whole.
//! Windows duplicates the standard handle and bridges it as pipe.zig does.

const std = @import("std");
const builtin = @import("builtin");
const descriptor = @import("../loop/descriptor.zig");
const errors = @import("../loop/errors.zig");
const event = @import("../loop/event.zig");
const kernel32 = @import("kernel32.zig");
const pipe = @import("pipe.zig");
const stream_module = @import("stream.zig");
const sys = @import("sys.zig");
const tty = @import("tty.zig");

const Stream = stream_module.Stream;

/// Bytes the input thread moves per read.
const copy_buffer_size = 64 * 1024;
const thread_stack_size = 256 * 1024;

/// Input threads that have not ended yet (tests wait for zero).
pub var threads_live = std.atomic.Value(u32).init(0);

/// A stream over fd 0 (input), 1 or 2 (output) of this process; the fd itself stays open and
/// keeps its flags.
pub fn open(gpa: std.mem.Allocator, loop_handle: u32, fd: i32, read_max: usize) errors.Error!*Stream {
    if (fd < 0 or fd > 2) return error.InvalidArgument;
    if (builtin.os.tag == .windows) return openWindows(gpa, loop_handle, fd, read_max);
    if (std.c.isatty(fd) == 1) return tty.open(gpa, loop_handle, fd, read_max);
    if (std.c.fcntl(fd, std.c.F.GETFD) < 0) return error.BadDescriptor;
    const input = fd == 0;
    if (sys.isSocket(fd)) return openDuplicate(gpa, loop_handle, fd, .socket, true, read_max);
    // What cannot seek (and is neither a terminal nor a socket) is a pipe or FIFO: pollable.
    if (std.c.lseek(fd, 0, std.c.SEEK.CUR) < 0) return openPipe(gpa, loop_handle, fd, input, read_max);
    if (input) return openInputCopy(gpa, loop_handle, fd, read_max);
    // A file takes every write whole: the stream never waits on it, so the loop never polls it.
    return openDuplicate(gpa, loop_handle, fd, .file, false, read_max);
}

fn openPipe(gpa: std.mem.Allocator, loop_handle: u32, fd: i32, input: bool, read_max: usize) errors.Error!*Stream {
    if (builtin.os.tag == .linux) {
        var path_buffer: [32]u8 = undefined;
        const path = std.fmt.bufPrintSentinel(&path_buffer, "/proc/self/fd/{d}", .{fd}, 0) catch unreachable;
        const flags: std.c.O = .{ .ACCMODE = if (input) .RDONLY else .WRONLY, .NONBLOCK = true, .CLOEXEC = true };
        const own = std.c.open(path.ptr, flags);
        if (own >= 0) {
            errdefer sys.close(own);
            return Stream.create(gpa, loop_handle, own, .file, read_max);
        }
    }
    // Elsewhere (or without /proc) the copy shares the flag with the original.
    return openDuplicate(gpa, loop_handle, fd, .file, true, read_max);
}

fn openDuplicate(gpa: std.mem.Allocator, loop_handle: u32, fd: i32, kind: stream_module.Io, nonblocking: bool, read_max: usize) errors.Error!*Stream {
    const own = std.c.fcntl(fd, std.c.F.DUPFD_CLOEXEC, @as(c_int, 3));
    if (own < 0) return sys.lastError();
    errdefer sys.close(own);
    if (nonblocking) try descriptor.setNonBlocking(own);
    if (kind == .file) sys.suppressSigpipe(own);
    return Stream.create(gpa, loop_handle, own, kind, read_max);
}

/// The near end of a socket pair as the stream; a thread reads fd's copy into the far end
/// until the input ends or the stream is closed (the far end's send fails then).
fn openInputCopy(gpa: std.mem.Allocator, loop_handle: u32, fd: i32, read_max: usize) errors.Error!*Stream {
    const source = std.c.fcntl(fd, std.c.F.DUPFD_CLOEXEC, @as(c_int, 3));
    if (source < 0) return sys.lastError();
    var source_owned = true;
    errdefer if (source_owned) sys.close(source);
    var pair: [2]std.c.fd_t = undefined;
    if (std.c.socketpair(std.c.AF.UNIX, std.c.SOCK.STREAM, 0, &pair) != 0) return sys.lastError();
    var far_owned = true;
    errdefer if (far_owned) sys.close(pair[1]);
    errdefer sys.close(pair[0]);
    for (pair) |end| {
        if (std.c.fcntl(end, std.c.F.SETFD, @as(c_int, std.c.FD_CLOEXEC)) < 0) return sys.lastError();
    }
    try descriptor.setNonBlocking(pair[0]);
    if (@hasDecl(std.c.SO, "NOSIGPIPE")) {
        const on: c_int = 1;
        _ = std.c.setsockopt(pair[1], std.c.SOL.SOCKET, std.c.SO.NOSIGPIPE, @ptrCast(&on), @sizeOf(c_int));
    }
    const status = try stream_module.CopyStatus.create(gpa);
    const stream = Stream.create(gpa, loop_handle, pair[0], .socket, read_max) catch |err| {
        status.release();
        return err;
    };
    stream.copy_status = status;
    errdefer stream.close(null);
    _ = threads_live.fetchAdd(1, .acq_rel);
    status.retain();
    const thread = std.Thread.spawn(.{ .stack_size = thread_stack_size }, copyInput, .{ source, pair[1], status }) catch |err| {
        status.release();
        _ = threads_live.fetchSub(1, .acq_rel);
        return switch (err) {
            error.ThreadQuotaExceeded => error.WouldBlock,
            error.Unexpected => error.Unexpected,
            else => error.OutOfMemory,
        };
    };
    source_owned = false;
    far_owned = false;
    thread.detach();
    return stream;
}

fn copyInput(source: event.Fd, far: event.Fd, status: *stream_module.CopyStatus) void {
    defer _ = threads_live.fetchSub(1, .acq_rel);
    defer status.release();
    defer sys.close(source);
    defer sys.close(far);
    var buffer: [copy_buffer_size]u8 = undefined;
    var rounds: u64 = 0;
    while (rounds < std.math.maxInt(u64)) : (rounds += 1) {
        const count = std.c.read(source, &buffer, buffer.len);
        if (count < 0 and std.c._errno().* == @backingInt(std.c.E.INTR)) continue;
        // A read error (EISDIR for a directory, EIO) is the reader's error, not end of input.
        if (count < 0) status.fail(sys.lastError());
        if (count <= 0) break;
        if (!sendAll(far, buffer[0..@intCast(count)])) return;
    }
    // End of input is end of stream for the reader (or, after a failure, its error).
    _ = std.c.shutdown(far, 1);
}

fn sendAll(far: event.Fd, bytes: []const u8) bool {
    const flags: u32 = if (@hasDecl(std.c.MSG, "NOSIGNAL")) std.c.MSG.NOSIGNAL else 0;
    var sent: usize = 0;
    while (sent < bytes.len) {
        const count = std.c.send(far, bytes[sent..].ptr, bytes.len - sent, flags);
        if (count < 0 and std.c._errno().* == @backingInt(std.c.E.INTR)) continue;
        if (count <= 0) return false;
        sent += @intCast(count);
    }
    return true;
}

/// A console goes through tty.zig; any other standard handle is duplicated and bridged (the
/// bridge closes the copy, never the process's own handle).
fn openWindows(gpa: std.mem.Allocator, loop_handle: u32, fd: i32, read_max: usize) errors.Error!*Stream {
    std.debug.assert(builtin.os.tag == .windows);
    if (tty.open(gpa, loop_handle, fd, read_max)) |stream| return stream else |_| {}
    const handle = try sys.windows.handleOf(fd);
    const process = kernel32.GetCurrentProcess();
    var copy: usize = 0;
    const duplicate_same_access: u32 = 2;
    if (kernel32.DuplicateHandle(process, handle, process, &copy, 0, 0, duplicate_same_access) == 0) return kernel32.lastError();
    errdefer _ = kernel32.CloseHandle(copy);
    return pipe.open(gpa, loop_handle, @intCast(copy), read_max);
}
