#include "server/observability/call_log.h"

#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/time_util.h"

namespace deadline {
namespace {

// A logfmt value: quoted when it holds spaces, quotes or '='.
std::string Value(absl::string_view text) {
  if (!text.empty() && text.find_first_of(" \"=") == absl::string_view::npos) {
    return std::string(text);
  }
  return absl::StrCat("\"", absl::StrReplaceAll(text, {{"\"", "\\\""}}), "\"");
}

}  // namespace

absl::StatusOr<LogMode> ParseLogMode(absl::string_view text) {
  if (text == "all") return LogMode::kAll;
  if (text == "errors") return LogMode::kErrors;
  if (text == "none") return LogMode::kNone;
  return absl::InvalidArgumentError(
      absl::StrCat("--log must be all, errors or none, got '", text, "'"));
}

std::string FormatCallLog(absl::string_view method,
                          const deadline::v1::BudgetTrace& trace,
                          const deadline::v1::HopTrace& hop,
                          absl::Duration stop_latency) {
  const absl::Duration elapsed =
      FromProtoTime(hop.finished_at()) - FromProtoTime(hop.arrived_at());
  std::string line = absl::StrCat(
      "time=",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E4SZ", FromProtoTime(hop.finished_at()),
                       absl::UTCTimeZone()),
      " hop=", Value(hop.hop()), " method=", Value(method),
      " request_id=", Value(trace.request_id()), " code=", Value(hop.code()),
      " budget=",
      FormatBudgetField(hop.has_budget_at_arrival(), hop.budget_at_arrival(),
                        "none"),
      " forwarded=",
      FormatBudgetField(hop.has_forwarded(), hop.forwarded(), "none"),
      " steps=", hop.steps_done(), "/", hop.steps_requested(),
      " elapsed=", FormatBudget(elapsed),
      " stop_latency=", FormatBudget(stop_latency));
  if (hop.has_arrival_delay()) {
    absl::StrAppend(&line,
                    " arrival=", FormatBudgetField(true, hop.arrival_delay()));
  }
  if (!hop.deadline_from().empty()) {
    absl::StrAppend(&line, " deadline_from=", Value(hop.deadline_from()));
  }
  if (hop.panel() >= 0) absl::StrAppend(&line, " panel=", hop.panel());
  absl::StrAppend(&line, " stop=", Value(hop.stop()));
  return line;
}

bool Logged(LogMode mode, absl::StatusCode code) {
  return mode == LogMode::kAll ||
         (mode == LogMode::kErrors && code != absl::StatusCode::kOk);
}

void LogCall(LogMode mode, absl::string_view method,
             const deadline::v1::BudgetTrace& trace,
             const deadline::v1::HopTrace& hop, absl::Duration stop_latency) {
  if (hop.code() == "OK" ? mode != LogMode::kAll : mode == LogMode::kNone) {
    return;
  }
  const std::string line =
      absl::StrCat(FormatCallLog(method, trace, hop, stop_latency), "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace deadline
