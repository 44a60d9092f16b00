#ifndef DEADLINE_COMMON_FLAGS_H_
#define DEADLINE_COMMON_FLAGS_H_

#include <cstdint>
#include <initializer_list>
#include <string>

#include "absl/strings/string_view.h"

namespace deadline {

// A flag's size in bytes, written as a number with an optional binary
// suffix: "0", "4096", "64K", "512M", "2G" (K = 1024).
struct ByteSize {
  int64_t bytes = 0;
};
bool AbslParseFlag(absl::string_view text, ByteSize* size, std::string* error);
std::string AbslUnparseFlag(const ByteSize& size);

// Parses argv as Abseil flags (`--name=value`, `--bool_flag`, `--nobool_flag`;
// durations read as "300ms", "2s"). Unlike absl::ParseCommandLine, a bad flag
// exits with status 2, the usage-error convention:
// - `--help` prints the usage and the flags defined in `flag_files` (the
//   main's __FILE__, and any library whose flags it takes) to stdout and
//   exits 0;
// - an unknown flag, a bad value or a positional argument prints the error
//   and the usage to stderr and exits 2.
void ParseFlagsOrExit(int argc, char** argv, absl::string_view usage,
                      std::initializer_list<absl::string_view> flag_files);

// For flag values that parse but make no sense together: prints `error` and
// the usage given to ParseFlagsOrExit to stderr and exits 2.
[[noreturn]] void ExitWithUsageError(absl::string_view error);

}  // namespace deadline

#endif  // DEADLINE_COMMON_FLAGS_H_
