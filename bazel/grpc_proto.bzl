"""cc_grpc_proto_library: a .proto file as a C++ library with gRPC stubs.

Offline replacement for proto_library + cc_grpc_library: runs the system's
protoc with the system's grpc_cpp_plugin in a genrule. The generated headers
are included by their workspace path, e.g. "proto/deadline.grpc.pb.h"; the
GoogleMock stubs are in "<name>_mock.grpc.pb.h".
"""

load("@rules_cc//cc:defs.bzl", "cc_library")

def cc_grpc_proto_library(name, src, messages_name, deps = [], visibility = None):
    """Generates and compiles messages, services and mock stubs for `src`.

    Args:
      name: the cc_library with the services and mock stubs (and, through
        its deps, the messages).
      src: one .proto file in this package.
      messages_name: the cc_library with the messages alone, which needs
        Protobuf but not gRPC.
      deps: other cc_grpc_proto_library targets that `src` imports.
      visibility: both cc_libraries' visibility.
    """
    base = src[:-len(".proto")]
    outs = [
        base + ".pb.h",
        base + ".pb.cc",
        base + ".grpc.pb.h",
        base + ".grpc.pb.cc",
        base + "_mock.grpc.pb.h",
    ]
    native.genrule(
        name = name + "_codegen",
        srcs = [src],
        outs = outs,
        cmd = " ".join([
            "/usr/bin/protoc",
            "-I.",
            "-I/usr/include",
            "--cpp_out=$(GENDIR)",
            "--grpc_out=generate_mock_code=true:$(GENDIR)",
            "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin",
            "$(location %s)" % src,
        ]),
    )
    cc_library(
        name = messages_name,
        srcs = [base + ".pb.cc"],
        hdrs = [base + ".pb.h"],
        deps = deps + ["@system//:protobuf"],
        visibility = visibility,
    )
    cc_library(
        name = name,
        srcs = [base + ".grpc.pb.cc"],
        hdrs = [base + ".grpc.pb.h", base + "_mock.grpc.pb.h"],
        deps = deps + [":" + messages_name, "@system//:grpc"],
        visibility = visibility,
    )
