#ifndef DEADLINE_BENCH_ROWS_H_
#define DEADLINE_BENCH_ROWS_H_

// Builders for a Section's rows, and the value formats the benchmarks share.

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "bench/section.h"

namespace deadline::bench {

// The median of the values that are numbers; NaN if there are none.
inline double Median(std::vector<double> values) {
  values.erase(std::remove_if(values.begin(), values.end(),
                              [](double v) { return std::isnan(v); }),
               values.end());
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// a[r] / b[r] for every round r the two share.
inline std::vector<double> Ratios(const std::vector<double>& a,
                                  const std::vector<double>& b) {
  std::vector<double> ratios;
  for (size_t r = 0; r < a.size() && r < b.size(); ++r) {
    ratios.push_back(a[r] / b[r]);
  }
  return ratios;
}

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

// For a section that runs the real binaries: true, with a row naming
// `what` as skipped, when there is no --bin_dir to find them in.
inline bool SkippedWithoutBinaries(const Config& config, Section& section,
                                   const std::string& what) {
  if (!config.bin_dir.empty()) return false;
  section.rows.push_back(Info(what, "skipped (no --bin_dir)"));
  return true;
}

// p50 / p99 / min / max of a distribution in one cell.
inline std::string Spread(const Summary& s) {
  return absl::StrFormat("p50 %s, p99 %s (min %s, max %s, n=%d)", Ms(s.p50),
                         Ms(s.p99), Ms(s.min), Ms(s.max), s.count);
}

// The same figures in the section's JSON, under `prefix`.
inline void AddFigures(Section& section, const std::string& prefix,
                       const Summary& s) {
  section.figures[prefix + ".p50_us"] = s.p50;
  section.figures[prefix + ".p99_us"] = s.p99;
  section.figures[prefix + ".min_us"] = s.min;
  section.figures[prefix + ".max_us"] = s.max;
  section.figures[prefix + ".count"] = s.count;
}

// The machine's 1-minute load average (runnable processes, all users), or
// -1: these benchmarks share two cores with whatever else runs.
inline double LoadAverage() {
  std::ifstream file("/proc/loadavg");
  double load = -1;
  file >> load;
  return file ? load : -1;
}

// The load before and after a section, as its last row.
inline Row LoadRow(double before, double after) {
  return Info("machine load (1-minute average) before, after",
              absl::StrFormat("%.2f, %.2f on %u cores", before, after,
                              std::thread::hardware_concurrency()));
}

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_ROWS_H_
