#ifndef DEADLINE_TESTS_SUPPORT_PROMETHEUS_TEXT_H_
#define DEADLINE_TESTS_SUPPORT_PROMETHEUS_TEXT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace deadline::testing {

// One sample of Prometheus's text exposition format:
// name{label="value",...} value
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// The samples of `text` (comments skipped; NaN and +Inf read as such);
// INVALID_ARGUMENT naming the line that does not parse. A test's reader,
// not a validator: promtool checks the format.
absl::StatusOr<std::vector<Sample>> ParsePrometheusText(absl::string_view text);

// The value of the sample named `name` whose labels are exactly `labels`;
// nullopt when there is none.
absl::optional<double> ValueOf(
    const std::vector<Sample>& samples, absl::string_view name,
    const std::map<std::string, std::string>& labels);

// The sum of the samples named `name` whose labels include `labels`.
double SumOf(const std::vector<Sample>& samples, absl::string_view name,
             const std::map<std::string, std::string>& labels = {});

}  // namespace deadline::testing

#endif  // DEADLINE_TESTS_SUPPORT_PROMETHEUS_TEXT_H_
