//! Builds the evergreen native library (zig/root.zig) as a shared library for Deno's FFI.
//!
//!   zig build                          host library into zig-out/lib/ (ReleaseFast)
//!   zig build -Dtarget=aarch64-linux   one cross build into zig-out/lib/aarch64-linux/
//!   zig build cross                    all five release targets into zig-out/lib/<arch>-<os>/
//!   zig build test                     every zig test (stacklets, loop, hub, exports), Debug,
//!                                      leak-checking allocator
//!   zig build test -Dtest-target=native,aarch64-linux,x86_64-windows -fqemu -fwine
//!                                      the same tests for other targets under qemu-user/wine
//!   zig build bench                    the stacklet benchmark (ReleaseFast), run once
//!
//!   -Dtest-exports=false               leave out the test-only `eg_test_*` exports
//!                                      (zig/test_exports.zig); tools/release.ts builds so.
//!                                      On by default: the Deno tests need them, and the zig
//!                                      tests always have them.
const std = @import("std");

/// The targets a release ships (issue 7 downloads them by this name).
const release_targets = [_][]const u8{
    "x86_64-linux",
    "aarch64-linux",
    "x86_64-macos",
    "aarch64-macos",
    "x86_64-windows",
};

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    const optimize = b.option(std.builtin.Optimize, "optimize", "Library optimization mode (default ReleaseFast)") orelse .fast;
    const test_optimize = b.option(std.builtin.Optimize, "test-optimize", "Test optimization mode (default Debug)") orelse .debug;
    const test_targets = b.option([]const u8, "test-target", "Comma-separated targets to run the zig tests for (default native)") orelse "native";
    const test_filter = b.option([]const u8, "test-filter", "Run only the tests whose name contains this");
    const test_exports = b.option(bool, "test-exports", "Include the test-only eg_test_* exports (default true; release builds turn them off)") orelse true;

    // The library for the requested target: the host's goes to zig-out/lib/, others to a
    // folder named after the target so a cross build never replaces the one Deno loads.
    const library_target = withLinuxGnu(b, target);
    const library = addLibrary(b, library_target, optimize, test_exports);
    const library_dir = if (target.query.isNative()) "lib" else b.fmt("lib/{s}", .{tripleName(b, target)});
    b.getInstallStep().dependOn(&installLibrary(b, library, library_dir).step);

    const cross_step = b.step("cross", "Build the library for every release target into zig-out/lib/<arch>-<os>/");
    for (release_targets) |triple| {
        const resolved = withLinuxGnu(b, b.resolveTargetQuery(parseTriple(triple)));
        const cross_library = addLibrary(b, resolved, optimize, test_exports);
        cross_step.dependOn(&installLibrary(b, cross_library, b.fmt("lib/{s}", .{triple})).step);
    }

    const test_step = b.step("test", "Run every zig test (stacklets, loop, hub, exports)");
    var names = std.mem.splitScalar(u8, test_targets, ',');
    while (names.next()) |name| {
        const query = parseTriple(std.mem.trim(u8, name, " "));
        const tests = b.addTest(.{
            .name = b.fmt("evergreen-test-{s}", .{std.mem.trim(u8, name, " ")}),
            .root_module = createModule(b, b.resolveTargetQuery(query), test_optimize, "zig/root.zig", true),
            .filters = if (test_filter) |filter| b.dupeStrings(&.{filter}) else &.{},
        });
        const run = b.addRunArtifact(tests);
        // A target with no runner here (macOS, or no -fqemu/-fwine) still compiles its tests.
        run.skip_foreign_checks = true;
        test_step.dependOn(&run.step);
    }

    const bench_step = b.step("bench", "Build and run the stacklet benchmark (ReleaseFast)");
    const bench = b.addExecutable(.{
        .name = "stacklet_bench",
        .root_module = createModule(b, b.graph.host, .fast, "zig/stacklet/bench.zig", false),
    });
    const install_bench = b.addInstallArtifact(bench, .{});
    const run_bench = b.addRunArtifact(bench);
    run_bench.step.dependOn(&install_bench.step);
    bench_step.dependOn(&run_bench.step);
}

fn addLibrary(b: *std.Build, target: std.Build.ResolvedTarget, optimize: std.builtin.Optimize, test_exports: bool) *std.Build.Step.Compile {
    return b.addLibrary(.{
        .name = "evergreen",
        .linkage = .dynamic,
        .root_module = createModule(b, target, optimize, "zig/root.zig", test_exports),
    });
}

fn createModule(
    b: *std.Build,
    target: std.Build.ResolvedTarget,
    optimize: std.builtin.Optimize,
    root: []const u8,
    test_exports: bool,
) *std.Build.Module {
    const is_windows = target.result.os.tag == .windows;
    const module = b.createModule(.{
        .root_source_file = b.path(root),
        .target = target,
        .optimize = optimize,
        // libc on POSIX (epoll/kqueue/sigaction come from it, and Deno already loads it);
        // Windows needs only ws2_32 and kernel32.
        .link_libc = !is_windows,
    });
    if (is_windows) module.linkSystemLibrary("ws2_32", .{});
    // zig/root.zig reads it as @import("build_options").test_exports.
    const options = b.addOptions();
    options.addOption(bool, "test_exports", test_exports);
    module.addOptions("build_options", options);
    return module;
}

/// Every file of one library build lands in `dir` (on Windows the DLL too, not bin/).
fn installLibrary(b: *std.Build, library: *std.Build.Step.Compile, dir: []const u8) *std.Build.Step.InstallArtifact {
    const destination: std.Build.InstallDir = if (std.mem.eql(u8, dir, "lib")) .lib else .{ .custom = dir };
    const windows_only: std.Build.Step.InstallArtifact.Options.Dir =
        if (library.rootModuleTarget().os.tag == .windows) .{ .override = destination } else .default;
    return b.addInstallArtifact(library, .{
        .dest_dir = .{ .override = destination },
        .implib_dir = windows_only,
        .pdb_dir = windows_only,
    });
}

/// Deno links glibc on Linux, so a Linux library without an explicit ABI targets glibc.
fn withLinuxGnu(b: *std.Build, target: std.Build.ResolvedTarget) std.Build.ResolvedTarget {
    if (target.result.os.tag != .linux or target.query.abi != null or target.query.isNative()) return target;
    var query = target.query;
    query.abi = .gnu;
    return b.resolveTargetQuery(query);
}

fn parseTriple(triple: []const u8) std.Target.Query {
    return std.Target.Query.parse(.{ .arch_os_abi = triple }) catch |err|
        std.debug.panic("invalid target {s}: {t}", .{ triple, err });
}

fn tripleName(b: *std.Build, target: std.Build.ResolvedTarget) []const u8 {
    return b.fmt("{t}-{t}", .{ target.result.cpu.arch, target.result.os.tag });
}
