"""Wraps the system's C++ libraries (gRPC, Protobuf, Abseil, GoogleTest,
prometheus-cpp) as cc_libraries.

Headers live under /usr/include, which the auto-configured toolchain already
allows; only the link flags are needed. They come from pkg-config when the
repository is set up, so the build follows whatever the packages declare.
"""

# name -> pkg-config modules whose --libs make up the library.
_LIBS = {
    "absl": [
        "absl_failure_signal_handler",
        "absl_flags",
        "absl_flags_parse",
        "absl_flags_usage",
        "absl_status",
        "absl_statusor",
        "absl_str_format",
        "absl_strings",
        "absl_synchronization",
        "absl_time",
    ],
    "grpc": ["grpc++", "protobuf"],
    "protobuf": ["protobuf"],
    "gtest": ["gtest"],
    "gtest_main": ["gtest_main"],
    "gmock": ["gmock"],
    "benchmark": ["benchmark"],
    # prometheus-cpp: metric families (core) and the HTTP exposer (pull).
    "prometheus": ["prometheus-cpp-pull", "prometheus-cpp-core"],
}

# Libraries without a pkg-config file.
_EXTRA_LINKOPTS = {
    "grpc": ["-lgrpc++_reflection"],
}

def _pkg_config_libs(ctx, modules):
    result = ctx.execute(["pkg-config", "--libs"] + modules)
    if result.return_code != 0:
        fail("pkg-config --libs %s failed (is the package installed? see README.md): %s" %
             (" ".join(modules), result.stderr))
    return [flag for flag in result.stdout.strip().split(" ") if flag]

def _system_libs_impl(ctx):
    build = ['package(default_visibility = ["//visibility:public"])\n']
    for name, modules in _LIBS.items():
        linkopts = _pkg_config_libs(ctx, modules) + _EXTRA_LINKOPTS.get(name, [])
        build.append("cc_library(\n    name = %r,\n    linkopts = %r,\n)\n" % (name, linkopts))
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    ctx.file("BUILD", "\n".join(build))

system_libs = repository_rule(
    implementation = _system_libs_impl,
    local = True,
    doc = "cc_libraries for the system's gRPC, Protobuf, Abseil, GoogleTest and prometheus-cpp.",
)
