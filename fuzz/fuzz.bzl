"""fuzz_test: one libFuzzer target, replayed over its corpus in every build.

fuzz_test(name, srcs, deps, corpus) makes, from srcs that define
LLVMFuzzerTestOneInput:
  - <name>: a cc_test that runs the function over every file of the corpus
    (fuzz/replay_main.cc), with any compiler, in `bazel test //...`;
  - <name>_libfuzzer: the libFuzzer binary, buildable only with
    --config=fuzz (clang), tagged manual so `bazel build //...` skips it.
"""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_library", "cc_test")

def fuzz_test(name, srcs, deps = [], corpus = None, size = "small"):
    """Declares <name> (corpus replay test) and <name>_libfuzzer.

    Args:
      name: the target's name; its corpus is corpus/<name>/ by default.
      srcs: sources defining LLVMFuzzerTestOneInput.
      deps: what they need.
      corpus: the directory (in this package) holding the seed and
        regression inputs; every file in it is replayed.
      size: the replay test's size.
    """
    corpus = corpus or "corpus/" + name
    inputs = native.glob([corpus + "/**"])
    if not inputs:
        fail("fuzz_test %s: the corpus %s is empty" % (name, corpus))
    cc_library(
        name = name + "_target",
        testonly = True,
        srcs = srcs,
        deps = deps,
        # libFuzzer's main() is linked after the target: keep the function.
        alwayslink = True,
    )
    native.filegroup(
        name = name + "_corpus",
        testonly = True,
        srcs = inputs,
    )
    cc_test(
        name = name,
        size = size,
        args = ["$(locations :%s_corpus)" % name],
        data = [":" + name + "_corpus"],
        deps = [
            ":" + name + "_target",
            "//fuzz:replay_main",
        ],
    )
    cc_binary(
        name = name + "_libfuzzer",
        testonly = True,
        linkopts = select(
            {"//fuzz:libfuzzer": ["-fsanitize=fuzzer"]},
            no_match_error = "libFuzzer binaries need clang: build with --config=fuzz (see scripts/fuzz.sh)",
        ),
        tags = ["manual"],
        deps = [":" + name + "_target"],
    )
