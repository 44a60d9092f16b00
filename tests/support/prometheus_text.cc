#include "tests/support/prometheus_text.h"

#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace deadline::testing {
namespace {

absl::Status Malformed(absl::string_view line) {
  return absl::InvalidArgumentError(
      absl::StrCat("not a sample line: \"", line, "\""));
}

// Reads `{a="x",b="y"}` at the start of `rest`, leaving `rest` after it.
bool ParseLabels(absl::string_view& rest,
                 std::map<std::string, std::string>& labels) {
  rest.remove_prefix(1);  // '{'
  while (true) {
    rest = absl::StripLeadingAsciiWhitespace(rest);
    if (!rest.empty() && rest.front() == ',') rest.remove_prefix(1);
    if (!rest.empty() && rest.front() == '}') {
      rest.remove_prefix(1);
      return true;
    }
    const size_t equals = rest.find('=');
    if (equals == absl::string_view::npos || equals + 1 >= rest.size() ||
        rest[equals + 1] != '"') {
      return false;
    }
    const std::string name(absl::StripAsciiWhitespace(rest.substr(0, equals)));
    rest.remove_prefix(equals + 2);
    std::string value;
    while (true) {
      if (rest.empty()) return false;
      const char c = rest.front();
      rest.remove_prefix(1);
      if (c == '"') break;
      if (c == '\\' && !rest.empty()) {
        const char escaped = rest.front();
        rest.remove_prefix(1);
        value.push_back(escaped == 'n' ? '\n' : escaped);
      } else {
        value.push_back(c);
      }
    }
    labels[name] = value;
  }
}

}  // namespace

absl::StatusOr<std::vector<Sample>> ParsePrometheusText(
    absl::string_view text) {
  std::vector<Sample> samples;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    Sample sample;
    const size_t name_end = line.find_first_of("{ ");
    if (name_end == absl::string_view::npos) return Malformed(line);
    sample.name = std::string(line.substr(0, name_end));
    absl::string_view rest = line.substr(name_end);
    if (rest.front() == '{' && !ParseLabels(rest, sample.labels)) {
      return Malformed(line);
    }
    rest = absl::StripLeadingAsciiWhitespace(rest);
    // The value, then maybe a timestamp.
    const std::string value(rest.substr(0, rest.find(' ')));
    char* end = nullptr;
    sample.value = std::strtod(value.c_str(), &end);
    if (value.empty() || end != value.c_str() + value.size()) {
      return Malformed(line);
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

absl::optional<double> ValueOf(
    const std::vector<Sample>& samples, absl::string_view name,
    const std::map<std::string, std::string>& labels) {
  for (const Sample& sample : samples) {
    if (sample.name == name && sample.labels == labels) return sample.value;
  }
  return absl::nullopt;
}

double SumOf(const std::vector<Sample>& samples, absl::string_view name,
             const std::map<std::string, std::string>& labels) {
  double sum = 0;
  for (const Sample& sample : samples) {
    if (sample.name != name) continue;
    bool match = true;
    for (const auto& [key, value] : labels) {
      const auto it = sample.labels.find(key);
      match &= it != sample.labels.end() && it->second == value;
    }
    if (match) sum += sample.value;
  }
  return sum;
}

}  // namespace deadline::testing
