#ifndef DEADLINE_FUZZ_CHECK_H_
#define DEADLINE_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

// FUZZ_CHECK(condition, "format", args...): an invariant of the code under
// test. On violation prints where and why, then aborts, which libFuzzer
// reports as a crash (and the replay test as a failure). Unlike assert(),
// never compiled out.
#define FUZZ_CHECK(condition, ...)                                    \
  do {                                                                \
    if (!(condition)) {                                               \
      std::fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__, \
                   __LINE__, #condition);                             \
      std::fprintf(stderr, __VA_ARGS__);                              \
      std::fprintf(stderr, "\n");                                     \
      std::abort();                                                   \
    }                                                                 \
  } while (false)

#endif  // DEADLINE_FUZZ_CHECK_H_
