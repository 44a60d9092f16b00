#ifndef DEADLINE_BENCH_DISTRIBUTION_H_
#define DEADLINE_BENCH_DISTRIBUTION_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace deadline::bench {

// A summary of measured values (durations, in microseconds). Percentiles
// are nearest-rank: p50 of {1, 2, 3, 4} is 2.
struct Summary {
  int count = 0;
  double min = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double max = 0;
  double mean = 0;
};

// Collects samples; not thread-safe (guard it).
class Distribution {
 public:
  explicit Distribution(std::string name = "") : name_(std::move(name)) {}

  void Add(absl::Duration d) {
    samples_.push_back(absl::ToDoubleMicroseconds(d));
  }

  const std::string& name() const { return name_; }
  const std::vector<double>& samples() const { return samples_; }
  bool empty() const { return samples_.empty(); }

  // The value below which `q` (0 to 1) of the samples fall; 0 when empty.
  double Percentile(double q) const;
  Summary Summarize() const;

 private:
  std::string name_;
  std::vector<double> samples_;
};

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_DISTRIBUTION_H_
