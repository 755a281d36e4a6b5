//! Making a descriptor nonblocking: the one call that the poll backends (kqueue.zig), the test
//! helpers (test_support.zig) and the sockets of io/ (io/sys.zig) share. On Windows the
//! descriptor is a socket and the call is Winsock's (winsock.zig).

const std = @import("std");
const builtin = @import("builtin");
const errors = @import("errors.zig");
const event = @import("event.zig");
const winsock = @import("winsock.zig");

/// Makes fd nonblocking; a descriptor that already is stays as it is.
pub fn setNonBlocking(fd: event.Fd) errors.Error!void {
    if (builtin.os.tag == .windows) return winsock.setNonBlocking(fd);
    const c = std.c;
    const flags = c.fcntl(fd, c.F.GETFL);
    if (flags < 0) return errors.fromErrno(c.errno(@as(c_int, -1)));
    const nonblock: c_int = @bitCast(@as(u32, @bitCast(c.O{ .NONBLOCK = true })));
    if (flags & nonblock != 0) return;
    if (c.fcntl(fd, c.F.SETFL, flags | nonblock) < 0) return errors.fromErrno(c.errno(@as(c_int, -1)));
}
