#ifndef DEADLINE_BENCH_ROWS_H_
#define DEADLINE_BENCH_ROWS_H_

// Builders for a Section's rows, and the value formats the benchmarks share.

#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "bench/benchmarks.h"

namespace deadline::bench {

// Microseconds shown as "0.412 ms".
inline std::string Ms(double micros) {
  return absl::StrFormat("%.3f ms", micros / 1000);
}
// A ratio shown as "1.07x".
inline std::string X(double ratio) { return absl::StrFormat("%.2fx", ratio); }
// A fraction shown as "93.5%".
inline std::string Pct(double fraction) {
  return absl::StrFormat("%.1f%%", 100 * fraction);
}

// A row held to value <= limit. `shown` is the value as the table shows it,
// `floor` the limit in words.
inline Row AtMost(std::string metric, double value, double limit,
                  std::string shown, std::string floor) {
  return {std::move(metric), std::move(shown), std::move(floor),
          value <= limit ? Verdict::kMet : Verdict::kMissed};
}

// A row held to value >= limit (a NaN value misses).
inline Row AtLeast(std::string metric, double value, double limit,
                   std::string shown, std::string floor) {
  return {std::move(metric), std::move(shown), std::move(floor),
          value >= limit ? Verdict::kMet : Verdict::kMissed};
}

// A row held to nothing: context for the reader.
inline Row Info(std::string metric, std::string value) {
  return {std::move(metric), std::move(value), "", Verdict::kNone};
}

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_ROWS_H_
