#include "bench/call_log.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace deadline::bench {
namespace {

// steps=3/20 -> 3.
int StepsDone(absl::string_view steps) {
  int done = 0;
  const size_t slash = steps.find('/');
  return absl::SimpleAtoi(steps.substr(0, slash), &done) ? done : 0;
}

}  // namespace

absl::flat_hash_map<absl::string_view, absl::string_view> LogFields(
    absl::string_view line) {
  absl::flat_hash_map<absl::string_view, absl::string_view> fields;
  for (absl::string_view field : absl::StrSplit(line, ' ')) {
    const size_t eq = field.find('=');
    if (eq == absl::string_view::npos) continue;
    fields.emplace(field.substr(0, eq), field.substr(eq + 1));
  }
  return fields;
}

std::map<std::string, std::vector<LoggedCall>> ParseCallLog(
    absl::string_view log) {
  std::map<std::string, std::vector<LoggedCall>> calls;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (!absl::StartsWith(line, "time=")) continue;
    auto fields = LogFields(line);
    LoggedCall call;
    std::string error;
    absl::Duration elapsed;
    if (!absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", fields["time"], &call.finished,
                         &error) ||
        !absl::ParseDuration(fields["elapsed"], &elapsed)) {
      continue;
    }
    call.arrived = call.finished - elapsed;
    if (!absl::ParseDuration(fields["budget"], &call.budget)) {
      call.budget = absl::InfiniteDuration();
    }
    absl::ParseDuration(fields["stop_latency"], &call.stop_latency);
    call.code = std::string(fields["code"]);
    call.steps_done = StepsDone(fields["steps"]);
    calls[std::string(fields["request_id"])].push_back(call);
  }
  return calls;
}

}  // namespace deadline::bench
