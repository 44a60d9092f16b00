#include "bench/distribution.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace deadline::bench {

double Distribution::Percentile(double q) const {
  if (samples_.empty()) return 0;
  std::vector<double> sorted = samples_;
  std::sort(sorted.begin(), sorted.end());
  const double rank = std::ceil(q * static_cast<double>(sorted.size()));
  const size_t index = static_cast<size_t>(std::max(rank, 1.0)) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

Summary Distribution::Summarize() const {
  Summary s;
  s.count = static_cast<int>(samples_.size());
  if (samples_.empty()) return s;
  const auto [min, max] = std::minmax_element(samples_.begin(), samples_.end());
  s.min = *min;
  s.max = *max;
  s.p50 = Percentile(0.5);
  s.p90 = Percentile(0.9);
  s.p99 = Percentile(0.99);
  s.mean = std::accumulate(samples_.begin(), samples_.end(), 0.0) /
           static_cast<double>(samples_.size());
  return s;
}

}  // namespace deadline::bench
