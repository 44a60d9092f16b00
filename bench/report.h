#ifndef DEADLINE_BENCH_REPORT_H_
#define DEADLINE_BENCH_REPORT_H_

#include <string>
#include <vector>

#include "bench/section.h"

namespace deadline::bench {

// Where and when the figures were measured.
struct RunInfo {
  std::string date;     // "2026-11-23 06:30 UTC"
  std::string machine;  // "2 cores, AMD EPYC, Linux 6.1, 24 GiB"
  std::string build;    // "bazel -c opt"
  bool quick = false;
};

// A markdown report: the machine and date, then per benchmark a table of
// metric, value, floor and verdict, and the analysis.
std::string ToMarkdown(const RunInfo& info,
                       const std::vector<Section>& sections);

// The same as JSON, with the raw figures.
std::string ToJson(const RunInfo& info, const std::vector<Section>& sections);

// Cumulative distributions of every section's latencies, one panel per
// section, as an SVG image.
std::string PlotDistributions(const RunInfo& info,
                              const std::vector<Section>& sections);

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_REPORT_H_
