#ifndef DEADLINE_COMMON_FLAGS_H_
#define DEADLINE_COMMON_FLAGS_H_

#include "absl/strings/string_view.h"

namespace deadline {

// Parses argv as Abseil flags (`--name=value`, `--bool_flag`, `--nobool_flag`;
// durations read as "300ms", "2s"). Unlike absl::ParseCommandLine, a bad flag
// exits with status 2, the usage-error convention:
// - `--help` prints the usage and the flags defined in `flags_file` (the
//   main's __FILE__) to stdout and exits 0;
// - an unknown flag, a bad value or a positional argument prints the error
//   and the usage to stderr and exits 2.
void ParseFlagsOrExit(int argc, char** argv, absl::string_view usage,
                      absl::string_view flags_file);

// For flag values that parse but make no sense together: prints `error` and
// the usage given to ParseFlagsOrExit to stderr and exits 2.
[[noreturn]] void ExitWithUsageError(absl::string_view error);

}  // namespace deadline

#endif  // DEADLINE_COMMON_FLAGS_H_
